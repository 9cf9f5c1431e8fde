"""Acknowledged means durable for MQTT-SN publishers: PUBACK / PUBREC /
PUBCOMP to an MQTT-SN client leave only after the store committed what the
PUBLISH wrote (as for MQTT clients, gateway/persist.c), and keep the order
of the messages they answer."""

import struct

import pytest

import sn_client as sn
import svc_helpers as sh
import tern_harness as h
from test_mqttsn import snc  # noqa: F401 (fixture)

pytestmark = pytest.mark.tern_only


def sn_persistent_broker(broker, extra=""):
    port = sn.free_udp_port()
    b = broker("listener %d 127.0.0.1\nprotocol mqttsn\n%s" % (port, extra), persistence=True)
    sh.wait_gwinfo(port)
    return b, port


def test_kill9_after_sn_puback_no_loss(broker, raw, snc):
    b, port = sn_persistent_broker(broker)
    h.offline_subscriber(b, raw, "d-sub", "d/#", qos=2)
    c = snc(port, client_id="sn-durable")
    c.connect()
    tid = c.register("d/t")["topic_id"]
    for i in range(20):
        assert c.publish(tid, "%d" % i, qos=1)["rc"] == sn.RC_ACCEPTED
    c.publish(tid, "q2", qos=2)  # PUBREC and PUBCOMP after their commits too
    b.kill9()
    b.start()
    s = raw(b)
    assert s.connect("d-sub", clean=False).session_present == 1
    got = [(m.payload, m.qos) for m in s.drain()]
    assert got == [(b"%d" % i, 1) for i in range(20)] + [(b"q2", 2)]


def test_acks_keep_their_order_behind_a_commit(broker, raw, snc):
    """A QoS 1 PUBLISH with a durable destination, then one without: the
    second PUBACK may not overtake the first, which waits for the commit."""
    b, port = sn_persistent_broker(broker)
    h.offline_subscriber(b, raw, "o-sub", "o/durable", qos=2)
    c = snc(port, client_id="sn-order")
    c.connect()
    durable = c.register("o/durable")["topic_id"]
    nobody = c.register("o/nobody")["topic_id"]
    for round_ in range(5):
        m1 = c.publish_raw(durable, "d%d" % round_, qos=1)
        m2 = c.publish_raw(nobody, "n%d" % round_, qos=1)
        m3 = c.publish_raw(0x7777, "bad", qos=1)  # refused at once, still in order
        acks = [c.expect(sn.PUBACK) for _ in range(3)]
        assert [a["msg_id"] for a in acks] == [m1, m2, m3]
        assert [a["rc"] for a in acks] == [sn.RC_ACCEPTED, sn.RC_ACCEPTED,
                                           sn.RC_INVALID_TOPIC_ID]
    mid = c.publish_raw(nobody, "q2", qos=2)
    assert c.expect(sn.PUBREC)["msg_id"] == mid
    c.send(sn.PUBREL, struct.pack(">H", mid))
    assert c.expect(sn.PUBCOMP)["msg_id"] == mid
