"""Malformed and oversize input: the offending connection is closed, nothing
else is affected [MQTT-4.8, 1.5.3, 2.2.2, 2.2.3]."""

import pytest

import tern_harness as h
from tern_harness import (CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PUBACK, PUBREC,
                          connect_packet, enc_str, packet, publish_packet, subscribe_packet)


@pytest.fixture
def env(broker, raw):
    """A broker plus a bystander client subscribed to '#', connected throughout."""
    class Env:
        pass
    e = Env()
    e.br = broker("max_packet_size 1000\nmessage_size_limit 100")
    e.bystander = raw(e.br)
    e.bystander.connect("bystander")
    e.bystander.subscribe("#", qos=1)

    def still_fine():
        # the bystander was not disconnected, and a new client works end to end
        g = raw(e.br)
        g.connect()
        g.publish("health/check", b"ok", qos=1, pid=1)
        m = e.bystander.recv_publish(timeout=3)
        assert (m.topic, m.payload) == ("health/check", b"ok")
        g.disconnect()
    e.still_fine = still_fine

    def bad(data, connect_first=True):
        c = raw(e.br)
        if connect_first:
            c.connect()
        c.send(data, ignore_errors=True)
        seen = c.expect_closed()
        assert all(p.type not in (PUBACK, PUBREC) for p in seen), seen
        still_fine()
        return seen
    e.bad = bad
    yield e
    e.bystander.no_packet(0.1)


def test_remaining_length_five_bytes(env):
    """A remaining length longer than 4 bytes is malformed [MQTT-1.5.3, 2.2.3]."""
    env.bad(b"\x30\xff\xff\xff\xff\x01")


def test_remaining_length_five_bytes_before_connect(env):
    env.bad(b"\x10\xff\xff\xff\xff\x01", connect_first=False)


def test_publish_qos3(env):
    """QoS 3 is malformed [MQTT-3.3.1-4]."""
    env.bad(publish_packet("m/q3", b"x", qos=3, pid=1))


def test_subscribe_wrong_fixed_header_flags(env):
    """SUBSCRIBE with flags 0 instead of 2 [MQTT-3.8.1-1]."""
    env.bad(subscribe_packet(1, [("m/t", 0)], flags=0))


def test_unsubscribe_wrong_fixed_header_flags(env):
    env.bad(h.unsubscribe_packet(1, "m/t", flags=0))


def test_pubrel_wrong_flags(env):
    """PUBREL must have flags 0010 [MQTT-3.6.1-1]."""
    env.bad(packet(h.PUBREL, 0, b"\x00\x01"))


@pytest.mark.parametrize("topic", [b"a\xc0\x80b", b"a\x00b", b"\xff\xfe", b"a\xed\xa0\x80"],
                         ids=["overlong-nul", "U+0000", "invalid-bytes", "surrogate"])
def test_publish_bad_utf8_topic(env, topic):
    """Ill-formed UTF-8 or U+0000 in a topic closes the connection [MQTT-1.5.3-1/2]."""
    env.bad(packet(PUBLISH, 0, enc_str(topic) + b"payload"))


@pytest.mark.parametrize("flt", [b"a\xc0\x80", b"a\x00"], ids=["overlong-nul", "U+0000"])
def test_subscribe_bad_utf8_filter(env, flt):
    env.bad(packet(SUBSCRIBE, 2, b"\x00\x01" + enc_str(flt) + b"\x00"))


def test_bad_utf8_client_id(env):
    env.bad(packet(CONNECT, 0, enc_str("MQTT") + b"\x04\x02\x00\x3c" + enc_str(b"id\xc0\x80")),
            connect_first=False)


def test_truncated_connect(env):
    """Remaining length too short for the variable header fields."""
    env.bad(packet(CONNECT, 0, b"\x00\x04MQTT\x04"), connect_first=False)


def test_connect_string_length_beyond_packet(env):
    """Client id length field larger than the rest of the packet."""
    env.bad(packet(CONNECT, 0, enc_str("MQTT") + b"\x04\x02\x00\x3c\x00\x20abc"),
            connect_first=False)


def test_wrong_protocol_name(env):
    """Protocol name other than MQTT/MQIsdp: close, CONNACK optional [MQTT-3.1.2-1]."""
    seen = env.bad(connect_packet("x", proto_name="MQTX"), connect_first=False)
    assert all(p.rc != 0 for p in seen)


def test_connect_will_qos3(env):
    env.bad(connect_packet("w3", flags=0x1e, will=("a", "b", 0, False)), connect_first=False)


def test_subscribe_without_filters(env):
    """SUBSCRIBE must contain at least one filter [MQTT-3.8.3-3]."""
    env.bad(packet(SUBSCRIBE, 2, b"\x00\x01"))


