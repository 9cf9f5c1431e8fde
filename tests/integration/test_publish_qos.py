"""PUBLISH at QoS 0/1/2, acknowledgements and QoS downgrade [MQTT-3.3, 4.3, 4.6]."""

import pytest

import tern_harness as h
from tern_harness import (PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, ack_packet,
                          publish_packet)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_clients_end_to_end(broker, sub, qos):
    """mosquitto_pub -> broker -> mosquitto_sub at each QoS."""
    br = broker()
    s = sub(br, "e2e/q%d" % qos, qos=qos)
    h.mqtt_pub(br.port, "e2e/q%d" % qos, "payload-%d" % qos, qos=qos)
    msgs = s.wait_messages(1)
    assert msgs[0][:3] == ("e2e/q%d" % qos, "payload-%d" % qos, qos)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_end_to_end(broker, paho, qos):
    br = broker()
    s = paho(br)
    assert s.subscribe("paho/+/x", qos) == (qos,)
    p = paho(br, protocol="3.1")
    p.publish("paho/a/x", b"\x00\x01binary\xff", qos=qos)
    m = s.get()
    assert (m.topic, m.payload, m.qos, m.retain) == ("paho/a/x", b"\x00\x01binary\xff", qos, 0)


@pytest.mark.parametrize("pub_qos,sub_qos", [(2, 0), (2, 1), (1, 0), (0, 2), (1, 2)])
def test_qos_is_min_of_publish_and_subscription(broker, raw, pub_qos, sub_qos):
    """Delivered QoS = min(published QoS, granted QoS) [MQTT-3.8.4-6]."""
    br = broker()
    s = raw(br)
    s.connect()
    assert s.subscribe("dg/t", qos=sub_qos) == [sub_qos]
    p = raw(br)
    p.connect()
    p.publish("dg/t", b"m", qos=pub_qos, pid=5)
    m = s.recv_publish()
    assert m.qos == min(pub_qos, sub_qos)
    assert m.payload == b"m" and not m.dup and not m.retain


def test_mosquitto_pub_qos2_to_qos0_subscriber(broker, sub):
    br = broker()
    s = sub(br, "dg2/t", qos=0)
    h.mqtt_pub(br.port, "dg2/t", "x", qos=2)
    assert s.wait_messages(1)[0][2] == 0


def test_puback_echoes_packet_id(broker, raw):
    """QoS 1: PUBACK carries the PUBLISH packet id [MQTT-4.3.2-2]."""
    br = broker()
    c = raw(br)
    c.connect()
    for pid in (1, 0x1234, 0xFFFF):
        c.send(publish_packet("ack/q1", b"x", qos=1, pid=pid))
        assert c.expect(PUBACK).raw() == bytes([0x40, 2, pid >> 8, pid & 0xFF])


def test_pubrec_pubrel_pubcomp_echo_packet_id(broker, raw):
    """QoS 2 receiver side: PUBREC id, then PUBCOMP id after PUBREL [MQTT-4.3.3-2]."""
    br = broker()
    c = raw(br)
    c.connect()
    pid = 0x0A0B
    c.send(publish_packet("ack/q2", b"x", qos=2, pid=pid))
    assert c.expect(PUBREC).raw() == b"\x50\x02\x0a\x0b"
    c.send(ack_packet(PUBREL, pid))
    assert c.expect(PUBCOMP).raw() == b"\x70\x02\x0a\x0b"


def test_qos2_outbound_flow(broker, raw):
    """QoS 2 sender side: broker PUBLISH, we PUBREC, broker PUBREL (flags 2), we PUBCOMP."""
    br = broker()
    s = raw(br)
    s.connect()
    s.subscribe("out/q2", qos=2)
    p = raw(br)
    p.connect()
    p.publish("out/q2", b"x", qos=2, pid=9)
    m = s.expect(PUBLISH)
    assert m.qos == 2 and m.pid and m.pid != 0
    s.send(ack_packet(PUBREC, m.pid))
    rel = s.expect(PUBREL)
    assert rel.raw() == bytes([0x62, 2, m.pid >> 8, m.pid & 0xFF])
    s.send(ack_packet(PUBCOMP, m.pid))
    assert s.is_open(0.3)
    s.no_packet(0.3)


def test_qos1_outbound_packet_ids_nonzero_and_distinct(broker, raw):
    """Unacknowledged in-flight messages have distinct, non-zero ids [MQTT-2.3.1-1/2]."""
    br = broker()
    s = raw(br)
    s.connect()
    s.subscribe("ids/t", qos=1)
    p = raw(br)
    p.connect()
    for i in range(5):
        p.publish("ids/t", b"%d" % i, qos=1, pid=i + 1)
    got = [s.expect(PUBLISH) for _ in range(5)]
    ids = [m.pid for m in got]
    assert 0 not in ids and len(set(ids)) == 5
    assert [m.payload for m in got] == [b"0", b"1", b"2", b"3", b"4"]


