"""MQTT over WebSockets for the integration tests: a broker with a
`protocol websockets` listener, paho clients over it, and a raw RFC 6455
client that sends frames byte for byte (for the hostile cases).

Every helper takes a `scheme`: "ws", or "wss" — the same listener with
the TLS options of a listener (certificates of a test CA made once per
test process by tls_certs.py); the tests are parametrized on SCHEMES, and
RawWS / ws_paho wrap their socket in TLS for wss."""

import atexit
import base64
import hashlib
import os
import queue
import shutil
import socket
import ssl
import struct
import tempfile
import time
import uuid

import tern_harness as h
import tls_certs

SCHEMES = ["ws", "wss"]
_PKI = []


def pki():
    """The test CA's directory (tls_certs.make_pki), made on first use and
    removed when the test process ends."""
    if not _PKI:
        d = tempfile.mkdtemp(prefix="tern-ws-pki-")
        atexit.register(shutil.rmtree, d, True)
        _PKI.append(tls_certs.make_pki(d))
    return _PKI[0]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Close codes (RFC 6455 7.4.1).
NORMAL, GOING_AWAY, PROTOCOL, UNSUPPORTED, BAD_DATA, POLICY, TOO_BIG = (
    1000, 1001, 1002, 1003, 1007, 1008, 1009)


def ws_listener_conf(port, scheme="ws", extra=""):
    """The config lines of a websockets listener on 127.0.0.1:port."""
    lines = ["listener %d 127.0.0.1" % port, "protocol websockets"]
    if scheme == "wss":
        d = pki()
        lines += ["certfile %s" % tls_certs.path(d, "server.pem"),
                  "keyfile %s" % tls_certs.path(d, "server.key")]
    if extra:
        lines.append(extra.strip("\n"))
    return "\n".join(lines) + "\n"


def ws_broker(broker, scheme="ws", listener_extra="", conf_extra="", **kw):
    """A broker with its TCP listener (b.port) and a websockets one (b.ws_port)."""
    wp = h.free_port()
    conf = ws_listener_conf(wp, scheme, listener_extra)
    if conf_extra:
        conf = conf_extra.strip("\n") + "\n" + conf
    b = broker(conf, **kw)
    h.wait_until(lambda: h.port_accepts(wp), 5, msg="websockets listener %d" % wp)
    b.ws_port = wp
    b.scheme = scheme
    return b


def _paho():
    import paho.mqtt.client as mqtt
    return mqtt


class WsPaho:
    """paho-mqtt over WebSockets (transport="websockets"), MQTT 3.1.1 or 5."""

    def __init__(self, port, scheme="ws", protocol=4, client_id=None, path="/mqtt",
                 keepalive=30):
        mqtt = _paho()
        self.client_id = client_id or "wsp-" + uuid.uuid4().hex[:8]
        proto = mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311
        kw = {} if protocol == 5 else {"clean_session": True}
        self.c = mqtt.Client(client_id=self.client_id, protocol=proto, transport="websockets",
                             **kw)
        self.c.ws_set_options(path=path)
        if scheme == "wss":
            self.c.tls_set(cert_reqs=ssl.CERT_NONE)
            self.c.tls_insecure_set(True)
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = queue.Queue()
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        if protocol == 5:
            self.c.on_connect = lambda c, u, f, rc, props=None: self.connack.put(rc)
            self.c.on_subscribe = lambda c, u, mid, granted, props=None: self.subacks.put(mid)
        else:
            self.c.on_connect = lambda c, u, f, rc: self.connack.put(rc)
            self.c.on_subscribe = lambda c, u, mid, granted: self.subacks.put(mid)
        self.protocol = protocol
        self.c.connect("127.0.0.1", port, keepalive)
        self.c.loop_start()
        try:
            rc = self.connack.get(timeout=5)
        except queue.Empty:
            self.close()
            raise AssertionError("paho over %s: no CONNACK within 5 s" % scheme)
        assert rc == 0, "paho over %s: CONNACK %s" % (scheme, rc)

    def subscribe(self, topic, qos=0):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == 0
        assert self.subacks.get(timeout=5) == mid

    def publish(self, topic, payload, qos=0):
        info = self.c.publish(topic, payload, qos)
        deadline = time.monotonic() + 5
        while not info.is_published() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert info.is_published(), "paho over websockets: publish not completed"

    def get(self, timeout=5):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho %s: no message within %ss" % (self.client_id, timeout))

    def close(self):
        try:
            self.c.disconnect()
        except Exception:
            pass
        self.c.loop_stop()


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_request(key=None, version="13", protocol="mqtt", path="/mqtt", extra=(),
                    drop=()):
    """The bytes of an upgrade request; fields in drop are left out."""
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    fields = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version),
              ("Sec-WebSocket-Protocol", protocol)]
    lines = ["GET %s HTTP/1.1" % path]
    lines += ["%s: %s" % (k, v) for k, v in fields if k not in drop and v is not None]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


