"""CONNECT / CONNACK handling [MQTT-3.1, MQTT-3.2]."""

import time

import pytest

import tern_harness as h
from tern_harness import CONNACK, connect_packet, pingreq_packet


def test_valid_connect_gets_connack_0(broker, raw):
    """A well-formed 3.1.1 CONNECT is answered with exactly 20 02 00 00."""
    br = broker()
    c = raw(br)
    c.send(connect_packet("conn-ok", clean=True, keepalive=30))
    p = c.recv_packet()
    assert p.raw() == b"\x20\x02\x00\x00"
    # The connection is usable: PINGREQ -> PINGRESP.
    c.send(pingreq_packet())
    assert c.recv_packet().raw() == b"\xd0\x00"


def test_mqtt31_mqisdp_accepted(broker, raw, paho):
    """Protocol name "MQIsdp" level 3 (MQTT 3.1) is accepted, raw and with paho."""
    br = broker()
    c = raw(br)
    c.send(connect_packet("v31-raw", proto_name="MQIsdp", level=3))
    assert c.recv_packet().raw() == b"\x20\x02\x00\x00"
    p = paho(br, protocol="3.1")
    assert p.rc == 0
    p.subscribe("v31/t", 1)
    p.publish("v31/t", b"hello", qos=1)
    assert p.get().payload == b"hello"


def test_unacceptable_protocol_level_connack_1_then_close(broker, raw):
    """Level 6 on "MQTT": CONNACK rc 1 then close [MQTT-3.1.2-2].

    Level 5 is not used because both mosquitto and a v5 capable broker parse
    it as MQTT 5; level 6 is unknown to everyone.
    """
    br = broker()
    c = raw(br)
    c.send(connect_packet("lvl6", level=6))
    seen = c.expect_closed()
    assert [p.raw() for p in seen] == [b"\x20\x02\x00\x01"]


def test_reserved_connect_flag_closes_without_connack(broker, raw):
    """Reserved bit 0 of the connect flags set: close, no CONNACK [MQTT-3.1.2-3]."""
    br = broker()
    c = raw(br)
    c.send(connect_packet("resv", flags=0x03))
    assert c.expect_closed() == []


def test_empty_client_id_clean_session_assigned(broker, raw, paho):
    """Zero-length client id with clean session 1 is accepted [MQTT-3.1.3-6]."""
    br = broker()
    c = raw(br)
    c.send(connect_packet("", clean=True))
    assert c.recv_packet().raw() == b"\x20\x02\x00\x00"
    # and it works as a client: subscribe and receive its own publish.
    assert c.subscribe("emptyid/t", qos=0) == [0]
    c.publish("emptyid/t", b"x")
    assert c.recv_publish().payload == b"x"
    # Two such clients coexist (they got distinct identifiers).
    c2 = raw(br)
    c2.send(connect_packet("", clean=True))
    assert c2.recv_packet().rc == 0
    assert c.is_open(0.3)


def test_empty_client_id_persistent_session_rejected(broker, raw):
    """Zero-length client id with clean session 0: CONNACK 2 and close [MQTT-3.1.3-8]."""
    br = broker()
    c = raw(br)
    c.send(connect_packet("", clean=False))
    seen = c.expect_closed()
    assert [p.raw() for p in seen] == [b"\x20\x02\x00\x02"]


def test_second_connect_closes_connection(broker, raw):
    """A second CONNECT on the same connection is a protocol violation [MQTT-3.1.0-2]."""
    br = broker()
    c = raw(br)
    c.connect("twice")
    c.send(connect_packet("twice"), ignore_errors=True)
    assert c.expect_closed() == []


def test_first_packet_not_connect_closes(broker, raw):
    """The first packet must be CONNECT [MQTT-3.1.0-1]; PINGREQ first -> closed."""
    br = broker()
    c = raw(br)
    c.send(pingreq_packet())
    assert c.expect_closed() == []
    c = raw(br)
    c.send(h.subscribe_packet(1, [("a", 0)]))
    assert c.expect_closed() == []


def test_duplicate_client_id_takes_over(broker, raw):
    """A new connection with an existing client id closes the old one [MQTT-3.1.4-2]."""
    br = broker()
    old = raw(br)
    old.connect("dup-id")
    new = raw(br)
    new.connect("dup-id")
    old.expect_closed()
    # The new one is alive and is the one that receives messages.
    assert new.subscribe("dup/t", qos=1) == [1]
    new.publish("dup/t", b"x", qos=1, pid=3)
    assert new.recv_publish().payload == b"x"


def test_paho_connect_both_protocols(broker, paho):
    br = broker()
    for proto in ("3.1", "3.1.1"):
        c = paho(br, protocol=proto)
        assert c.rc == 0
        c.disconnect()


