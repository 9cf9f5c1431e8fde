"""Persistent sessions (clean session 0), offline queues, redelivery [MQTT-3.1.2-4..6, 4.4]."""

import tern_harness as h
from tern_harness import PUBLISH, PUBREC, PUBREL, PUBCOMP, ack_packet, publish_packet


def _persistent(br, raw, cid, flt=None, qos=1, expect_present=None):
    c = raw(br)
    ack = c.connect(cid, clean=False)
    if expect_present is not None:
        assert ack.session_present == expect_present
    if flt:
        c.subscribe(flt, qos=qos)
    return c


def _publisher(br, raw):
    p = raw(br)
    p.connect()
    return p


def test_subscriptions_and_qos12_queued_while_offline(broker, raw):
    """Clean 0: subscriptions survive, QoS 1/2 queued while away [MQTT-3.1.2-5]."""
    br = broker()
    c = _persistent(br, raw, "sess-a", expect_present=0)
    c.subscribe([("s/q1", 1), ("s/q2", 2)])
    c.disconnect()
    p = _publisher(br, raw)
    p.publish("s/q1", b"one", qos=1, pid=1)
    p.publish("s/q2", b"two", qos=2, pid=2)
    c = _persistent(br, raw, "sess-a", expect_present=1)
    got = [(m.topic, m.payload, m.qos) for m in (c.recv_publish(), c.recv_publish())]
    assert got == [("s/q1", b"one", 1), ("s/q2", b"two", 2)]
    # Subscriptions still active for live messages.
    p.publish("s/q1", b"live", qos=1, pid=3)
    assert c.recv_publish().payload == b"live"


def test_qos0_not_queued_offline_by_default(broker, raw):
    br = broker()
    c = _persistent(br, raw, "sess-q0", "s0/t", qos=1)
    c.disconnect()
    p = _publisher(br, raw)
    p.publish("s0/t", b"q0", qos=0)
    p.publish("s0/t", b"q1", qos=1, pid=1)
    c = _persistent(br, raw, "sess-q0", expect_present=1)
    assert [m.payload for m in c.drain(timeout=0.5)] == [b"q1"]


def test_queue_qos0_messages_option(broker, raw):
    """`queue_qos0_messages true` queues QoS 0 for offline persistent clients."""
    br = broker("queue_qos0_messages true")
    c = _persistent(br, raw, "sess-q0b", "s0b/t", qos=1)
    c.disconnect()
    p = _publisher(br, raw)
    p.publish("s0b/t", b"a", qos=0)
    p.publish("s0b/t", b"b", qos=1, pid=1)
    c = _persistent(br, raw, "sess-q0b", expect_present=1)
    got = c.drain(timeout=0.5)
    assert [(m.payload, m.qos) for m in got] == [(b"a", 0), (b"b", 1)]


def test_clean_session_discards_old_session(broker, raw):
    """Connecting with clean 1 discards the previous session [MQTT-3.1.2-6]."""
    br = broker()
    c = _persistent(br, raw, "sess-clean", "sc/t", qos=1)
    c.disconnect()
    p = _publisher(br, raw)
    p.publish("sc/t", b"queued", qos=1, pid=1)
    c = raw(br)
    ack = c.connect("sess-clean", clean=True)
    assert ack.session_present == 0
    c.no_packet(0.4)           # queued message discarded
    p.publish("sc/t", b"after", qos=1, pid=2)
    c.no_packet(0.4)           # subscription discarded
    c.disconnect()
    c = _persistent(br, raw, "sess-clean", expect_present=0)
    c.no_packet(0.3)


def test_clean_session_state_not_kept_after_disconnect(broker, raw):
    """A clean-1 session ends with the connection [MQTT-3.1.2-6]: returning with
    clean 0 finds no session and no subscriptions."""
    br = broker()
    c = raw(br)
    c.connect("sess-c1", clean=True)
    c.subscribe("c1/t", qos=1)
    c.disconnect()
    p = _publisher(br, raw)
    p.publish("c1/t", b"x", qos=1, pid=1)
    c = _persistent(br, raw, "sess-c1", expect_present=0)
    c.no_packet(0.4)


def test_unacked_qos1_resent_with_dup(broker, raw):
    """An unacknowledged QoS 1 PUBLISH is re-sent on reconnect with DUP 1 and the
    same packet id [MQTT-4.4.0-1, 3.3.1-1]."""
    br = broker()
    c = _persistent(br, raw, "sess-dup", "dup/t", qos=1)
    p = _publisher(br, raw)
    p.publish("dup/t", b"unacked", qos=1, pid=1)
    first = c.recv_publish(ack=False)
    assert first.qos == 1 and not first.dup
    c.close()                  # no PUBACK, no DISCONNECT
    c = _persistent(br, raw, "sess-dup", expect_present=1)
    again = c.expect(PUBLISH)
    assert again.dup and again.flags & 0x08
    assert (again.topic, again.payload, again.pid, again.qos) == \
        ("dup/t", b"unacked", first.pid, 1)
    c.send(ack_packet(h.PUBACK, again.pid))
    c.no_packet(0.4)


