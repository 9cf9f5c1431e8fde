"""Topic names, filters, wildcards and UNSUBSCRIBE [MQTT-4.7, 3.8, 3.10]."""

import pytest

import tern_harness as h
from tern_harness import SUBACK, UNSUBACK, publish_packet, subscribe_packet


MATCH_TABLE = [
    # filter, topic, matches
    ("a/b", "a/b", True),
    ("a/b", "a/c", False),
    ("a/+", "a/b", True),
    ("a/+", "a/b/c", False),
    ("a/+", "a/", True),            # empty level matches '+'
    ("+/+", "/x", True),
    ("+", "/x", False),
    ("a/#", "a", True),             # '#' includes the parent level [MQTT-4.7.1-2]
    ("a/#", "a/b/c/d", True),
    ("a/#", "ab", False),
    ("#", "x/y/z", True),
    ("a/+/c", "a/b/c", True),
    ("a/+/c", "a/b/d", False),
    ("+/b/#", "a/b", True),
    ("A/b", "a/b", False),          # case sensitive
    ("a//b", "a//b", True),
    ("/a", "a", False),
    ("a b/ü", "a b/ü", True),       # spaces and UTF-8 are ordinary characters
]


def test_wildcard_matching_table(broker, raw):
    """Every (filter, topic) pair: one subscriber per filter; each publish must
    reach exactly the filters that match it.

    A final publish on "zz-sentinel", which every subscriber also subscribes
    to, marks the end (one publisher, QoS 1, so it is delivered after the
    others by both brokers).
    """
    br = broker()
    subs = {}
    for i, (flt, _, _) in enumerate(MATCH_TABLE):
        if flt in subs:
            continue
        c = raw(br)
        c.connect("m%d" % i)
        assert c.subscribe([(flt, 1), ("zz-sentinel", 1)]) == [1, 1]
        subs[flt] = c
    p = raw(br)
    p.connect()
    topics = sorted({t for _, t, _ in MATCH_TABLE})
    for i, t in enumerate(topics):
        p.publish(t, t.encode(), qos=1, pid=i + 1)
    p.publish("zz-sentinel", b"end", qos=1, pid=999)
    for flt, c in subs.items():
        got = []
        while True:
            m = c.recv_publish()
            if m.topic == "zz-sentinel":
                break
            got.append(m.topic)
        for f, t, want in MATCH_TABLE:
            if f == flt:
                assert (t in got) == want, \
                    "filter %r topic %r: expected match=%s, got %r" % (f, t, want, got)
        assert len(got) == len(set(got)), "duplicates for %r: %r" % (flt, got)


def test_sys_not_matched_by_leading_wildcards(broker, raw):
    """'#' and '+/...' do not match topics starting with '$' [MQTT-4.7.2-1]."""
    br = broker("sys_interval 1")
    hash_ = raw(br)
    hash_.connect()
    hash_.subscribe([("#", 0), ("+/broker/#", 0), ("+/+/+", 0)])
    direct = raw(br)
    direct.connect()
    direct.subscribe("$SYS/#", qos=0)
    m = direct.recv_publish(timeout=4)
    assert m.topic.startswith("$SYS/")
    # meanwhile the wildcard subscriber sees no $SYS messages
    h.mqtt_pub(br.port, "normal/topic", "x")
    got = hash_.recv_publish(timeout=3)
    assert got.topic == "normal/topic"
    # Wait past one more sys_interval; nothing from $SYS must arrive.
    hash_.no_packet(1.5)


def test_dollar_topic_publish_matched_by_explicit_filter(broker, raw):
    """Any '$' topic is excluded from leading wildcards, not just $SYS."""
    br = broker()
    w = raw(br)
    w.connect()
    w.subscribe([("#", 0), ("+/x", 0)])
    e = raw(br)
    e.connect()
    e.subscribe("$custom/+", qos=0)
    p = raw(br)
    p.connect()
    p.publish("$custom/x", b"d")
    assert e.recv_publish().topic == "$custom/x"
    w.no_packet(0.5)


def test_invalid_filter_rejected(broker, raw):
    """Invalid filters ("a/#/b", "a+", "#a", "a/b#") are never granted.

    3.1.1 leaves the reaction open between a SUBACK failure 0x80 for that
    filter and closing the connection (4.8); mosquitto closes, Tern answers
    0x80 (strict check in test_invalid_filter_suback_0x80). Either way the
    bad filter must not match anything and other clients are unaffected.
    """
    br = broker()
    for bad in ("a/#/b", "a+", "#a", "a/b#", "+a/b"):
        c = raw(br)
        c.connect()
        c.send(subscribe_packet(3, [(bad, 0)]), ignore_errors=True)
        try:
            p = c.recv_packet(3)
        except h.Closed:
            continue
        assert p.type == SUBACK and p.raw() == b"\x90\x03\x00\x03\x80", (bad, p)
    ok = raw(br)
    ok.connect()
    assert ok.subscribe("good/+", qos=1) == [1]


