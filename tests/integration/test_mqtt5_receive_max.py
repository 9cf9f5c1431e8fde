"""MQTT 5 Receive Maximum announced and enforced (issue 10: "Receive
Maximum is neither announced nor enforced: 65,536 QoS 2 PUBLISHes without
PUBREL were all answered with PUBREC").

Tern announces Receive Maximum (property 0x21) = max_inflight_messages
in its CONNACK (default 20; 0 means 65535), as mosquitto 2.0.11 does (it
announces 20 by default and 10 with `max_inflight_messages 10`, checked
by hand; mosquitto answers the eleventh QoS 2 PUBLISH with PUBREC 0x97
instead of disconnecting, hence tern_only). A QoS 2
PUBLISH awaiting PUBREL counts against it; one more distinct packet id
than allowed ends the connection with DISCONNECT 0x93 (Receive Maximum
exceeded, MQTT 5.0 section 3.3.4). A DUP resend of an id awaiting PUBREL
is not a new one, and PUBREL frees its id.
"""

import pytest

import svc_helpers as sh
import tern_harness as h

pytestmark = pytest.mark.tern_only

LIMIT = 10
RECEIVE_MAXIMUM_EXCEEDED = 0x93
TOPIC = "rm/t"


@pytest.fixture
def rm_broker(broker):
    return broker("max_inflight_messages %d" % LIMIT)


def announced(br):
    c, ack = sh.v5_client(br.port, h.unique("rm-probe"))
    c.close()
    return dict(sh.connack_props(ack)).get(sh.RECEIVE_MAXIMUM)


def qos2(c, pid, dup=False):
    """Send a QoS 2 PUBLISH with packet id pid; return its PUBREC's reason."""
    c.send(sh.v5_publish_packet(TOPIC, b"m%d" % pid, qos=2, pid=pid, dup=dup))
    return sh.v5_reason(c.expect(h.PUBREC, pid=pid))


def fill(c, pids):
    for pid in pids:
        rc = qos2(c, pid)
        assert rc in (0x00, 0x10), "PUBREC reason 0x%02x for id %d" % (rc, pid)


def refused_with_0x93(c, pid):
    """QoS 2 PUBLISH pid is one too many: DISCONNECT 0x93, then closed."""
    c.send(sh.v5_publish_packet(TOPIC, b"one-too-many", qos=2, pid=pid))
    seen = c.expect_closed(timeout=2)
    types = [p.type for p in seen]
    assert h.PUBREC not in types, "id %d over the Receive Maximum got PUBREC: %r" % (pid, seen)
    disc = [p for p in seen if p.type == h.DISCONNECT]
    assert disc, "closed without DISCONNECT: %r" % seen
    assert disc[0].body[:1] == bytes([RECEIVE_MAXIMUM_EXCEEDED]), (
        "DISCONNECT reason %r, expected 0x93" % disc[0].body.hex())


def test_connack_announces_max_inflight_messages(rm_broker):
    """max_inflight_messages 10: the v5 CONNACK carries Receive Maximum 10."""
    assert announced(rm_broker) == LIMIT


def test_connack_announces_20_by_default(broker):
    """No max_inflight_messages: Receive Maximum 20 (the default)."""
    assert announced(broker()) == 20


def test_connack_receive_maximum_65535_for_unlimited(broker):
    """max_inflight_messages 0 (no limit): Receive Maximum 65535, sent or
    left out (absent means 65535, MQTT 5.0 section 3.2.2.3.3; mosquitto
    2.0.11 leaves it out). A control: the old code passes it too."""
    assert announced(broker("max_inflight_messages 0")) in (None, 65535)


def test_publish_over_receive_maximum_disconnects_0x93(rm_broker):
    """Ten QoS 2 PUBLISHes with distinct ids and no PUBREL each get PUBREC;
    the eleventh distinct id gets DISCONNECT 0x93 and the connection
    closes."""
    c, _ = sh.v5_client(rm_broker.port, "rm-over")
    try:
        fill(c, range(1, LIMIT + 1))
        refused_with_0x93(c, LIMIT + 1)
    finally:
        c.close()


def test_dup_resend_awaiting_pubrel_does_not_count(rm_broker):
    """With ten ids awaiting PUBREL, a DUP resend of one of them is
    answered with PUBREC and the connection stays open; the limit is still
    live: the next distinct id gets DISCONNECT 0x93."""
    c, _ = sh.v5_client(rm_broker.port, "rm-dup")
    try:
        fill(c, range(1, LIMIT + 1))
        assert qos2(c, 5, dup=True) in (0x00, 0x10)
        assert c.is_open(0.3), "closed after a DUP resend"
        refused_with_0x93(c, LIMIT + 1)
    finally:
        c.close()


def test_pubrel_frees_ids_for_new_publishes(rm_broker):
    """With ten ids awaiting PUBREL, PUBREL / PUBCOMP of ids 1-3 makes room
    for exactly three new ids (PUBREC each); a fourth new id gets
    DISCONNECT 0x93."""
    c, _ = sh.v5_client(rm_broker.port, "rm-rel")
    try:
        fill(c, range(1, LIMIT + 1))
        for pid in (1, 2, 3):
            c.send(h.ack_packet(h.PUBREL, pid))
            c.expect(h.PUBCOMP, pid=pid)
        fill(c, range(LIMIT + 1, LIMIT + 4))
        assert c.is_open(0.3)
        refused_with_0x93(c, LIMIT + 4)
    finally:
        c.close()
