"""Persistence across restarts (SIGTERM) and power loss (kill -9)."""

import pytest

import tern_harness as h
from tern_harness import PUBCOMP, PUBREC, PUBREL, ack_packet, publish_packet



def test_restart_keeps_sessions_queues_retained(broker, raw):
    """Clean shutdown and start on the same data dir: persistent session,
    its subscriptions and queued QoS 1/2 messages, and retained messages survive."""
    br = broker(persistence=True)
    h.offline_subscriber(br, raw, "p-sub", "p/#", qos=2)
    p = raw(br)
    p.connect()
    p.publish("p/q1", b"one", qos=1, pid=1)
    p.publish("p/q2", b"two", qos=2, pid=2)
    p.publish("p/ret", b"kept", qos=1, pid=3, retain=True)
    p.disconnect()
    br.restart()
    c = raw(br)
    assert c.connect("p-sub", clean=False).session_present == 1
    got = [(m.topic, m.payload, m.qos) for m in c.drain()]
    assert got == [("p/q1", b"one", 1), ("p/q2", b"two", 2), ("p/ret", b"kept", 1)]
    # subscription still there
    p = raw(br)
    p.connect()
    p.publish("p/live", b"l", qos=1, pid=4)
    assert c.recv_publish().payload == b"l"
    # retained still there for a new subscriber
    n = raw(br)
    n.connect()
    n.subscribe("p/ret", qos=1)
    m = n.recv_publish()
    assert m.payload == b"kept" and m.retain


def test_restart_without_persistence_forgets(broker, raw):
    br = broker(persistence=False)
    h.offline_subscriber(br, raw, "np-sub", "np/#")
    h.mqtt_pub(br.port, "np/r", "x", qos=1, retain=True)
    br.restart()
    c = raw(br)
    assert c.connect("np-sub", clean=False).session_present == 0
    c.subscribe("np/#", qos=1)
    c.no_packet(0.4)


@pytest.mark.tern_only
def test_kill9_after_puback_no_loss(broker, raw):
    """Acknowledged means durable: a QoS 1 message PUBACKed for an offline
    persistent session survives kill -9 (mosquitto only saves periodically)."""
    br = broker(persistence=True)
    h.offline_subscriber(br, raw, "k-sub", "k/t")
    p = raw(br)
    p.connect()
    for i in range(20):
        p.publish("k/t", b"%d" % i, qos=1, pid=i + 1)
    p.publish("k/ret", b"r", qos=1, pid=99, retain=True)
    br.kill9()
    br.start()
    c = raw(br)
    assert c.connect("k-sub", clean=False).session_present == 1
    assert [m.payload for m in c.drain()] == [b"%d" % i for i in range(20)]
    n = raw(br)
    n.connect()
    n.subscribe("k/ret", qos=1)
    assert n.recv_publish().payload == b"r"


@pytest.mark.tern_only
def test_kill9_mid_qos2_no_loss_no_duplicate(broker, raw):
    """kill -9 between PUBREC and PUBREL: after restart the publisher
    completes the flow (re-sent PUBLISH with DUP gets PUBREC, PUBREL gets
    PUBCOMP) and the offline subscriber receives the message exactly once."""
    br = broker(persistence=True)
    h.offline_subscriber(br, raw, "q2-sub", "q2/t", qos=2)
    p = raw(br)
    p.connect("q2-pub", clean=False)
    p.send(publish_packet("q2/t", b"exactly-once", qos=2, pid=42))
    p.expect(PUBREC, pid=42)
    br.kill9()
    p.close()
    br.start()
    p = raw(br)
    assert p.connect("q2-pub", clean=False).session_present == 1
    p.send(publish_packet("q2/t", b"exactly-once", qos=2, pid=42, dup=True))
    p.expect(PUBREC, pid=42)
    p.send(ack_packet(PUBREL, 42))
    p.expect(PUBCOMP, pid=42)
    c = raw(br)
    c.connect("q2-sub", clean=False)
    got = c.drain()
    assert [m.payload for m in got] == [b"exactly-once"]


@pytest.mark.tern_only
def test_kill9_outbound_qos2_resumes(broker, raw):
    """Subscriber got the PUBLISH and sent PUBREC, broker killed: after the
    restart the broker sends PUBREL (not the PUBLISH again) [MQTT-4.4.0-1]."""
    br = broker(persistence=True)
    s = raw(br)
    s.connect("o2-sub", clean=False)
    s.subscribe("o2/t", qos=2)
    p = raw(br)
    p.connect()
    p.publish("o2/t", b"x", qos=2, pid=1)
    m = s.recv_publish(ack=False)
    s.send(ack_packet(PUBREC, m.pid))
    s.expect(PUBREL, pid=m.pid)
    br.kill9()
    s.close()
    br.start()
    s = raw(br)
    assert s.connect("o2-sub", clean=False).session_present == 1
    rel = s.recv_packet()
    assert rel.type == PUBREL and rel.pid == m.pid, rel
    s.send(ack_packet(PUBCOMP, m.pid))
    s.no_packet(0.4)


def test_restart_helper_same_port(broker, raw):
    br = broker()
    port = br.port
    br.restart()
    assert br.port == port
    c = raw(br)
    c.connect()