@pytest.mark.tern_only
def test_invalid_filter_suback_0x80(broker, raw):
    """Tern answers an invalid filter with SUBACK 0x80 for that entry only and
    grants the valid ones in the same SUBSCRIBE [MQTT-3.9.3-1 return codes]."""
    br = broker()
    c = raw(br)
    c.connect()
    c.send(subscribe_packet(9, [("ok/1", 1), ("a/#/b", 1), ("a+", 0), ("ok/#", 2)]))
    ack = c.expect(SUBACK)
    assert ack.pid == 9
    assert ack.granted == [1, 0x80, 0x80, 2]
    assert c.is_open(0.3)
    c.publish("ok/1", b"x", qos=1, pid=1)
    assert c.recv_publish().payload == b"x"


@pytest.mark.parametrize("topic", ["a/+", "a/#", "+", "#", "a/b+"])
def test_publish_with_wildcard_closes(broker, raw, topic):
    """A PUBLISH topic name must not contain wildcards [MQTT-3.3.2-2]: close."""
    br = broker()
    s = raw(br)
    s.connect()
    s.subscribe("#", qos=0)
    c = raw(br)
    c.connect()
    c.send(publish_packet(topic, b"x"), ignore_errors=True)
    assert c.expect_closed() == []
    s.no_packet(0.3)


def test_publish_empty_topic_closes(broker, raw):
    """A zero-length topic name is invalid [MQTT-4.7.3-1]."""
    br = broker()
    c = raw(br)
    c.connect()
    c.send(publish_packet("", b"x"), ignore_errors=True)
    assert c.expect_closed() == []


def test_subscribe_multiple_filters_granted_in_order(broker, raw):
    """SUBACK return codes are in the order of the filters [MQTT-3.8.4-5]."""
    br = broker()
    c = raw(br)
    c.connect()
    c.send(subscribe_packet(0x4242, [("m/0", 0), ("m/1", 1), ("m/2", 2), ("m/#", 1)]))
    ack = c.expect(SUBACK)
    assert ack.raw() == b"\x90\x06\x42\x42\x00\x01\x02\x01"


def test_unsubscribe_stops_delivery(broker, raw):
    """UNSUBACK echoes the packet id; no delivery afterwards [MQTT-3.10.4-4/5]."""
    br = broker()
    c = raw(br)
    c.connect()
    c.subscribe([("u/a", 1), ("u/b", 1)])
    p = raw(br)
    p.connect()
    p.publish("u/a", b"1", qos=1, pid=1)
    assert c.recv_publish().payload == b"1"
    c.send(h.unsubscribe_packet(0x1357, "u/a"))
    assert c.expect(UNSUBACK).raw() == b"\xb0\x02\x13\x57"
    p.publish("u/a", b"2", qos=1, pid=2)
    p.publish("u/b", b"3", qos=1, pid=3)
    m = c.recv_publish()
    assert (m.topic, m.payload) == ("u/b", b"3")
    c.no_packet(0.3)


def test_unsubscribe_unknown_filter_still_acked(broker, raw):
    """UNSUBACK even when nothing matched [MQTT-3.10.4-5]."""
    br = broker()
    c = raw(br)
    c.connect()
    c.send(h.unsubscribe_packet(77, ["never/subscribed", "x/#"]))
    assert c.expect(UNSUBACK).pid == 77


def test_unsubscribe_is_exact_not_matching(broker, raw):
    """Unsubscribing "u/+" does not remove the "u/x" subscription (filters are
    compared character by character [MQTT-3.10.4-1])."""
    br = broker()
    c = raw(br)
    c.connect()
    c.subscribe([("uu/x", 0), ("uu/+", 0)])
    c.send(h.unsubscribe_packet(2, "uu/+"))
    c.expect(UNSUBACK)
    p = raw(br)
    p.connect()
    p.publish("uu/x", b"x")
    assert c.recv_publish().topic == "uu/x"
    p.publish("uu/y", b"y")
    c.no_packet(0.3)


def test_paho_unsubscribe(broker, paho):
    br = broker()
    c = paho(br)
    c.subscribe("pu/#", 1)
    c.publish("pu/a", b"1", 1)
    assert c.get().payload == b"1"
    c.unsubscribe("pu/#")
    c.publish("pu/a", b"2", 1)
    c.no_message(0.3)
