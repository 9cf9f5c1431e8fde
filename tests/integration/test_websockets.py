"""MQTT over WebSockets (issue 12): a `protocol websockets` listener takes
paho clients (MQTT 3.1.1 and 5, transport="websockets") and raw RFC 6455
clients, and MQTT packets pass whatever the framing (a packet over several
frames, several packets in one frame, a ping between fragments).

Hostile peers get a clear answer and a log line, and the broker keeps
serving everyone else: an unmasked client frame (close 1002), a frame or
message over the limit (1009), a text frame (1003, [MQTT-6.0.0-1]), a
ping flood (1008), bad upgrades (400 without a key or the mqtt
subprotocol, 426 naming version 13, 404 for a plain GET, 431 over
websockets_headers_size) and a slowloris upgrade (408 at connect_timeout).

Every test is parametrized on ws_helpers.SCHEMES ("ws"; "wss" joins once
TLS listeners exist)."""

import json
import signal
import socket
import struct
import time

import pytest

import tern_harness as h
import ws_helpers as w

pytestmark = pytest.mark.tern_only

schemes = pytest.mark.parametrize("scheme", w.SCHEMES)


def assert_served(b):
    """The broker still serves: a TCP subscriber gets a websockets
    client's QoS 1 publish."""
    sub = h.PahoClient(b.port)
    pub = w.WsPaho(b.ws_port, b.scheme)
    try:
        sub.subscribe("served/x", 1)
        pub.publish("served/x", b"still here", 1)
        assert sub.get().payload == b"still here"
    finally:
        pub.close()
        sub.close()


@schemes
@pytest.mark.parametrize("version", [4, 5])
def test_paho_over_websockets_both_ways(broker, scheme, version):
    b = w.ws_broker(broker, scheme)
    ws = w.WsPaho(b.ws_port, scheme, protocol=version)
    tcp = h.PahoClient(b.port)
    try:
        ws.subscribe("web/#", 1)
        tcp.subscribe("app/#", 1)
        big = bytes(range(256)) * 1200  # 300 KiB: many frames' worth of TCP segments
        for qos in (0, 1, 2):
            tcp.publish("web/q%d" % qos, b"to ws %d" % qos, qos)
            m = ws.get()
            assert (m.topic, m.payload) == ("web/q%d" % qos, b"to ws %d" % qos)
            ws.publish("app/q%d" % qos, b"from ws %d" % qos, qos)
            m = tcp.get()
            assert (m.topic, m.payload) == ("app/q%d" % qos, b"from ws %d" % qos)
        ws.publish("app/big", big, 1)
        assert tcp.get().payload == big
        tcp.publish("web/big", big, 1)
        assert ws.get().payload == big
    finally:
        ws.close()
        tcp.close()
    b.wait_log(r'client="%s" peer=127\.0\.0\.1:\d+ disconnected: DISCONNECT' % ws.client_id)


@schemes
def test_packets_across_and_within_frames(broker, scheme):
    b = w.ws_broker(broker, scheme)
    r = w.RawWS(b.ws_port, scheme)
    try:
        r.handshake()
        conn = h.connect_packet("raw-ws", keepalive=30)
        # CONNECT as a fragmented message with a ping between the fragments
        # (RFC 6455 5.4): the pong echoes the ping's payload.
        r.send_frame(0x2, conn[:5], fin=False)
        r.send_frame(0x9, b"hi there")
        r.send_frame(0x0, conn[5:9], fin=False)
        r.send_frame(0x0, conn[9:], fin=True)
        f = r.recv_frame()
        assert f == (0xA, b"hi there")
        first, body = r.read_mqtt()
        assert first == 0x20 and body == b"\x00\x00"  # CONNACK accepted
        # SUBSCRIBE and PINGREQ in one frame; then a PUBLISH over 3 frames.
        r.send_frame(0x2, h.subscribe_packet(1, [("t/#", 1)]) + h.pingreq_packet())
        assert r.read_mqtt()[0] == 0x90
        assert r.read_mqtt()[0] == 0xD0
        r.mqtt(h.publish_packet("t/self", b"x" * 5000, qos=1, pid=7), frames=3)
        got = {}
        for _ in range(2):
            first, body = r.read_mqtt()
            got[first >> 4] = body
        assert got[4] == b"\x00\x07"  # PUBACK
        assert got[3].endswith(b"x" * 5000)
        # An orderly close: the server echoes the code and ends TCP.
        r.send_frame(0x8, struct.pack("!H", w.NORMAL) + b"bye")
        assert r.recv_close() == w.NORMAL
        assert r.eof()
    finally:
        r.close()
    b.wait_log(r'client="raw-ws" peer=127\.0\.0\.1:\d+ disconnected')


