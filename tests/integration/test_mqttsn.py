"""MQTT-SN 1.2 over UDP (issue 5, first slice): an MQTT-SN client and MQTT
clients (mosquitto_pub / mosquitto_sub) see each other's messages through
Tern's native gateway. The MQTT-SN side is tests/integration/sn_client.py."""

import socket
import struct
import time

import pytest

import sn_client as sn
import svc_helpers as sh
import tern_harness as h

pytestmark = pytest.mark.tern_only


def sn_broker(broker, extra=""):
    """A broker with an MQTT-SN listener on a free UDP port; returns (broker, udp port)."""
    port = sn.free_udp_port()
    b = broker("listener %d 127.0.0.1\nprotocol mqttsn\n%s" % (port, extra))
    # The TCP listener may accept before the UDP one is bound: wait for GWINFO.
    sh.wait_gwinfo(port)
    return b, port


@pytest.fixture
def snc():
    """Factory: snc(udp_port, client_id=...) -> SNClient, closed at teardown."""
    made = []

    def make(port, **kw):
        c = sn.SNClient(port, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_searchgw_answered_with_gwinfo(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port)
    m = c.searchgw()
    assert m["gw_id"] == 1
    assert m["addr"] == b""


def test_connect_ping_disconnect(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-basic")
    assert c.connect()["rc"] == sn.RC_ACCEPTED
    c.ping()
    m = c.disconnect()
    assert m["duration"] is None
    b.wait_log(r'client="sn-basic" .*disconnected: DISCONNECT')


def test_register_and_publish_qos_0_1_2_reach_mqtt(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "sn/#", qos=2)
    c = snc(port, client_id="sn-pub")
    c.connect()
    r = c.register("sn/temp")
    assert r["rc"] == sn.RC_ACCEPTED and r["topic_id"] != 0
    tid = r["topic_id"]
    assert c.publish(tid, "q0", qos=0) is None
    ack = c.publish(tid, "q1", qos=1)
    assert (ack["topic_id"], ack["rc"]) == (tid, sn.RC_ACCEPTED)
    c.publish(tid, "q2", qos=2)
    msgs = s.wait_messages(3)
    assert sorted((t, p, q) for t, p, q, _ in msgs) == [
        ("sn/temp", "q0", 0), ("sn/temp", "q1", 1), ("sn/temp", "q2", 2)]
    # Registering the same name again gives the same id.
    assert c.register("sn/temp")["topic_id"] == tid


def test_qos2_duplicate_before_pubrel_delivered_once(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "dup/t", qos=2)
    c = snc(port, client_id="sn-dup")
    c.connect()
    tid = c.register("dup/t")["topic_id"]
    mid = c.publish_raw(tid, "once", qos=2)
    assert c.expect(sn.PUBREC)["msg_id"] == mid
    c.publish_raw(tid, "once", qos=2, msg_id=mid, dup=True)  # PUBREC lost: resend
    assert c.expect(sn.PUBREC)["msg_id"] == mid
    c.send(sn.PUBREL, struct.pack(">H", mid))
    assert c.expect(sn.PUBCOMP)["msg_id"] == mid
    s.wait_messages(1)
    time.sleep(0.5)
    assert len(s.msgs) == 1


def test_subscribe_by_name_receives_mqtt_publish(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-sub")
    c.connect()
    ack = c.subscribe("app/cmd", qos=1)
    assert ack["rc"] == sn.RC_ACCEPTED and ack["qos"] == 1 and ack["topic_id"] != 0
    h.mqtt_pub(b.port, "app/cmd", "hello", qos=1)
    name, data, qos, m = c.receive_publish()
    assert (name, data, qos) == ("app/cmd", b"hello", 1)
    assert m["topic_id"] == ack["topic_id"] and m["topic_type"] == sn.TOPIC_NORMAL
    h.mqtt_pub(b.port, "app/cmd", "two", qos=2)
    name, data, qos, _ = c.receive_publish()
    assert (name, data, qos) == ("app/cmd", b"two", 1)  # min(pub 2, sub 1)


def test_qos2_delivery_to_client(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-sub2")
    c.connect()
    c.subscribe("q2/in", qos=2)
    h.mqtt_pub(b.port, "q2/in", "exactly", qos=2)
    name, data, qos, _ = c.receive_publish()  # PUBREC / PUBREL / PUBCOMP inside
    assert (name, data, qos) == ("q2/in", b"exactly", 2)
    c.expect_nothing(0.5)


def test_wildcard_subscription_makes_gateway_register(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-wild")
    c.connect()
    ack = c.subscribe("dev/+/state", qos=0)
    assert ack["rc"] == sn.RC_ACCEPTED and ack["topic_id"] == 0  # wildcard: id 0
    h.mqtt_pub(b.port, "dev/a/state", "on")
    h.mqtt_pub(b.port, "dev/b/state", "off")
    reg = c.expect(sn.REGISTER)
    assert reg["topic"] == "dev/a/state" and reg["topic_id"] != 0
    # Nothing is published on that topic before the REGACK.
    assert all(m["type"] != sn.PUBLISH for m in c.pending)
    c.expect_nothing(0.3)
    c.topics[reg["topic_id"]] = reg["topic"]
    c.send(sn.REGACK, struct.pack(">HHB", reg["topic_id"], reg["msg_id"], 0))
    got = [c.receive_publish()[:2] for _ in range(2)]  # second REGISTER acked on the way
    assert got == [("dev/a/state", b"on"), ("dev/b/state", b"off")]
    # A second message on a known topic needs no REGISTER.
    h.mqtt_pub(b.port, "dev/a/state", "again")
    name, data, _, m = c.receive_publish()
    assert (name, data, m["topic_id"]) == ("dev/a/state", b"again", reg["topic_id"])


def test_short_topic_names_both_directions(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "sx", qos=1)
    c = snc(port, client_id="sn-short")
    c.connect()
    ack = c.subscribe("st", qos=1, topic_type=sn.TOPIC_SHORT)
    assert ack["rc"] == sn.RC_ACCEPTED
    h.mqtt_pub(b.port, "st", "to-sn", qos=1)
    name, data, qos, m = c.receive_publish()
    assert (name, data, qos, m["topic_type"]) == ("st", b"to-sn", 1, sn.TOPIC_SHORT)
    ack = c.publish("sx", "from-sn", qos=1, topic_type=sn.TOPIC_SHORT)
    assert ack["rc"] == sn.RC_ACCEPTED
    assert s.wait_messages(1)[0][:2] == ("sx", "from-sn")
    c.unsubscribe("st", topic_type=sn.TOPIC_SHORT)
    h.mqtt_pub(b.port, "st", "not-any-more", qos=1)
    c.expect_nothing(0.5)


def test_unsubscribe_by_name(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-unsub")
    c.connect()
    c.subscribe("u/t", qos=0)
    c.unsubscribe("u/t")
    h.mqtt_pub(b.port, "u/t", "gone")
    c.expect_nothing(0.5)


def test_qos_minus1_without_connecting(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "m1", qos=0)
    c = snc(port)
    c.publish_raw("m1", "fire-and-forget", qos=-1, topic_type=sn.TOPIC_SHORT)
    assert s.wait_messages(1)[0][:2] == ("m1", "fire-and-forget")
    # A normal topic id means nothing without a connection: dropped.
    c.publish_raw(1, "nope", qos=-1)
    c.expect_nothing(0.3)
    assert len(s.msgs) == 1


def test_unknown_topic_id_gets_puback_invalid_topic_id(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-badid")
    c.connect()
    mid = c.publish_raw(999, "x", qos=1)
    ack = c.expect(sn.PUBACK)
    assert (ack["topic_id"], ack["msg_id"], ack["rc"]) == (999, mid, sn.RC_INVALID_TOPIC_ID)
    c.publish_raw(7, "x", qos=0)
    assert c.expect(sn.PUBACK)["rc"] == sn.RC_INVALID_TOPIC_ID


def test_will_published_on_keepalive_expiry(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "wills/#", qos=1)
    c = snc(port, client_id="sn-will")
    c.connect(duration=1, will=("wills/sn-will", "gone", 1, False))
    t0 = time.monotonic()
    msgs = s.wait_messages(1, timeout=1.5 + h.KEEPALIVE_SLACK + 2)
    assert msgs[0][:3] == ("wills/sn-will", "gone", 1)
    assert time.monotonic() - t0 >= 1.2
    b.wait_log(r'client="sn-will" .*lost')


def test_will_not_published_on_disconnect(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "wills/#", qos=1)
    c = snc(port, client_id="sn-quiet")
    c.connect(duration=1, will=("wills/sn-quiet", "gone", 0, False))
    c.disconnect()
    time.sleep(2.5)
    assert s.msgs == []


def test_malformed_datagrams_ignored_client_still_works(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "ok/t", qos=1)
    c = snc(port, client_id="sn-robust")
    c.connect()
    tid = c.register("ok/t")["topic_id"]
    for junk in (b"", b"\x00", b"\x05\x0c\x00", b"\xff" * 10, b"\x03\xee\x00",
                 b"\x01\x00", b"\x07\x0c\x60\x00\x01\x00"):  # truncated QoS 1 PUBLISH
        c.send_raw(junk)
    c.expect_nothing(0.3)
    c.ping()
    assert c.publish(tid, "still here", qos=1)["rc"] == sn.RC_ACCEPTED
    assert s.wait_messages(1)[0][:2] == ("ok/t", "still here")
    b.wait_log(r"datagram dropped: malformed")


def test_messages_from_unconnected_peer_dropped(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port)
    c.send(sn.REGISTER, struct.pack(">HH", 0, 1) + b"x/y")
    c.send(sn.PINGREQ)
    c.publish_raw(1, "x", qos=1)
    c.expect_nothing(0.5)


def test_same_client_id_from_new_address_takes_over(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "wills/#", qos=1)
    a = snc(port, client_id="sn-twin")
    a.connect(will=("wills/sn-twin", "taken", 1, False))
    a.subscribe("twin/in", qos=1)
    c = snc(port, client_id="sn-twin")
    c.connect(clean=False)
    assert s.wait_messages(1)[0][:2] == ("wills/sn-twin", "taken")
    c.subscribe("twin/in", qos=1)
    h.mqtt_pub(b.port, "twin/in", "to-new", qos=1)
    assert c.receive_publish()[:2] == ("twin/in", b"to-new")
    m = a.recv_any(0.3)  # at most the REGISTER that asked a to prove its address
    assert m is None or m["type"] == sn.REGISTER, m
    a.expect_nothing(0.3)


def test_mqttsn_client_takes_over_mqtt_session(broker, snc, sub):
    """An MQTT-SN CONNECT with the id of a live MQTT connection takes the
    session over [MQTT-3.1.4-2]: the MQTT connection is closed (v5: with
    DISCONNECT 0x8E) and its will goes out."""
    b, port = sn_broker(broker)
    s = sub(b, "wills/#", qos=1)
    m = h.RawClient(b.port)
    try:
        m.send(h.connect_packet("shared-id", will=("wills/shared-id", "mqtt-gone", 1, False)))
        assert m.recv_packet().name == "CONNACK"
        c = snc(port, client_id="shared-id")
        c.connect()
        assert s.wait_messages(1)[0][:2] == ("wills/shared-id", "mqtt-gone")
        assert m.expect_closed() is not None
        b.wait_log(r"taken over from an MQTT connection")
    finally:
        m.close()


def test_mqtt_client_takes_over_mqttsn_session(broker, snc, sub):
    """An MQTT CONNECT with the client id of a connected MQTT-SN client
    takes the session over [MQTT-3.1.4-2]: the SN client's will goes out,
    it gets nothing more, and the broker lives on (this crashed before the
    session link got its own kick operation)."""
    b, port = sn_broker(broker)
    s = sub(b, "wills/#", qos=1)
    a = snc(port, client_id="cross-id")
    a.connect(will=("wills/cross-id", "gone", 1, False))
    h.mqtt_pub(b.port, "x/y", "from-mqtt", qos=1, extra=("-i", "cross-id"))
    assert s.wait_messages(1)[0][:2] == ("wills/cross-id", "gone")
    b.wait_log(r"taken over")
    a.expect_nothing(0.3)
    assert b.running()


def test_retained_message_delivered_on_subscribe(broker, snc):
    b, port = sn_broker(broker)
    h.mqtt_pub(b.port, "ret/t", "kept", qos=1, retain=True)
    c = snc(port, client_id="sn-ret")
    c.connect()
    c.subscribe("ret/#", qos=1)
    name, data, qos, m = c.receive_publish()
    assert (name, data, qos, m["retain"]) == ("ret/t", b"kept", 1, True)


def test_sn_clients_talk_to_each_other(broker, snc):
    b, port = sn_broker(broker)
    rx = snc(port, client_id="sn-rx")
    rx.connect()
    rx.subscribe("peer/t", qos=1)
    tx = snc(port, client_id="sn-tx")
    tx.connect()
    tid = tx.register("peer/t")["topic_id"]
    tx.publish(tid, "hi", qos=1)
    assert rx.receive_publish()[:3] == ("peer/t", b"hi", 1)


def test_register_and_publish_retransmitted_until_acked(broker, snc):
    """Tretry 2 s (mqttsn_retry_interval)."""
    b, port = sn_broker(broker, "mqttsn_retry_interval 2")
    c = snc(port, client_id="sn-retry")
    c.connect(duration=60)
    c.subscribe("re/#", qos=1)
    h.mqtt_pub(b.port, "re/t", "again", qos=1)
    reg = c.expect(sn.REGISTER)
    t0 = time.monotonic()
    reg2 = c.expect(sn.REGISTER, timeout=4)  # our REGACK "lost"
    assert time.monotonic() - t0 >= 1.5
    assert (reg2["topic_id"], reg2["msg_id"], reg2["topic"]) == (
        reg["topic_id"], reg["msg_id"], "re/t")
    c.topics[reg["topic_id"]] = "re/t"
    c.send(sn.REGACK, struct.pack(">HHB", reg["topic_id"], reg["msg_id"], 0))
    first = c.expect(sn.PUBLISH)
    assert not first["dup"] and first["qos"] == 1
    again = c.expect(sn.PUBLISH, timeout=4)  # our PUBACK "lost"
    assert again["dup"] and again["msg_id"] == first["msg_id"] and again["data"] == b"again"
    c.send(sn.PUBACK, struct.pack(">HHB", again["topic_id"], again["msg_id"], 0))
    c.expect_nothing(3)


def test_client_lost_after_nretry_unacked_retransmissions(broker, snc, sub):
    """Nretry 3 (default) at Tretry 2 s: lost about 8 s after the first send; will published."""
    b, port = sn_broker(broker, "mqttsn_retry_interval 2")
    s = sub(b, "wills/#", qos=1, wait=30)
    c = snc(port, client_id="sn-deaf")
    c.connect(duration=120, will=("wills/sn-deaf", "lost", 1, False))
    c.subscribe("deaf/t", qos=1)
    h.mqtt_pub(b.port, "deaf/t", "x", qos=1)
    assert s.wait_messages(1, timeout=15)[0][:2] == ("wills/sn-deaf", "lost")
    b.wait_log(r'client="sn-deaf" .*lost: no acknowledgement')
    sent = 0
    while c.recv_any(0.1) is not None:
        sent += 1
    assert sent >= 4  # the PUBLISH and its 3 retransmissions