def test_qos2_duplicate_before_pubrel_delivered_once(broker, raw):
    """QoS 2 exactly once: a DUP re-send of id 7 before PUBREL is not delivered
    again [MQTT-4.3.3-2] (method B: store the id until PUBREL)."""
    br = broker()
    s = raw(br)
    s.connect()
    s.subscribe("once/t", qos=2)
    p = raw(br)
    p.connect()
    p.send(publish_packet("once/t", b"only-once", qos=2, pid=7))
    assert p.expect(PUBREC).pid == 7
    p.send(publish_packet("once/t", b"only-once", qos=2, pid=7, dup=True))
    assert p.expect(PUBREC).pid == 7
    p.send(ack_packet(PUBREL, 7))
    assert p.expect(PUBCOMP).pid == 7
    # After PUBCOMP the id is free: a new message with id 7 is a new message.
    p.publish("once/t", b"second", qos=2, pid=7)
    got = [s.recv_publish().payload]
    got.append(s.recv_publish().payload)
    assert got == [b"only-once", b"second"]
    s.no_packet(0.5)


def test_qos2_many_ids_awaiting_pubrel(broker, raw):
    """A client may leave tens of thousands of QoS 2 ids unreleased: each is
    acknowledged and remembered (the broker's table once overflowed at
    32768 ids and crashed), and a re-send of one is still a duplicate."""
    br = broker()
    s = raw(br, timeout=30)
    s.connect()
    s.subscribe("many/t", qos=0)
    p = raw(br, timeout=30)
    p.connect()
    n = 40000
    p.send(b"".join(publish_packet("many/t", b"%d" % i, qos=2, pid=i) for i in range(1, n + 1)))
    assert [p.expect(PUBREC, timeout=30).pid for _ in range(n)] == list(range(1, n + 1))
    p.send(publish_packet("many/t", b"1", qos=2, pid=1, dup=True))
    assert p.expect(PUBREC).pid == 1
    p.send(ack_packet(PUBREL, 1))
    assert p.expect(PUBCOMP).pid == 1
    got = [s.recv_publish(timeout=30).payload for _ in range(n)]
    assert got == [b"%d" % i for i in range(1, n + 1)]
    s.no_packet(0.5)  # the re-sent id 1 was not delivered again


def test_qos1_order_1000_messages(broker, raw):
    """1000 QoS 1 messages on one topic arrive in the order they were sent [MQTT-4.6.0-2]."""
    br = broker()
    s = raw(br, timeout=10)
    s.connect()
    s.subscribe("order/t", qos=1)
    p = raw(br, timeout=10)
    p.connect()
    n = 1000
    # Pipeline: send all, then collect PUBACKs.
    p.send(b"".join(publish_packet("order/t", b"%d" % i, qos=1, pid=i + 1) for i in range(n)))
    got = []
    while len(got) < n:
        m = s.recv_publish(timeout=10)
        got.append(int(m.payload))
    assert got == list(range(n))
    acks = [p.expect(PUBACK, timeout=10).pid for _ in range(n)]
    assert acks == list(range(1, n + 1))


def test_overlapping_subscriptions_single_copy_at_max_qos(broker, raw):
    """"a/#" QoS 0 and "a/b" QoS 2 from one client: one copy at QoS 2.

    [MQTT-3.3.5-1] says the server MUST deliver with the maximum QoS of all
    matching subscriptions; 3.1.1 allows one or several copies, but Tern (and
    mosquitto with allow_duplicate_messages false, the 2.0 default) sends one.
    """
    br = broker()
    s = raw(br)
    s.connect()
    assert s.subscribe([("ov/#", 0), ("ov/b", 2)]) == [0, 2]
    p = raw(br)
    p.connect()
    p.publish("ov/b", b"x", qos=2, pid=1)
    m = s.recv_publish()
    assert m.qos == 2
    s.no_packet(0.5)
    # A topic only "ov/#" matches: QoS 0.
    p.publish("ov/c", b"y", qos=2, pid=2)
    assert s.recv_publish().qos == 0


def test_resubscribe_replaces_qos(broker, raw):
    """Subscribing again to the same filter replaces the QoS [MQTT-3.8.4-3]."""
    br = broker()
    s = raw(br)
    s.connect()
    assert s.subscribe("rq/t", qos=2, pid=1) == [2]
    assert s.subscribe("rq/t", qos=0, pid=2) == [0]
    p = raw(br)
    p.connect()
    p.publish("rq/t", b"x", qos=2, pid=1)
    assert s.recv_publish().qos == 0
    s.no_packet(0.3)


def test_fan_out_to_many_subscribers(broker, raw):
    br = broker()
    subs = []
    for i in range(20):
        c = raw(br)
        c.connect()
        c.subscribe("fan/t", qos=1)
        subs.append(c)
    p = raw(br)
    p.connect()
    p.publish("fan/t", b"all", qos=1, pid=1)
    for c in subs:
        assert c.recv_publish().payload == b"all"


def test_publisher_not_subscribed_gets_nothing(broker, raw):
    br = broker()
    p = raw(br)
    p.connect()
    p.publish("nosub/t", b"x", qos=1, pid=1)
    p.no_packet(0.3)


def test_large_payload(broker, paho):
    """A 256 KiB payload (remaining length in 3 bytes) passes intact."""
    br = broker()
    s = paho(br)
    s.subscribe("big/t", 1)
    data = bytes(range(256)) * 1024
    paho(br).publish("big/t", data, qos=1)
    assert s.get(10).payload == data
