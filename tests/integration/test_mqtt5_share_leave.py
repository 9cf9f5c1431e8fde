"""A shared subscription member that leaves hands its messages back to the
group (MQTT 5.0 section 4.8.2; gateway/broker_share.c): QoS 1 sent and not
acknowledged, and anything queued and never sent, go to another connected
member as soon as the connection is lost, persistent member or not; a QoS 2
message once sent stays with its member [MQTT-4.8.2-4] [MQTT-4.8.2-5]; with
no other member connected, the messages wait for their member."""

import queue
import struct

import pytest

import tern_harness as h
import v5_raw as r
from test_mqtt5 import V5

SUBID = r.SUBSCRIPTION_ID

pytestmark = pytest.mark.tern_only  # a SHOULD / MAY of the spec: Tern's choice


def _member(port, cid, sub_id, qos=1, recv_max=None, expiry=0):
    props = bytes([0x11]) + struct.pack(">I", expiry) if expiry else b""
    if recv_max:
        props += bytes([0x21]) + struct.pack(">H", recv_max)
    s, _ = r.connect(port, cid, props, clean=True)
    r.subscribe(s, 1, [("$share/g/sl/#", qos)], r.sub_id_prop(sub_id))
    r.read_type(s, 9)
    return s


def _drain(client, timeout=1.0):
    got = []
    while True:
        try:
            got.append(client.get(timeout=timeout))
        except queue.Empty:
            return got


@pytest.fixture
def paho_member():
    made = []

    def make(br, sub_id, qos=1):
        c = V5(br.port)
        made.append(c)
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        import paho.mqtt.client as mqtt
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = sub_id
        done = queue.Queue()
        c.c.on_subscribe = lambda cl, u, mid, rcs, p=None: done.put(rcs)
        c.c.subscribe("$share/g/sl/#", options=mqtt.SubscribeOptions(qos=qos), properties=props)
        assert done.get(timeout=5)[0].value == qos
        return c

    yield make
    for c in made:
        try:
            c.close()
        except Exception:
            pass


@pytest.mark.parametrize("expiry", [0, 600], ids=["clean", "persistent"])
def test_unacked_and_queued_go_to_another_member(broker, paho_member, expiry):
    br = broker()
    # A takes one message at a time (Receive Maximum 1) and acknowledges
    # nothing: of its turns, one is in flight, the others wait in its queue.
    a = _member(br.port, "sl-a", 1, recv_max=1, expiry=expiry)
    b = paho_member(br, 2)
    for i in range(6):
        h.mqtt_pub(br.port, "sl/t", "m%d" % i, qos=1)
    first = r.parse_publish(*r.read_type(a, 3))
    assert r.ids_of(first["props"], SUBID) == [1]
    got_b = _drain(b)
    assert len(got_b) == 3  # round robin: the other three are A's
    a.close()  # gone without PUBACK or DISCONNECT
    moved = _drain(b, timeout=2.0)
    assert sorted(m.payload for m in got_b + moved) == [b"m%d" % i for i in range(6)]
    assert len(moved) == 3
    assert all(m.properties.SubscriptionIdentifier == [2] for m in moved)  # B's own id
    assert "handed to other members" in br.log()
    if expiry:
        # The persistent member comes back: what went to B is not sent again.
        s, _ = r.connect(br.port, "sl-a", bytes([0x11]) + struct.pack(">I", expiry),
                         clean=False, expect=0)
        try:
            first_byte, body = r.read(s, timeout=1.0)
        except OSError:
            first_byte = None
        assert first_byte is None or first_byte >> 4 != 3
        s.close()


def test_qos2_once_sent_stays_with_its_member(broker, paho_member):
    """[MQTT-4.8.2-4]: completed with the member when it reconnects; never
    handed to another member [MQTT-4.8.2-5]."""
    br = broker()
    expiry = bytes([0x11]) + struct.pack(">I", 600)
    a = _member(br.port, "sl-q2", 1, qos=2, expiry=600)
    b = paho_member(br, 2, qos=2)
    h.mqtt_pub(br.port, "sl/t", "first", qos=2)
    h.mqtt_pub(br.port, "sl/t", "second", qos=2)
    p = r.parse_publish(*r.read_type(a, 3))  # A's turn first: it joined first
    got_b = _drain(b)
    assert [m.payload for m in got_b] == [b"second"]
    a.close()  # no PUBREC
    assert _drain(b, timeout=1.0) == []
    s, _ = r.connect(br.port, "sl-q2", expiry, clean=False)
    again = r.parse_publish(*r.read_type(s, 3))
    assert (again["payload"], again["dup"], again["pid"]) == (p["payload"], True, p["pid"])
    assert r.ids_of(again["props"], SUBID) == [1]
    r.ack(s, 5, again["pid"])  # PUBREC
    r.read_type(s, 6)  # PUBREL
    r.ack(s, 7, again["pid"])  # PUBCOMP
    r.disconnect(s)
    s.close()


def test_no_other_member_messages_wait(broker):
    """Alone in the group, a persistent member that loses its connection
    gets its messages back on reconnect."""
    br = broker()
    expiry = bytes([0x11]) + struct.pack(">I", 600)
    a = _member(br.port, "sl-alone", 1, expiry=600)
    h.mqtt_pub(br.port, "sl/t", "one", qos=1)
    p = r.parse_publish(*r.read_type(a, 3))
    a.close()
    h.mqtt_pub(br.port, "sl/t", "two", qos=1)  # queued for the offline member
    s, _ = r.connect(br.port, "sl-alone", expiry, clean=False)
    p1 = r.parse_publish(*r.read_type(s, 3))
    p2 = r.parse_publish(*r.read_type(s, 3))
    assert (p1["payload"], p1["dup"], p1["pid"]) == (b"one", True, p["pid"])
    assert p2["payload"] == b"two"
    assert r.ids_of(p2["props"], SUBID) == [1]
    s.close()


def test_session_end_hands_over_what_waited(broker, paho_member):
    """Messages queued for an offline member (nobody else was connected)
    move on when its session ends: here the client comes back with Clean
    Start, which discards the old session [MQTT-3.1.2-4]."""
    br = broker()
    a = _member(br.port, "sl-end", 1, expiry=600)
    r.disconnect(a)
    a.close()
    h.wait_until(lambda: "sl-end" in br.log(), msg="disconnect logged")
    h.mqtt_pub(br.port, "sl/t", "kept", qos=1)  # only member: queued for A
    b = paho_member(br, 2)
    assert _drain(b, timeout=0.5) == []  # still A's: its session may come back
    s, _ = r.connect(br.port, "sl-end", clean=True)  # the old session ends
    got = _drain(b, timeout=2.0)
    assert [m.payload for m in got] == [b"kept"]
    assert got[0].properties.SubscriptionIdentifier == [2]
    s.close()