def test_unacked_qos2_publish_resent_with_dup(broker, raw):
    br = broker()
    c = _persistent(br, raw, "sess-dup2", "dup2/t", qos=2)
    p = _publisher(br, raw)
    p.publish("dup2/t", b"q2", qos=2, pid=1)
    first = c.recv_publish(ack=False)
    c.close()
    c = _persistent(br, raw, "sess-dup2", expect_present=1)
    again = c.expect(PUBLISH)
    assert again.dup and again.pid == first.pid and again.qos == 2
    c.send(ack_packet(PUBREC, again.pid))
    c.expect(PUBREL, pid=again.pid)
    c.send(ack_packet(PUBCOMP, again.pid))
    c.no_packet(0.4)


def test_pubrel_resent_after_reconnect(broker, raw):
    """PUBREC sent but PUBCOMP missing: the server re-sends PUBREL, not the
    PUBLISH [MQTT-4.4.0-1]."""
    br = broker()
    c = _persistent(br, raw, "sess-rel", "rel/t", qos=2)
    p = _publisher(br, raw)
    p.publish("rel/t", b"x", qos=2, pid=1)
    m = c.recv_publish(ack=False)
    c.send(ack_packet(PUBREC, m.pid))
    c.expect(PUBREL, pid=m.pid)
    c.close()
    c = _persistent(br, raw, "sess-rel", expect_present=1)
    rel = c.recv_packet()
    assert rel.type == PUBREL and rel.pid == m.pid, rel
    c.send(ack_packet(PUBCOMP, m.pid))
    c.no_packet(0.4)


def test_inbound_qos2_state_survives_reconnect(broker, raw):
    """A QoS 2 PUBLISH received (PUBREC sent) before the publisher dropped is
    completed by PUBREL after it reconnects; subscribers get it once."""
    br = broker()
    s = raw(br)
    s.connect()
    s.subscribe("in2/t", qos=2)
    p = _persistent(br, raw, "sess-in2")
    p.send(publish_packet("in2/t", b"once", qos=2, pid=11))
    p.expect(PUBREC, pid=11)
    p.close()
    p = _persistent(br, raw, "sess-in2", expect_present=1)
    p.send(publish_packet("in2/t", b"once", qos=2, pid=11, dup=True))
    p.expect(PUBREC, pid=11)
    p.send(ack_packet(PUBREL, 11))
    p.expect(PUBCOMP, pid=11)
    assert [m.payload for m in s.drain(timeout=0.5)] == [b"once"]


def test_max_queued_messages_limit(broker, raw):
    """`max_queued_messages 5`: an offline session keeps 5 messages; like
    mosquitto, further messages are dropped (the oldest 5 are kept, in order)."""
    br = broker("max_queued_messages 5")
    c = _persistent(br, raw, "sess-mq", "mq/t", qos=1)
    c.disconnect()
    p = _publisher(br, raw)
    for i in range(20):
        p.publish("mq/t", b"%d" % i, qos=1, pid=i + 1)
    c = _persistent(br, raw, "sess-mq", expect_present=1)
    got = [int(m.payload) for m in c.drain(timeout=0.5)]
    assert got == [0, 1, 2, 3, 4]


def test_queue_order_kept_across_reconnect(broker, raw):
    br = broker()
    c = _persistent(br, raw, "sess-ord", "ord/t", qos=1)
    c.disconnect()
    p = _publisher(br, raw)
    for i in range(50):
        p.publish("ord/t", b"%d" % i, qos=1 + i % 2, pid=i + 1)
    c = _persistent(br, raw, "sess-ord", expect_present=1)
    got = [int(m.payload) for m in c.drain(timeout=0.5)]
    assert got == list(range(50))


def test_paho_persistent_session(broker, paho):
    br = broker()
    c = paho(br, client_id="paho-sess", clean_session=False)
    assert c.session_present == 0
    c.subscribe("ps/#", 2)
    c.disconnect()
    p = paho(br)
    p.publish("ps/x", b"while-away", qos=2)
    c = paho(br, client_id="paho-sess", clean_session=False)
    assert c.session_present == 1
    m = c.get()
    assert (m.topic, m.payload, m.qos) == ("ps/x", b"while-away", 2)


def test_mosquitto_sub_persistent(broker, sub):
    """mosquitto_sub -c (clean 0) -i ID picks up what was queued."""
    br = broker()
    s = sub(br, "mc/t", qos=1, client_id="mcsub", extra=["-c"])
    s.close()
    h.mqtt_pub(br.port, "mc/t", "queued", qos=1)
    s = sub(br, "mc/t", qos=1, client_id="mcsub", extra=["-c"], wait_subscribed=False)
    assert s.wait_messages(1)[0][:3] == ("mc/t", "queued", 1)
