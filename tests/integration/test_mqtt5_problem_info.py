"""MQTT 5 Reason Strings (property 0x1F) on failure acknowledgements, and
the client's two limits on them: Request Problem Information 0 keeps them
(and User Properties) off everything but PUBLISH, CONNACK and DISCONNECT
[MQTT-3.1.2-29]; Maximum Packet Size drops the string rather than send a
larger packet [MQTT-3.4.2-2] [MQTT-3.9.2-1] [MQTT-3.14.2-3]."""

import struct

import pytest

import v5_raw as r

pytestmark = pytest.mark.tern_only  # the strings are Tern's

RS = r.REASON_STRING
NO_PROBLEM_INFO = bytes([0x17, 0])  # Request Problem Information 0


def _max_packet(n):
    return bytes([0x27]) + struct.pack(">I", n)


def _ack(s, ptype):
    """(reason code, properties) of the next packet of type ptype."""
    first, body = r.read_type(s, ptype)
    if len(body) == 2:
        return 0, []
    if len(body) == 3:
        return body[2], []
    return body[2], r.props(body, 3)[0]


def _props_only(plist):
    return [k for k, _v in plist]


def test_puback_not_authorized_explained(broker):
    br = broker()
    s, _ = r.connect(br.port, "pi-1")
    r.publish(s, "$SYS/x", b"p", qos=1, pid=1)
    rc, props = _ack(s, 4)
    assert rc == 0x87
    assert r.ids_of(props, RS) == [b"clients may not publish to $SYS topics"]
    s.close()


def test_puback_without_reason_string_when_not_requested(broker):
    br = broker()
    s, _ = r.connect(br.port, "pi-0", NO_PROBLEM_INFO)
    r.publish(s, "$SYS/x", b"p", qos=1, pid=1)
    rc, props = _ack(s, 4)
    assert rc == 0x87 and props == []  # [MQTT-3.1.2-29]
    s.close()


def test_pubrec_payload_format_invalid(broker):
    br = broker()
    bad_utf8 = b"\xff\xfe"
    pfi = bytes([0x01, 1])  # Payload Format Indicator: UTF-8
    s, _ = r.connect(br.port, "pi-pfi")
    r.publish(s, "pf/t", bad_utf8, qos=2, pid=3, prop_bytes=pfi)
    rc, props = _ack(s, 5)
    assert rc == 0x99
    assert b"not valid UTF-8" in r.ids_of(props, RS)[0]
    s.close()
    s, _ = r.connect(br.port, "pi-pfi0", NO_PROBLEM_INFO)
    r.publish(s, "pf/t", bad_utf8, qos=2, pid=3, prop_bytes=pfi)
    assert _ack(s, 5) == (0x99, [])
    s.close()


def test_puback_packet_too_large_explained(broker):
    br = broker("message_size_limit 10")
    s, _ = r.connect(br.port, "pi-big")
    r.publish(s, "big/t", b"x" * 11, qos=1, pid=2)
    rc, props = _ack(s, 4)
    assert rc == 0x95 and b"message_size_limit" in r.ids_of(props, RS)[0]
    s.close()


def test_suback_failure_names_the_filter(broker):
    br = broker()
    s, _ = r.connect(br.port, "pi-sub")
    r.subscribe(s, 7, [("ok/t", 1), ("$share/g+/x", 0)])
    first, body = r.read_type(s, 9)
    plist, i = r.props(body, 2)
    assert body[i:] == b"\x01\x8f"
    assert r.ids_of(plist, RS) == [b'topic filter invalid: "$share/g+/x" (filter 2)']
    s.close()
    s, _ = r.connect(br.port, "pi-sub0", NO_PROBLEM_INFO)
    r.subscribe(s, 7, [("ok/t", 1), ("$share/g+/x", 0)])
    first, body = r.read_type(s, 9)
    assert body[2:] == b"\x00\x01\x8f"  # empty property block
    s.close()


def test_suback_success_has_no_reason_string(broker):
    br = broker()
    s, _ = r.connect(br.port, "pi-subok")
    r.subscribe(s, 1, [("a/b", 1)])
    first, body = r.read_type(s, 9)
    assert body[2:] == b"\x00\x01"
    s.close()


def test_reason_string_dropped_to_fit_maximum_packet_size(broker):
    br = broker()
    # PUBACK with the string is 47 bytes, without it 6: a 20-byte limit
    # keeps the acknowledgement and drops the string.
    s, _ = r.connect(br.port, "pi-mps", _max_packet(20))
    r.publish(s, "$SYS/x", b"p", qos=1, pid=1)
    assert _ack(s, 4) == (0x87, [])
    # SUBACK likewise
    r.subscribe(s, 2, [("$share/g+/x", 0)])
    first, body = r.read_type(s, 9)
    assert body[2:] == b"\x00\x8f"
    s.close()
    s, _ = r.connect(br.port, "pi-mps2", _max_packet(200))
    r.publish(s, "$SYS/x", b"p", qos=1, pid=1)
    rc, props = _ack(s, 4)
    assert rc == 0x87 and r.ids_of(props, RS)  # fits: sent


def test_disconnect_keeps_reason_string_unless_too_large(broker):
    """DISCONNECT may carry one whatever Request Problem Information says,
    but not past the Maximum Packet Size."""
    br = broker()
    s, _ = r.connect(br.port, "pi-dc", NO_PROBLEM_INFO)
    r.publish(s, "x/y", b"p", prop_bytes=r.sub_id_prop(1))  # [MQTT-3.3.4-6]
    first, body = r.read(s)
    assert first >> 4 == 14 and body[0] == 0x82
    assert r.ids_of(r.props(body, 1)[0], RS) == [b"protocol error"]
    s.close()
    s, _ = r.connect(br.port, "pi-dc2", _max_packet(8))
    r.publish(s, "x/y", b"p", prop_bytes=r.sub_id_prop(1))
    first, body = r.read(s)
    assert first >> 4 == 14 and body[0] == 0x82
    assert len(body) <= 2 or r.props(body, 1)[0] == []
    s.close()


def test_refusing_connack_reason_string_fits_maximum_packet_size(broker):
    br = broker(allow_anonymous=False)  # an anonymous client is refused
    s, props = r.connect(br.port, "pi-ca", _max_packet(200), expect=0x87)
    assert r.ids_of(props, RS)
    s.close()
    s, props = r.connect(br.port, "pi-ca2", _max_packet(8), expect=0x87)
    assert props == []
    s.close()
