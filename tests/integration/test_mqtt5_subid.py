"""MQTT 5 Subscription Identifiers (3.8.2.1.2, 3.3.2.3.8, 3.3.4): stored
with the subscription, sent on every PUBLISH a subscription causes, all of
them on the one copy that several overlapping subscriptions share, only its
own on a copy through a shared subscription, kept for queued and resent
messages and across a restart, never sent to a 3.1.1 client."""

import socket
import struct

import pytest

import tern_harness as h
import v5_raw as r

SUBID = r.SUBSCRIPTION_ID


def _suback(s):
    first, body = r.read_type(s, 9)
    return body[2 + r.varint(body, 2)[0] + 1:]


def _pub(s, timeout=5):
    return r.parse_publish(*r.read_type(s, 3, timeout))


def _no_publish(s, timeout=0.5):
    s.settimeout(timeout)
    try:
        first, body = r.read(s, timeout)
    except OSError:
        return
    assert first is None or first >> 4 != 3, "unexpected PUBLISH %r" % (body,)


def test_connack_announces_subscription_ids_available(broker):
    br = broker()
    s, props = r.connect(br.port, "sid-ca")
    assert 0x29 not in dict(props)  # absent = available [MQTT-3.2.2-...]
    s.close()


def test_subscription_id_sent_with_publish(broker):
    br = broker()
    s, _ = r.connect(br.port, "sid-1")
    r.subscribe(s, 1, [("sid/a", 1)], r.sub_id_prop(268435455))  # the largest allowed
    assert _suback(s) == b"\x01"
    h.mqtt_pub(br.port, "sid/a", "x", qos=1)
    p = _pub(s)
    assert p["payload"] == b"x" and r.ids_of(p["props"], SUBID) == [268435455]
    s.close()


@pytest.mark.tern_only  # mosquitto sends one copy per subscription (also allowed)
def test_overlapping_subscriptions_one_copy_every_id(broker):
    """[MQTT-3.3.4-3] [MQTT-3.3.4-4]: one copy, the ids of all matching
    subscriptions that have one, at the highest QoS [MQTT-3.3.4-2]."""
    br = broker()
    s, _ = r.connect(br.port, "sid-ov")
    r.subscribe(s, 1, [("ov/#", 0)], r.sub_id_prop(1))
    r.subscribe(s, 2, [("ov/+", 1)], r.sub_id_prop(2))
    r.subscribe(s, 3, [("ov/t", 0)])  # no identifier
    r.subscribe(s, 4, [("+/t", 0)], r.sub_id_prop(2))  # the same id again
    for _ in range(4):
        _suback(s)
    h.mqtt_pub(br.port, "ov/t", "m", qos=1)
    p = _pub(s)
    assert p["qos"] == 1
    assert sorted(r.ids_of(p["props"], SUBID)) == [1, 2, 2]
    r.ack(s, 4, p["pid"])
    _no_publish(s)  # one copy only
    h.mqtt_pub(br.port, "ov/x", "n", qos=0)  # only ov/# and ov/+ match
    p = _pub(s)
    assert sorted(r.ids_of(p["props"], SUBID)) == [1, 2]
    s.close()


def test_resubscribe_replaces_or_drops_the_id(broker):
    br = broker()
    s, _ = r.connect(br.port, "sid-re")
    r.subscribe(s, 1, [("re/t", 0)], r.sub_id_prop(5))
    _suback(s)
    r.subscribe(s, 2, [("re/t", 0)], r.sub_id_prop(6))
    _suback(s)
    h.mqtt_pub(br.port, "re/t", "a")
    assert r.ids_of(_pub(s)["props"], SUBID) == [6]
    r.subscribe(s, 3, [("re/t", 0)])  # [MQTT-3.8.4-3]: replaced, now without
    _suback(s)
    h.mqtt_pub(br.port, "re/t", "b")
    p = _pub(s)
    assert p["payload"] == b"b" and r.ids_of(p["props"], SUBID) == []
    s.close()


def test_shared_subscription_copy_carries_only_its_id(broker):
    """A session with a shared and a normal subscription on the same topic
    gets two copies, each with its own subscription's id [MQTT-3.3.4-5]."""
    br = broker()
    s, _ = r.connect(br.port, "sid-sh")
    r.subscribe(s, 1, [("$share/g/sh/#", 0)], r.sub_id_prop(3))
    r.subscribe(s, 2, [("sh/+", 0)], r.sub_id_prop(4))
    _suback(s)
    _suback(s)
    h.mqtt_pub(br.port, "sh/t", "m")
    got = sorted(tuple(r.ids_of(_pub(s)["props"], SUBID)) for _ in range(2))
    assert got == [(3,), (4,)]
    s.close()


def test_retained_message_on_subscribe_carries_the_id(broker):
    br = broker()
    h.mqtt_pub(br.port, "rt/t", "kept", qos=1, retain=True)
    s, _ = r.connect(br.port, "sid-rt")
    r.subscribe(s, 1, [("rt/#", 1)], r.sub_id_prop(77))
    _suback(s)
    p = _pub(s)
    assert p["payload"] == b"kept" and r.ids_of(p["props"], SUBID) == [77]
    s.close()