def hostile(b, scheme, frames, code, log):
    """Upgrade, CONNECT, send the hostile frames: the server closes with
    code, logs, and ends the connection."""
    r = w.RawWS(b.ws_port, scheme)
    try:
        r.handshake()
        r.mqtt(h.connect_packet("bad-ws"))
        assert r.read_mqtt()[0] == 0x20
        for f in frames:
            r.send(f)
        assert r.recv_close() == code
        assert r.eof()
    finally:
        r.close()
    b.wait_log(log.replace("ws: ", "%s: " % scheme))  # the stream's kind names the line


@schemes
def test_unmasked_client_frame_closed_1002(broker, scheme):
    b = w.ws_broker(broker, scheme)
    hostile(b, scheme, [w.RawWS.frame(0x2, h.pingreq_packet(), mask=False)], w.PROTOCOL,
            r'client="bad-ws" ws: closing with 1002: unmasked client frame')
    assert_served(b)


@schemes
def test_text_frame_closed_1003(broker, scheme):
    b = w.ws_broker(broker, scheme)
    hostile(b, scheme, [w.RawWS.frame(0x1, b"\xc0\x00")], w.UNSUPPORTED,
            r'ws: closing with 1003: text frame \(MQTT needs binary\)')
    assert_served(b)


@schemes
def test_reserved_bits_and_bad_close_refused(broker, scheme):
    b = w.ws_broker(broker, scheme)
    hostile(b, scheme, [w.RawWS.frame(0x2, b"\xc0\x00", rsv=4)], w.PROTOCOL,
            r'ws: closing with 1002: invalid frame header')
    hostile(b, scheme, [w.RawWS.frame(0x8, struct.pack("!H", 1000) + b"\xff")], w.BAD_DATA,
            r'ws: closing with 1007: close reason is not UTF-8')
    hostile(b, scheme, [w.RawWS.frame(0x0, b"\xc0\x00")], w.PROTOCOL,
            r'ws: closing with 1002: continuation out of order')
    assert_served(b)


@schemes
def test_frame_and_message_over_limit_closed_1009(broker, scheme):
    # max_packet_size 1000: frames and messages up to 1000 + 64 KiB.
    b = w.ws_broker(broker, scheme, conf_extra="max_packet_size 1000")
    # Only the header of a 100 kB frame is sent: refused before any payload.
    hostile(b, scheme, [w.RawWS.frame(0x2, b"", length=100000)[:14]], w.TOO_BIG,
            r'ws: closing with 1009: frame of 100000 bytes over 66536')
    # A message of valid small PUBLISHes (each under max_packet_size),
    # fragmented, 70 kB in all.
    pub = h.publish_packet("nobody/listens", b"p" * 880)
    hostile(b, scheme, [w.RawWS.frame(0x2, pub * 66, fin=False),
                        w.RawWS.frame(0x0, pub * 14)], w.TOO_BIG,
            r'ws: closing with 1009: message over 66536 bytes')
    assert_served(b)


@schemes
def test_ping_flood_closed_1008(broker, scheme):
    b = w.ws_broker(broker, scheme)
    r = w.RawWS(b.ws_port, scheme)
    try:
        r.handshake()
        r.mqtt(h.connect_packet("flood-ws"))
        assert r.read_mqtt()[0] == 0x20
        r.send(b"".join(w.RawWS.frame(0x9, b"p%d" % i) for i in range(500)))
        pongs, code = 0, None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            f = r.recv_frame()
            assert f is not None, "closed without a close frame"
            if f[0] == 0xA:
                pongs += 1
            elif f[0] == 0x8:
                code = struct.unpack("!H", f[1][:2])[0]
                break
        assert code == w.POLICY
        assert 1 <= pongs <= 60  # answered up to the burst, never 500
        assert r.eof()
    finally:
        r.close()
    b.wait_log(r'client="flood-ws" %s: closing with 1008: ping flood' % scheme)
    assert_served(b)


def refused(b, scheme, req, status, log):
    r = w.RawWS(b.ws_port, scheme)
    try:
        r.send(req)
        got, headers = r.http_response()
        assert got == status, (got, headers)
        assert headers.get("connection", "").lower() == "close"
        assert r.eof()
        return headers
    finally:
        r.close()
        b.wait_log(log.replace("ws: ", "%s: " % scheme))


