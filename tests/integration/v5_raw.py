"""Byte-level MQTT 5 helpers for tests that look at properties the clients
hide (Subscription Identifiers, Reason Strings): connect, read one packet,
decode a property block completely, build SUBSCRIBE / PUBLISH with
properties."""

import socket
import struct

import tern_harness as h

# property id -> type: b byte, h u16, i u32, v varint, s string, d binary, p pair
PROP_TYPES = {
    0x01: "b", 0x02: "i", 0x03: "s", 0x08: "s", 0x09: "d", 0x0B: "v", 0x11: "i", 0x12: "s",
    0x13: "h", 0x15: "s", 0x16: "d", 0x17: "b", 0x18: "i", 0x19: "b", 0x1A: "s", 0x1C: "s",
    0x1F: "s", 0x21: "h", 0x22: "h", 0x23: "h", 0x24: "b", 0x25: "b", 0x26: "p", 0x27: "i",
    0x28: "b", 0x29: "b", 0x2A: "b",
}
REASON_STRING = 0x1F
USER_PROPERTY = 0x26
SUBSCRIPTION_ID = 0x0B


def varint(buf, i):
    """Decode a variable byte integer at buf[i]: (value, next index)."""
    n, mult = 0, 1
    while True:
        b = buf[i]
        i += 1
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return n, i


def props(buf, i):
    """Decode the property block at buf[i]: (list of (id, value), next index)."""
    n, i = varint(buf, i)
    end, out = i + n, []
    while i < end:
        pid = buf[i]
        i += 1
        t = PROP_TYPES[pid]
        if t == "b":
            out.append((pid, buf[i]))
            i += 1
        elif t == "h":
            out.append((pid, struct.unpack(">H", buf[i:i + 2])[0]))
            i += 2
        elif t == "i":
            out.append((pid, struct.unpack(">I", buf[i:i + 4])[0]))
            i += 4
        elif t == "v":
            v, i = varint(buf, i)
            out.append((pid, v))
        elif t in "sd":
            ln = struct.unpack(">H", buf[i:i + 2])[0]
            out.append((pid, bytes(buf[i + 2:i + 2 + ln])))
            i += 2 + ln
        else:
            k = struct.unpack(">H", buf[i:i + 2])[0]
            key = bytes(buf[i + 2:i + 2 + k])
            i += 2 + k
            ln = struct.unpack(">H", buf[i:i + 2])[0]
            out.append((pid, (key, bytes(buf[i + 2:i + 2 + ln]))))
            i += 2 + ln
    assert i == end, "property block overran"
    return out, end


def ids_of(plist, pid):
    return [v for k, v in plist if k == pid]


def connect(port, client_id, prop_bytes=b"", keepalive=30, clean=True, expect=0):
    """Connect as MQTT 5; returns (socket, CONNACK properties)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = h.enc_str("MQTT") + bytes([5, 0x02 if clean else 0]) + struct.pack(">H", keepalive)
    body += h.enc_varint(len(prop_bytes)) + prop_bytes + h.enc_str(client_id)
    s.sendall(h.packet(1, 0, body))
    first, data = read(s)
    assert first >> 4 == 2, (first, data)
    assert data[1] == expect, data
    return s, props(data, 2)[0]


def read(s, timeout=5):
    """One packet: (first byte, body) or (None, b"") at EOF."""
    s.settimeout(timeout)
    hdr = s.recv(1)
    if not hdr:
        return None, b""
    mult, rl = 1, 0
    while True:
        b = s.recv(1)[0]
        rl += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    data = b""
    while len(data) < rl:
        chunk = s.recv(rl - len(data))
        if not chunk:
            raise EOFError("connection closed mid-packet")
        data += chunk
    return hdr[0], data


def read_type(s, ptype, timeout=5):
    """Read until a packet of type ptype arrives; returns (first byte, body)."""
    while True:
        first, body = read(s, timeout)
        assert first is not None, "closed while waiting for type %d" % ptype
        if first >> 4 == ptype:
            return first, body


def parse_publish(first, body):
    """A PUBLISH body: dict with topic, qos, dup, pid, props, payload."""
    qos = (first >> 1) & 3
    tlen = struct.unpack(">H", body[:2])[0]
    topic, i = body[2:2 + tlen], 2 + tlen
    pid = None
    if qos:
        pid = struct.unpack(">H", body[i:i + 2])[0]
        i += 2
    plist, i = props(body, i)
    return {"topic": topic, "qos": qos, "dup": bool(first & 8), "pid": pid, "props": plist,
            "payload": body[i:]}


def subscribe(s, pid, filters, prop_bytes=b""):
    """filters: list of (filter, options byte)."""
    body = struct.pack(">H", pid) + h.enc_varint(len(prop_bytes)) + prop_bytes
    for f, o in filters:
        body += h.enc_str(f) + bytes([o])
    s.sendall(h.packet(8, 2, body))


def sub_id_prop(n):
    return bytes([SUBSCRIPTION_ID]) + h.enc_varint(n)


def publish(s, topic, payload, qos=0, pid=None, prop_bytes=b""):
    body = h.enc_str(topic)
    if qos:
        body += struct.pack(">H", pid)
    body += h.enc_varint(len(prop_bytes)) + prop_bytes + payload
    s.sendall(h.packet(3, qos << 1, body))


def ack(s, ptype, pid, rc=None):
    body = struct.pack(">H", pid) + (bytes([rc, 0]) if rc is not None else b"")
    s.sendall(h.packet(ptype, 2 if ptype == 6 else 0, body))


def disconnect(s, rc=0):
    s.sendall(h.packet(14, 0, bytes([rc, 0])))
