"""Retained messages [MQTT-3.3.1-5..12]."""

import tern_harness as h


def _retained(br, raw, flt, qos=1, n=1):
    c = raw(br)
    c.connect()
    c.subscribe(flt, qos=qos)
    return c, [c.recv_publish() for _ in range(n)]


def test_set_and_deliver_on_subscribe(broker, raw):
    """A retained message is sent to a new subscriber with RETAIN 1 [MQTT-3.3.1-8]."""
    br = broker()
    h.mqtt_pub(br.port, "ret/a", "v1", qos=1, retain=True)
    c, (m,) = _retained(br, raw, "ret/a")
    assert (m.topic, m.payload, m.retain, m.qos) == ("ret/a", b"v1", True, 1)
    c.no_packet(0.3)


def test_replace(broker, raw):
    """A new retained message replaces the old one on that topic [MQTT-3.3.1-5]."""
    br = broker()
    h.mqtt_pub(br.port, "ret/r", "old", retain=True)
    h.mqtt_pub(br.port, "ret/r", "new", retain=True)
    c, (m,) = _retained(br, raw, "ret/r")
    assert m.payload == b"new" and m.retain
    c.no_packet(0.3)


def test_clear_with_empty_payload(broker, raw):
    """Zero-byte retained PUBLISH removes the retained message [MQTT-3.3.1-10/11]."""
    br = broker()
    h.mqtt_pub(br.port, "ret/c", "x", retain=True)
    # Sanity: it is there.
    _retained(br, raw, "ret/c")
    h.mqtt_pub(br.port, "ret/c", null_message=True, retain=True)
    c = raw(br)
    c.connect()
    c.subscribe("ret/c", qos=1)
    c.no_packet(0.5)


def test_clear_is_forwarded_to_live_subscribers(broker, raw):
    """The zero-byte retained PUBLISH itself is delivered normally to existing
    subscribers [MQTT-3.3.1-10]."""
    br = broker()
    live = raw(br)
    live.connect()
    live.subscribe("ret/z", qos=0)
    h.mqtt_pub(br.port, "ret/z", null_message=True, retain=True)
    m = live.recv_publish()
    assert m.payload == b"" and not m.retain


def test_wildcard_subscription_gets_all_retained(broker, raw):
    br = broker()
    for t in ("rw/a", "rw/b/c", "rw/d", "other/x"):
        h.mqtt_pub(br.port, t, "v-" + t, retain=True)
    c = raw(br)
    c.connect()
    c.subscribe("rw/#", qos=0)
    got = sorted((m.topic, m.payload, m.retain) for m in
                 (c.recv_publish() for _ in range(3)))
    assert got == [("rw/a", b"v-rw/a", True), ("rw/b/c", b"v-rw/b/c", True),
                   ("rw/d", b"v-rw/d", True)]
    c.no_packet(0.3)
    c2 = raw(br)
    c2.connect()
    c2.subscribe("+/b/+", qos=0)
    assert c2.recv_publish().topic == "rw/b/c"
    c2.no_packet(0.3)


def test_live_delivery_has_retain_flag_clear(broker, raw):
    """A retained PUBLISH forwarded to an existing subscriber has RETAIN 0
    [MQTT-3.3.1-9]."""
    br = broker()
    c = raw(br)
    c.connect()
    c.subscribe("ret/live", qos=1)
    p = raw(br)
    p.connect()
    p.publish("ret/live", b"x", qos=1, pid=1, retain=True)
    m = c.recv_publish()
    assert m.payload == b"x" and not m.retain
    # A later subscriber gets it with RETAIN 1.
    _, (m2,) = _retained(br, raw, "ret/live")
    assert m2.retain


def test_retained_qos_downgraded(broker, raw):
    """Retained QoS 2 sent to a QoS 0 subscription at QoS 0, QoS 1 at QoS 1."""
    br = broker()
    p = raw(br)
    p.connect()
    p.publish("ret/q", b"x", qos=2, pid=1, retain=True)
    _, (m0,) = _retained(br, raw, "ret/q", qos=0)
    assert m0.qos == 0 and m0.retain
    _, (m1,) = _retained(br, raw, "ret/q", qos=1)
    assert m1.qos == 1 and m1.retain and m1.pid
    _, (m2,) = _retained(br, raw, "ret/q", qos=2)
    assert m2.qos == 2 and m2.retain


def test_retained_qos0_kept(broker, raw):
    """A QoS 0 retained message is kept too [MQTT-3.3.1-7]."""
    br = broker()
    h.mqtt_pub(br.port, "ret/q0", "z", qos=0, retain=True)
    _, (m,) = _retained(br, raw, "ret/q0", qos=2)
    assert m.qos == 0 and m.payload == b"z"


def test_resubscribe_sends_retained_again(broker, raw):
    """Re-subscribing with the same filter resends retained messages [MQTT-3.8.4-3]."""
    br = broker()
    h.mqtt_pub(br.port, "ret/rs", "v", retain=True)
    c, _ = _retained(br, raw, "ret/rs")
    assert c.subscribe("ret/rs", pid=2, qos=1) == [1]
    assert c.recv_publish().retain


def test_retained_with_mosquitto_sub(broker):
    br = broker()
    h.mqtt_pub(br.port, "ret/cli", "hello", qos=1, retain=True)
    got = h.mqtt_sub_collect(br.port, "ret/#", 1, qos=1)
    assert got == [("ret/cli", "hello")]
    # --retained-only style check: -R drops stale (retained) messages.
    got = h.mqtt_sub_collect(br.port, "ret/#", 1, wait=1, extra=["-R"])
    assert got == []


def test_retained_paho(broker, paho):
    br = broker()
    pub = paho(br)
    pub.publish("ret/paho", b"p", qos=2, retain=True)
    s = paho(br)
    s.subscribe("ret/+", 2)
    m = s.get()
    assert (m.topic, m.payload, m.retain, m.qos) == ("ret/paho", b"p", 1, 2)