@schemes
def test_bad_upgrades_answered(broker, scheme):
    b = w.ws_broker(broker, scheme)
    req, _ = w.upgrade_request(drop=("Sec-WebSocket-Key",))
    refused(b, scheme, req, 400, r'ws: upgrade refused with 400: no single Sec-WebSocket-Key')
    req, _ = w.upgrade_request(key="c2hvcnQ=")
    refused(b, scheme, req, 400, r'upgrade refused with 400: Sec-WebSocket-Key is not base64')
    req, _ = w.upgrade_request(version="8")
    hd = refused(b, scheme, req, 426, r'upgrade refused with 426: Sec-WebSocket-Version is not 13')
    assert hd.get("sec-websocket-version") == "13"
    req, _ = w.upgrade_request(protocol="chat")
    refused(b, scheme, req, 400, r'upgrade refused with 400: no mqtt in Sec-WebSocket-Protocol')
    req, _ = w.upgrade_request(drop=("Sec-WebSocket-Protocol",))
    refused(b, scheme, req, 400, r'upgrade refused with 400: no mqtt in Sec-WebSocket-Protocol')
    refused(b, scheme, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404,
            r'upgrade refused with 404: a plain HTTP request')
    refused(b, scheme, b"GET / HTTP/1.1\nHost: x\n\n", 400,
            r'upgrade refused with 400: malformed HTTP request')
    # mosquitto's older subprotocol name is taken.
    r = w.RawWS(b.ws_port, scheme)
    try:
        hd = r.handshake(protocol="mqttv3.1")
        assert hd.get("sec-websocket-protocol") == "mqttv3.1"
    finally:
        r.close()
    assert_served(b)


@schemes
def test_headers_over_limit_answered_431(broker, scheme):
    b = w.ws_broker(broker, scheme, conf_extra="websockets_headers_size 1024")
    req, _ = w.upgrade_request(extra=("Cookie: " + "c" * 2000,))
    refused(b, scheme, req, 431,
            r'upgrade refused with 431: request head over websockets_headers_size \(1024\)')
    # Below the limit a long cookie is fine.
    r = w.RawWS(b.ws_port, scheme)
    try:
        r.handshake(extra=("Cookie: " + "c" * 700,))
    finally:
        r.close()
    assert_served(b)


@schemes
def test_slowloris_upgrade_closed_at_connect_timeout(broker, scheme):
    b = w.ws_broker(broker, scheme, conf_extra="connect_timeout 2")
    req, _ = w.upgrade_request()
    r = w.RawWS(b.ws_port, scheme, timeout=8)
    try:
        t0 = time.monotonic()
        for i in range(0, 40, 4):  # a few bytes now and then, never the end
            r.send(req[i:i + 4])
            time.sleep(0.1)
        status, _ = r.http_response(timeout=6)
        took = time.monotonic() - t0
        assert status == 408
        assert 1.5 <= took <= 5.0, took
        assert r.eof()
    finally:
        r.close()
    b.wait_log(r'closing: no CONNECT within 2 s')
    assert_served(b)


def http_get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return data.partition(b"\r\n\r\n")[2].decode()


@schemes
def test_metrics_and_status_name_websockets_listener(broker, scheme):
    hp = h.free_port()
    b = w.ws_broker(broker, scheme, conf_extra="listener %d 127.0.0.1\nprotocol http" % hp)
    c = w.WsPaho(b.ws_port, scheme)
    try:
        metrics = http_get(hp, "/metrics")
        assert ('tern_connections{protocol="websockets",listener="127.0.0.1:%d"} 1'
                % b.ws_port) in metrics, metrics[-2000:]
        status = json.loads(http_get(hp, "/api/v1/status"))
        kinds = {l["address"]: l["protocol"] for l in status["listeners"]}
        assert kinds["127.0.0.1:%d" % b.ws_port] == "websockets"
        assert kinds["127.0.0.1:%d" % b.port] == "mqtt"
    finally:
        c.close()


@schemes
def test_sighup_changes_headers_size_keeps_clients(broker, scheme):
    """websockets_headers_size is reloadable: new upgrades see the new
    limit, connected WebSocket clients stay."""
    b = w.ws_broker(broker, scheme, conf_extra="websockets_headers_size 4096")
    c = w.WsPaho(b.ws_port, scheme)
    try:
        c.subscribe("reload/x", 1)
        req, _ = w.upgrade_request(extra=("Cookie: " + "c" * 1500,))
        r = w.RawWS(b.ws_port, scheme)
        try:
            r.send(req)
            assert r.http_response()[0] == 101
        finally:
            r.close()
        b.write_config(b.conf_extra.replace("websockets_headers_size 4096",
                                            "websockets_headers_size 1024"))
        b.signal(signal.SIGHUP)
        b.wait_log(r"configuration reloaded")
        refused(b, scheme, req, 431, r"upgrade refused with 431")
        tcp = h.PahoClient(b.port)
        try:
            tcp.publish("reload/x", b"after reload", 1)
        finally:
            tcp.close()
        assert c.get().payload == b"after reload"
    finally:
        c.close()