class RawWS:
    """A raw WebSocket client: exact bytes out, server frames parsed back."""

    def __init__(self, port, scheme="ws", timeout=5.0):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if scheme == "wss":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.buf = b""
        self.timeout = timeout

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        self.s.sendall(data)

    def _fill(self, deadline):
        self.s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            raise AssertionError("raw ws: nothing from the server in time (have %r)"
                                 % self.buf[:80])
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return False
        self.buf += chunk
        return True

    def http_response(self, timeout=None):
        """(status, headers dict lower-case, rest) of the server's HTTP answer."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise AssertionError("raw ws: closed before an HTTP answer: %r" % self.buf)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n and self._fill(deadline):
                pass
            body, self.buf = self.buf[:n], self.buf[n:]
            headers["body"] = body.decode("latin-1")
        return status, headers

    def handshake(self, **kw):
        req, key = upgrade_request(**kw)
        self.send(req)
        status, headers = self.http_response()
        assert status == 101, "upgrade answered %d %r" % (status, headers)
        assert headers.get("sec-websocket-accept") == accept_for(key)
        assert headers.get("upgrade", "").lower() == "websocket"
        return headers

    @staticmethod
    def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload) if length is None else length
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr = struct.pack("!BB", b0, mbit | n)
        elif n <= 0xFFFF:
            hdr = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, mbit | 127, n)
        if not mask:
            return hdr + payload
        key = os.urandom(4)
        body = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        return hdr + key + body

    def send_frame(self, opcode, payload=b"", **kw):
        self.send(self.frame(opcode, payload, **kw))

    def recv_frame(self, timeout=None):
        """(opcode, payload) of the next server frame, or None at EOF.
        Server frames must be unmasked (RFC 6455 5.1)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                assert not (b1 & 0x80), "server frame masked"
                assert not (b0 & 0x70), "server frame with RSV bits"
                n = b1 & 0x7F
                off = 2
                if n == 126 and len(self.buf) >= 4:
                    n = struct.unpack("!H", self.buf[2:4])[0]
                    off = 4
                elif n == 127 and len(self.buf) >= 10:
                    n = struct.unpack("!Q", self.buf[2:10])[0]
                    off = 10
                if (b1 & 0x7F) < 126 or off > 2:
                    if len(self.buf) >= off + n:
                        payload = self.buf[off:off + n]
                        self.buf = self.buf[off + n:]
                        return b0 & 0x0F, payload
            if not self._fill(deadline):
                return None

    def recv_close(self, timeout=None):
        """The close code the server sent (skipping data and pongs); None at EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            f = self.recv_frame(timeout=max(0.01, deadline - time.monotonic()))
            if f is None:
                return None
            if f[0] == 0x8:
                return struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else 1005
        raise AssertionError("raw ws: no close frame in time")

    def eof(self, timeout=None):
        """True once the server closed the TCP connection."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if not self._fill(deadline):
                return True
        return False

    def mqtt(self, packet_bytes, frames=1):
        """Send MQTT bytes as binary frames (split into `frames` pieces)."""
        step = max(1, -(-len(packet_bytes) // frames))
        pieces = [packet_bytes[i:i + step] for i in range(0, len(packet_bytes), step)]
        for i, p in enumerate(pieces):
            self.send_frame(0x2 if i == 0 else 0x0, p, fin=(i == len(pieces) - 1))

    def read_mqtt(self, timeout=None):
        """The next whole MQTT packet from the binary frames: (first byte, body)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data = getattr(self, "mqtt_buf", b"")
        while True:
            if len(data) >= 2:
                mult, n, i = 1, 0, 1
                while i < len(data) and i < 5:
                    n += (data[i] & 0x7F) * mult
                    mult *= 128
                    if not data[i] & 0x80:
                        break
                    i += 1
                if i < len(data) and len(data) >= i + 1 + n:
                    self.mqtt_buf = data[i + 1 + n:]
                    return data[0], data[i + 1:i + 1 + n]
            f = self.recv_frame(timeout=max(0.01, deadline - time.monotonic()))
            assert f is not None, "raw ws: closed while waiting for an MQTT packet"
            if f[0] in (0x0, 0x2):
                data += f[1]
