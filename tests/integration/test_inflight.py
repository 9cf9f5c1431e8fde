"""Outbound in-flight window (`max_inflight_messages`) [MQTT-4.6]."""

import pytest

import tern_harness as h
from tern_harness import PUBLISH, PUBREC, PUBREL, PUBCOMP, ack_packet, publish_packet


def _setup(broker, raw, conf="max_inflight_messages 2", qos=1):
    br = broker(conf)
    s = raw(br)
    s.connect()
    s.subscribe("inf/t", qos=qos)
    p = raw(br)
    p.connect()
    return br, s, p


def test_window_limits_unacked_qos1(broker, raw):
    """A subscriber that never acks receives only 2 QoS 1 PUBLISHes."""
    _, s, p = _setup(broker, raw)
    for i in range(6):
        p.publish("inf/t", b"%d" % i, qos=1, pid=i + 1)
    got = [s.recv_publish(ack=False) for _ in range(2)]
    assert [m.payload for m in got] == [b"0", b"1"]
    s.no_packet(0.5)


def test_ack_opens_window_in_order(broker, raw):
    """Acking lets the rest through; everything arrives once, in order [MQTT-4.6.0-6]."""
    _, s, p = _setup(broker, raw)
    for i in range(6):
        p.publish("inf/t", b"%d" % i, qos=1, pid=i + 1)
    got = []
    while len(got) < 6:
        m = s.recv_publish(ack=False)
        got.append(m.payload)
        s.send(ack_packet(h.PUBACK, m.pid))
    assert got == [b"%d" % i for i in range(6)]
    s.no_packet(0.3)


@pytest.mark.mosquitto_differs
def test_each_ack_releases_exactly_one(broker, raw):
    """With the window full, each PUBACK lets exactly one more PUBLISH through,
    so never more than max_inflight_messages are unacknowledged.

    mosquitto 2.0.11 sends two new messages per PUBACK (seen: ack 1 -> ids 3
    and 4 sent, 3 unacknowledged with max_inflight_messages 2).
    """
    _, s, p = _setup(broker, raw)
    for i in range(6):
        p.publish("inf/t", b"%d" % i, qos=1, pid=i + 1)
    inflight = [s.recv_publish(ack=False) for _ in range(2)]
    s.no_packet(0.3)
    got = [m.payload for m in inflight]
    while len(got) < 6:
        m = inflight.pop(0)
        s.send(ack_packet(h.PUBACK, m.pid))
        nxt = s.recv_publish(ack=False)
        inflight.append(nxt)
        got.append(nxt.payload)
        s.no_packet(0.2)
    assert got == [b"%d" % i for i in range(6)]


def test_window_applies_to_qos2(broker, raw):
    """QoS 2 messages count until PUBCOMP."""
    _, s, p = _setup(broker, raw, qos=2)
    for i in range(4):
        p.publish("inf/t", b"%d" % i, qos=2, pid=i + 1)
    a = s.recv_publish(ack=False)
    b = s.recv_publish(ack=False)
    s.no_packet(0.3)
    s.send(ack_packet(PUBREC, a.pid))
    s.expect(PUBREL, pid=a.pid)
    s.send(ack_packet(PUBCOMP, a.pid))
    c = s.recv_publish(ack=False)
    assert [a.payload, b.payload, c.payload] == [b"0", b"1", b"2"]


def test_qos0_not_blocked_by_window(broker, raw):
    """QoS 0 is not in-flight: it still flows with a full QoS 1 window.

    (Spec-wise the broker may also queue it; both brokers send it.)
    """
    br = broker("max_inflight_messages 1")
    s = raw(br)
    s.connect()
    s.subscribe([("inf/q1", 1), ("inf/q0", 0)])
    p = raw(br)
    p.connect()
    p.publish("inf/q1", b"a", qos=1, pid=1)
    p.publish("inf/q1", b"b", qos=1, pid=2)
    first = s.recv_publish(ack=False)
    assert first.payload == b"a"
    p.publish("inf/q0", b"zero", qos=0)
    m = s.recv_publish(ack=False)
    assert (m.topic, m.qos) == ("inf/q0", 0)


def test_default_window_allows_many(broker, raw):
    """Without the option, at least 10 unacked QoS 1 messages are in flight
    (mosquitto's default is 20)."""
    br = broker()
    s = raw(br)
    s.connect()
    s.subscribe("inf/d", qos=1)
    p = raw(br)
    p.connect()
    p.send(b"".join(publish_packet("inf/d", b"%d" % i, qos=1, pid=i + 1) for i in range(10)))
    got = [s.recv_publish(ack=False).payload for _ in range(10)]
    assert got == [b"%d" % i for i in range(10)]