def test_subscription_id_zero_is_a_protocol_error(broker):
    br = broker()
    s, _ = r.connect(br.port, "sid-0")
    r.subscribe(s, 1, [("z/t", 0)], bytes([SUBID, 0]))
    first, body = r.read(s)
    # 3.8.2.1.2: a Protocol Error, so DISCONNECT 0x82 and close (4.13).
    assert first >> 4 == 14 and body[0] == 0x82, body
    assert r.read(s)[0] is None  # closed
    s.close()


@pytest.mark.mosquitto_differs
def test_publish_from_client_with_subscription_id_is_refused(broker):
    """[MQTT-3.3.4-6]: a client's PUBLISH must not carry one (mosquitto
    2.0.11 accepts it)."""
    br = broker()
    s, _ = r.connect(br.port, "sid-pub")
    r.publish(s, "x/y", b"p", prop_bytes=r.sub_id_prop(1))
    first, body = r.read(s)
    assert first >> 4 == 14 and body[0] == 0x82
    s.close()


def test_queued_and_resent_messages_keep_their_id(broker):
    """Offline queue and the DUP resend of an unacknowledged QoS 1 message
    carry the identifier the message was routed with."""
    br = broker()
    expiry = bytes([0x11]) + struct.pack(">I", 60)
    s, _ = r.connect(br.port, "sid-q", expiry)
    r.subscribe(s, 1, [("q/#", 1)], r.sub_id_prop(9))
    _suback(s)
    h.mqtt_pub(br.port, "q/1", "first", qos=1)
    p = _pub(s)
    assert r.ids_of(p["props"], SUBID) == [9]
    s.close()  # not acknowledged
    h.wait_until(lambda: "sid-q" in br.log(), msg="disconnect logged")
    h.mqtt_pub(br.port, "q/2", "second", qos=1)  # queued while offline
    s, _ = r.connect(br.port, "sid-q", expiry, clean=False)
    p1, p2 = _pub(s), _pub(s)
    assert (p1["payload"], p1["dup"]) == (b"first", True)
    assert (p2["payload"], p2["dup"]) == (b"second", False)
    assert r.ids_of(p1["props"], SUBID) == [9] and r.ids_of(p2["props"], SUBID) == [9]
    r.ack(s, 4, p1["pid"])
    r.ack(s, 4, p2["pid"])
    r.disconnect(s)
    s.close()


@pytest.mark.tern_only
def test_ids_come_back_after_restart(broker):
    """The store keeps the subscription's id; queued and inflight records
    get it back from the session's subscriptions at start."""
    br = broker(persistence=True)
    expiry = bytes([0x11]) + struct.pack(">I", 600)
    s, _ = r.connect(br.port, "sid-rs", expiry)
    r.subscribe(s, 1, [("rs/#", 1)], r.sub_id_prop(12))
    r.subscribe(s, 2, [("rs/+", 1)], r.sub_id_prop(13))
    _suback(s)
    _suback(s)
    h.mqtt_pub(br.port, "rs/a", "inflight", qos=1)
    assert sorted(r.ids_of(_pub(s)["props"], SUBID)) == [12, 13]
    r.disconnect(s)
    s.close()
    h.mqtt_pub(br.port, "rs/b", "queued", qos=1)
    br.restart()
    s, _ = r.connect(br.port, "sid-rs", expiry, clean=False)
    got = [_pub(s) for _ in range(2)]
    assert [p["payload"] for p in got] == [b"inflight", b"queued"]
    assert all(sorted(r.ids_of(p["props"], SUBID)) == [12, 13] for p in got)
    h.mqtt_pub(br.port, "rs/c", "live", qos=0)
    p = _pub(s)
    assert p["payload"] == b"live" and sorted(r.ids_of(p["props"], SUBID)) == [12, 13]
    s.close()


def test_311_client_never_gets_ids(broker):
    """A session subscribed over MQTT 5 with an id and resumed over 3.1.1
    gets plain 3.1.1 PUBLISH packets."""
    br = broker()
    expiry = bytes([0x11]) + struct.pack(">I", 60)
    s, _ = r.connect(br.port, "sid-mix", expiry)
    r.subscribe(s, 1, [("mix/#", 1)], r.sub_id_prop(4))
    _suback(s)
    r.disconnect(s)
    s.close()
    h.mqtt_pub(br.port, "mix/t", "hello", qos=1)
    c = socket.create_connection(("127.0.0.1", br.port), timeout=5)
    c.sendall(h.connect_packet("sid-mix", clean=False))
    first, body = r.read(c)
    assert first >> 4 == 2 and body == b"\x01\x00"  # session present
    first, body = r.read_type(c, 3)
    tlen = struct.unpack(">H", body[:2])[0]
    # 3.1.1 layout: topic, packet id, payload; no property block
    assert body[2:2 + tlen] == b"mix/t" and body[4 + tlen:] == b"hello"
    c.close()