def test_unsubscribe_without_filters(env):
    """UNSUBSCRIBE must contain at least one filter [MQTT-3.10.3-2]."""
    env.bad(packet(UNSUBSCRIBE, 2, b"\x00\x01"))


def test_subscribe_requested_qos3(env):
    """Requested QoS 3 / reserved bits set is malformed [MQTT-3-8.3-4]."""
    env.bad(subscribe_packet(1, [("m/t", 3)]))


def test_publish_packet_id_zero(env):
    """QoS > 0 PUBLISH needs a non-zero packet id [MQTT-2.3.1-1]."""
    env.bad(publish_packet("m/t", b"x", qos=1, pid=0))


@pytest.mark.parametrize("first", [b"\x00\x00", b"\xf0\x00"], ids=["type0", "type15"])
def test_reserved_packet_types(env, first):
    env.bad(first)


def test_disconnect_with_flags(env):
    env.bad(b"\xe1\x00")


@pytest.mark.mosquitto_differs
def test_pingreq_with_flags(env):
    """Reserved fixed-header flags must be 0 [MQTT-2.2.2-2]: PINGREQ 0xC1 closes.

    mosquitto 2.0.11 answers PINGREQ with flags set with PINGRESP.
    """
    env.bad(b"\xc1\x00")


@pytest.mark.mosquitto_differs
def test_server_only_packet_from_client(env):
    """A client sending PINGRESP/CONNACK/SUBACK is a protocol violation (4.8).

    mosquitto 2.0.11 ignores a PINGRESP from a client.
    """
    env.bad(b"\xd0\x00")


def test_connack_from_client(env):
    env.bad(b"\x20\x02\x00\x00")


def test_max_packet_size(env):
    """`max_packet_size 1000`: a 2000-byte PUBLISH closes the connection."""
    seen = env.bad(publish_packet("m/big", b"x" * 2000, qos=1, pid=1))
    assert seen == []


def test_max_packet_size_declared_only(env):
    """The size check uses the remaining length, before the body arrives:
    announce 1 MB, send nothing more -> closed."""
    env.bad(b"\x30" + h.enc_varint(1 << 20) + b"\x00\x01a")


def test_message_size_limit_drops_payload(env, raw):
    """`message_size_limit 100`: a 200-byte payload is acknowledged (QoS 1/2)
    but not delivered; the publisher stays connected (mosquitto semantics)."""
    c = raw(env.br)
    c.connect()
    c.send(publish_packet("m/limit", b"y" * 200, qos=0))
    c.publish("m/limit", b"y" * 200, qos=1, pid=1)
    c.publish("m/limit", b"y" * 200, qos=2, pid=2)
    c.publish("m/limit", b"small", qos=1, pid=3)
    m = env.bystander.recv_publish()
    assert (m.topic, m.payload) == ("m/limit", b"small")
    env.bystander.no_packet(0.3)
    assert c.is_open(0.1)


def test_byte_at_a_time_valid_session(broker, raw):
    """Valid packets dribbled one byte per send are reassembled."""
    import time
    br = broker()
    s = raw(br)
    s.connect()
    s.subscribe("drip/t", qos=1)
    c = raw(br)
    data = connect_packet("dripper") + publish_packet("drip/t", b"slow", qos=1, pid=5)
    for b in data:
        c.send(bytes([b]))
        time.sleep(0.002)
    assert c.recv_packet().raw() == b"\x20\x02\x00\x00"
    assert c.expect(PUBACK).pid == 5
    assert s.recv_publish().payload == b"slow"


def test_many_packets_in_one_segment(broker, raw):
    """CONNECT, SUBSCRIBE, PUBLISH x3, PINGREQ in a single send."""
    br = broker()
    c = raw(br)
    c.send(connect_packet("batch") + subscribe_packet(1, [("b/t", 0)])
           + b"".join(publish_packet("b/t", b"%d" % i) for i in range(3))
           + h.pingreq_packet())
    assert c.expect(h.CONNACK).rc == 0
    assert c.expect(h.SUBACK).granted == [0]
    assert [c.expect(PUBLISH).payload for _ in range(3)] == [b"0", b"1", b"2"]
    c.expect(h.PINGRESP)


def test_garbage_flood_then_good_client(broker, raw):
    """64 KiB of random bytes on a fresh connection: closed, broker fine."""
    import os
    br = broker()
    c = raw(br)
    c.send(b"\x10\x7f" + os.urandom(65536), ignore_errors=True)
    c.expect_closed()
    g = raw(br)
    g.connect()
    g.subscribe("g/t", qos=1)
    g.publish("g/t", b"fine", qos=1, pid=2)
    assert g.recv_publish().payload == b"fine"