@pytest.mark.tern_only
def test_connect_timeout_closes_silent_socket(broker, raw):
    """`connect_timeout 2`: a TCP connection that never sends CONNECT is closed.

    mosquitto has no such option (it waits for the listener's keepalive
    default), so this is Tern-only.
    """
    br = broker("connect_timeout 2")
    c = raw(br)
    t0 = time.monotonic()
    c.expect_closed(timeout=6)
    took = time.monotonic() - t0
    assert 1.5 <= took <= 5.0, "closed after %.2fs, expected ~2s" % took
    # A client that does connect in time is unaffected.
    ok = raw(br)
    ok.connect()
    assert ok.is_open(0.3)


def _connect_with_retry(raw, br, client_id, deadline=5.0):
    """Connect, retrying while the broker still counts an old socket."""
    end = time.monotonic() + deadline
    while True:
        c = raw(br)
        c.send(connect_packet(client_id), ignore_errors=True)
        try:
            p = c.recv_packet(2)
            if p.type == CONNACK and p.rc == 0:
                return c
        except (h.Closed, TimeoutError):
            pass
        c.close()
        if time.monotonic() > end:
            raise AssertionError("could not connect %s" % client_id)
        time.sleep(0.05)


@pytest.mark.mosquitto_differs
def test_max_connections_refuses_extra(broker, raw):
    """`max_connections 2` on the listener: a third connection is refused.

    mosquitto 2.0.11 miscounts: it counts the socket of a denied connection
    down without having counted it up, so after one refusal it admits more
    than max_connections (seen: 3 of max 2 accepted).
    """
    br = broker("max_connections 2")
    a = _connect_with_retry(raw, br, "mc-a")
    _connect_with_retry(raw, br, "mc-b")
    c = raw(br)
    c.send(connect_packet("mc-c"), ignore_errors=True)
    seen = c.expect_closed()
    assert all(p.type != CONNACK or p.rc != 0 for p in seen), seen
    # Free a slot: a new connection is admitted again.
    a.disconnect()
    _connect_with_retry(raw, br, "mc-d")


def test_session_present_flag(broker, raw):
    """Session present 0 for a fresh clean-0 session, 1 when it returns [MQTT-3.2.2-2].

    With clean session 1 it is always 0 [MQTT-3.2.2-1].
    """
    br = broker()
    c = raw(br)
    assert c.connect("sp-client", clean=False).session_present == 0
    c.subscribe("sp/t", qos=1)
    c.disconnect()
    c = raw(br)
    assert c.connect("sp-client", clean=False).session_present == 1
    c.disconnect()
    c = raw(br)
    ack = c.connect("sp-client", clean=True)
    assert ack.raw() == b"\x20\x02\x00\x00"
    c.disconnect()
    # The clean session discarded the old one: returning with clean 0 -> 0.
    c = raw(br)
    assert c.connect("sp-client", clean=False).session_present == 0


def test_keepalive_zero_and_pingreq(broker, raw):
    """keepalive 0 disables the timeout; PINGREQ answered with PINGRESP [MQTT-3.12.4-1]."""
    br = broker()
    c = raw(br)
    c.connect(keepalive=0)
    for _ in range(3):
        c.send(pingreq_packet())
        assert c.recv_packet().raw() == b"\xd0\x00"


def test_keepalive_expiry_disconnects(broker, raw):
    """No packet within 1.5 x keepalive: the server disconnects [MQTT-3.1.2-24].

    The deadline adds h.KEEPALIVE_SLACK (1 s for Tern; mosquitto 2.0.11 checks
    keepalives only every ~5 s, so it gets 6 s).
    """
    br = broker()
    c = raw(br)
    c.connect(keepalive=1)
    t0 = time.monotonic()
    c.expect_closed(timeout=1.5 + h.KEEPALIVE_SLACK)
    assert time.monotonic() - t0 >= 1.0


def test_keepalive_reset_by_traffic(broker, raw):
    """Any control packet resets the keepalive timer: pinging every 0.5 s keeps
    a keepalive-1 connection open for longer than 1.5 s [MQTT-3.1.2-23]."""
    br = broker()
    c = raw(br)
    c.connect(keepalive=1)
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        c.send(pingreq_packet())
        assert c.expect(h.PINGRESP).raw() == b"\xd0\x00"
        time.sleep(0.5)


def test_username_password_anonymous_allowed(broker, raw):
    """With allow_anonymous true a username/password CONNECT is accepted too."""
    br = broker()
    c = raw(br)
    c.connect(username="u", password="p")
    assert c.is_open(0.2)


def test_password_without_username_rejected(broker, raw):
    """Password flag without username flag is invalid in 3.1.1 [MQTT-3.1.2-22]: close."""
    br = broker()
    c = raw(br)
    # flags: clean + password only
    c.send(connect_packet("pwonly", password="p"))
    seen = c.expect_closed()
    assert all(p.rc != 0 for p in seen if p.type == CONNACK), seen
