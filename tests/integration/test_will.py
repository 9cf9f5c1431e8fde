"""Will messages [MQTT-3.1.2-8..17, 3.14.4-3]."""

import socket
import time

import tern_harness as h
from tern_harness import connect_packet


def _watcher(br, raw, flt="will/#", qos=2):
    w = raw(br, timeout=10)
    w.connect()
    w.subscribe(flt, qos=qos)
    return w


def _will_client(br, raw, topic, payload=b"gone", qos=0, retain=False, keepalive=60,
                 client_id=None):
    c = raw(br)
    c.connect(client_id, keepalive=keepalive, will=(topic, payload, qos, retain))
    return c


def test_will_on_keepalive_expiry(broker, raw):
    """Keepalive 1, client silent: will published once the server notices,
    within 1.5 x keepalive (+ slack, see h.KEEPALIVE_SLACK) [MQTT-3.1.2-8]."""
    br = broker()
    w = _watcher(br, raw)
    c = _will_client(br, raw, "will/ka", b"ka-expired", keepalive=1)
    t0 = time.monotonic()
    m = w.recv_publish(timeout=1.5 + h.KEEPALIVE_SLACK + 1)
    took = time.monotonic() - t0
    assert (m.topic, m.payload) == ("will/ka", b"ka-expired")
    assert took >= 1.0, "will after %.2fs, before the keepalive expired" % took
    assert took <= 1.5 + h.KEEPALIVE_SLACK, took
    c.expect_closed()


def test_will_on_socket_close_without_disconnect(broker, raw):
    br = broker()
    w = _watcher(br, raw)
    c = _will_client(br, raw, "will/close", b"closed")
    c.close()
    m = w.recv_publish(timeout=3)
    assert (m.topic, m.payload, m.retain) == ("will/close", b"closed", False)


def test_will_on_socket_reset(broker, raw):
    """RST instead of FIN (SO_LINGER 0) also triggers the will."""
    br = broker()
    w = _watcher(br, raw)
    c = _will_client(br, raw, "will/rst", b"reset")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    assert w.recv_publish(timeout=3).payload == b"reset"


def test_will_on_protocol_error(broker, raw):
    """Closing the connection for a protocol violation publishes the will [MQTT-3.1.2-8]."""
    br = broker()
    w = _watcher(br, raw)
    c = _will_client(br, raw, "will/proto", b"violated")
    c.send(h.publish_packet("bad/+", b"x"), ignore_errors=True)
    c.expect_closed()
    assert w.recv_publish(timeout=3).payload == b"violated"


def test_no_will_after_clean_disconnect(broker, raw):
    """DISCONNECT discards the will [MQTT-3.1.2-10, 3.14.4-3]."""
    br = broker()
    w = _watcher(br, raw)
    c = _will_client(br, raw, "will/clean", b"should-not-appear")
    c.disconnect()
    # a control message proves the broker has processed the disconnect
    time_mark = raw(br)
    time_mark.connect()
    time_mark.publish("will/marker", b"m", qos=1, pid=1)
    m = w.recv_publish(timeout=3)
    assert m.topic == "will/marker"
    w.no_packet(0.5)


def test_will_retain_flag_honoured(broker, raw):
    """Will retain 1: published as retained; a later subscriber gets it [MQTT-3.1.2-17]."""
    br = broker()
    live = _watcher(br, raw, qos=0)
    c = _will_client(br, raw, "will/ret", b"last-words", retain=True)
    c.close()
    m = live.recv_publish(timeout=3)
    assert m.payload == b"last-words"
    late = raw(br)
    late.connect()
    late.subscribe("will/ret", qos=1)
    m = late.recv_publish()
    assert m.payload == b"last-words" and m.retain


def test_will_not_retained_when_flag_clear(broker, raw):
    br = broker()
    live = _watcher(br, raw, qos=0)
    c = _will_client(br, raw, "will/noret", b"w", retain=False)
    c.close()
    live.recv_publish(timeout=3)
    late = raw(br)
    late.connect()
    late.subscribe("will/noret", qos=1)
    late.no_packet(0.4)


def test_will_qos(broker, raw):
    """Will QoS 2 to a QoS 2 subscriber arrives at QoS 2, to a QoS 1 one at QoS 1."""
    br = broker()
    w2 = _watcher(br, raw, "will/q", qos=2)
    w1 = _watcher(br, raw, "will/q", qos=1)
    c = _will_client(br, raw, "will/q", b"q", qos=2)
    c.close()
    assert w2.recv_publish(timeout=3).qos == 2
    assert w1.recv_publish(timeout=3).qos == 1


def test_will_on_takeover(broker, raw):
    """A takeover closes the old network connection, which was not closed by
    DISCONNECT, so the old connection's will is published [MQTT-3.1.4-2]."""
    br = broker()
    w = _watcher(br, raw)
    _will_client(br, raw, "will/takeover", b"old", client_id="will-dup")
    new = raw(br)
    new.connect("will-dup")
    assert w.recv_publish(timeout=3).payload == b"old"


def test_will_qos_without_flag_rejected(broker, raw):
    """Will flag 0 with will QoS != 0 is invalid [MQTT-3.1.2-13]: close."""
    br = broker()
    c = raw(br)
    c.send(connect_packet("wq", flags=0x02 | 0x08))
    seen = c.expect_closed()
    assert all(p.rc != 0 for p in seen), seen


def test_will_paho(broker, paho, raw):
    br = broker()
    w = _watcher(br, raw)
    # paho with a will, whose socket we then drop without DISCONNECT.
    c = paho(br, will=dict(topic="will/paho", payload=b"pw", qos=1, retain=False))
    c.c.reconnect_delay_set(30, 30)     # do not come back during the test
    # Drop the TCP connection under paho without a DISCONNECT.
    c.c.socket().shutdown(socket.SHUT_RDWR)
    m = w.recv_publish(timeout=3)
    assert (m.topic, m.payload) == ("will/paho", b"pw")
