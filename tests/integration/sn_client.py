"""A small MQTT-SN 1.2 client over UDP for the integration tests.

Encodes and decodes the messages the tests need (section numbers are
MQTT-SN 1.2). Every wait has a deadline. Not a full client: no retries; the
test drives each step (sleeping too) and sees every message the gateway sends.
"""

import socket
import struct
import time

ADVERTISE, SEARCHGW, GWINFO = 0x00, 0x01, 0x02
CONNECT, CONNACK = 0x04, 0x05
WILLTOPICREQ, WILLTOPIC, WILLMSGREQ, WILLMSG = 0x06, 0x07, 0x08, 0x09
REGISTER, REGACK = 0x0A, 0x0B
PUBLISH, PUBACK, PUBCOMP, PUBREC, PUBREL = 0x0C, 0x0D, 0x0E, 0x0F, 0x10
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 0x12, 0x13, 0x14, 0x15
PINGREQ, PINGRESP, DISCONNECT = 0x16, 0x17, 0x18
ENCAPSULATED = 0xFE

RC_ACCEPTED, RC_CONGESTION, RC_INVALID_TOPIC_ID, RC_NOT_SUPPORTED = 0, 1, 2, 3
TOPIC_NORMAL, TOPIC_PREDEFINED, TOPIC_SHORT = 0, 1, 2


def free_udp_port(host="127.0.0.1"):
    """A UDP port that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def frame(msg_type, body=b""):
    """Length + MsgType + body, with the 3-octet length form when needed (§5.2.1)."""
    n = 2 + len(body)
    if n <= 255:
        return bytes([n, msg_type]) + body
    return b"\x01" + struct.pack(">H", n + 2) + bytes([msg_type]) + body


def encapsulate(node_id, inner, radius=0):
    """Encapsulated Message (§5.5): Length, 0xFE, Ctrl, Wireless Node Id, inner."""
    return bytes([3 + len(node_id), ENCAPSULATED, radius]) + node_id + inner


def flags(dup=False, qos=0, retain=False, will=False, clean=False, topic_type=0):
    q = 3 if qos == -1 else qos
    return ((0x80 if dup else 0) | (q << 5) | (0x10 if retain else 0) |
            (0x08 if will else 0) | (0x04 if clean else 0) | topic_type)


def parse(data):
    """Decode one datagram into a dict with 'type' and the fields the tests use."""
    if data[0] == 1:
        n = struct.unpack(">H", data[1:3])[0]
        t, body = data[3], data[4:n]
    else:
        n = data[0]
        t, body = data[1], data[2:n]
    m = {"type": t, "raw": data}
    if t == CONNACK:
        m["rc"] = body[0]
    elif t == ADVERTISE:
        m["gw_id"] = body[0]
        m["duration"] = struct.unpack(">H", body[1:3])[0]
    elif t == GWINFO:
        m["gw_id"] = body[0]
        m["addr"] = body[1:]
    elif t == REGISTER:
        m["topic_id"], m["msg_id"] = struct.unpack(">HH", body[:4])
        m["topic"] = body[4:].decode()
    elif t in (REGACK, PUBACK):
        m["topic_id"], m["msg_id"] = struct.unpack(">HH", body[:4])
        m["rc"] = body[4]
    elif t == PUBLISH:
        f = body[0]
        m["dup"] = bool(f & 0x80)
        q = (f >> 5) & 3
        m["qos"] = -1 if q == 3 else q
        m["retain"] = bool(f & 0x10)
        m["topic_type"] = f & 3
        m["topic_id"], m["msg_id"] = struct.unpack(">HH", body[1:5])
        m["short"] = body[1:3]
        m["data"] = body[5:]
    elif t in (PUBREC, PUBREL, PUBCOMP, UNSUBACK):
        m["msg_id"] = struct.unpack(">H", body[:2])[0]
    elif t == SUBACK:
        m["qos"] = (body[0] >> 5) & 3
        m["topic_id"], m["msg_id"] = struct.unpack(">HH", body[1:5])
        m["rc"] = body[5]
    elif t == DISCONNECT:
        m["duration"] = struct.unpack(">H", body)[0] if len(body) == 2 else None
    return m


class SNClient:
    """One MQTT-SN client on its own UDP socket."""

    def __init__(self, port, host="127.0.0.1", client_id="sn-test", timeout=5.0, node_id=None,
                 sock=None):
        """node_id: talk as a wireless node behind a forwarder (§5.5): every
        message goes out encapsulated with it and every answer must come back
        encapsulated with it. sock: a socket to share (the forwarder's)."""
        self.addr = (host, port)
        self.client_id = client_id
        self.timeout = timeout
        self.node_id = node_id
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.next_id = 1
        self.topics = {}     # topic id -> name (ours and the gateway's REGISTERs)
        self.pending = []    # received messages not consumed yet

    def close(self):
        self.sock.close()

    def msg_id(self):
        i = self.next_id
        self.next_id = i % 65535 + 1
        return i

    # -- raw I/O ---------------------------------------------------------
    def send_raw(self, data):
        if self.node_id is not None:
            data = encapsulate(self.node_id, data)
        self.sock.sendto(data, self.addr)

    def _parse(self, data):
        """parse() after unwrapping a forwarder's encapsulation (§5.5)."""
        if self.node_id is None:
            assert data[1] != ENCAPSULATED, "encapsulated answer to a plain client"
            return parse(data)
        assert data[1] == ENCAPSULATED, "answer not encapsulated: %r" % data
        n = data[0]
        assert data[2] == 0, "Ctrl %d" % data[2]
        assert data[3:n] == self.node_id, "answer for node %r" % data[3:n]
        return parse(data[n:])

    def send(self, msg_type, body=b""):
        self.send_raw(frame(msg_type, body))

    def recv_any(self, timeout=None):
        """Next message from the gateway (pending ones first), or None on timeout."""
        if self.pending:
            return self.pending.pop(0)
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            data, _ = self.sock.recvfrom(70000)
        except socket.timeout:
            return None
        return self._parse(data)

    def expect(self, msg_type, timeout=None, auto_regack=True):
        """Wait for a message of msg_type; others are kept for later.

        Gateway REGISTERs met on the way are answered with REGACK (accepted)
        and remembered, unless auto_regack is False."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("MQTT-SN: no message type 0x%02x within timeout; "
                                         "got %r" % (msg_type, [m["type"] for m in skipped]))
                if self.pending:
                    m = self.pending.pop(0)
                else:
                    self.sock.settimeout(left)
                    try:
                        data, _ = self.sock.recvfrom(70000)
                    except socket.timeout:
                        continue
                    m = self._parse(data)
                if m["type"] == REGISTER and auto_regack and msg_type != REGISTER:
                    self.topics[m["topic_id"]] = m["topic"]
                    self.send(REGACK, struct.pack(">HHB", m["topic_id"], m["msg_id"], 0))
                    continue
                if m["type"] == msg_type:
                    return m
                skipped.append(m)
        finally:
            self.pending = skipped + self.pending

    def expect_nothing(self, timeout=0.5):
        m = self.recv_any(timeout)
        assert m is None, "unexpected message %r" % m

    # -- protocol steps -------------------------------------------------
    def searchgw(self, radius=0):
        self.send(SEARCHGW, bytes([radius]))
        return self.expect(GWINFO)

    def connect(self, clean=True, duration=60, will=None, expect_rc=0):
        """CONNECT; will = (topic, payload, qos, retain) runs the will flow."""
        f = flags(clean=clean, will=will is not None)
        self.send(CONNECT, bytes([f, 0x01]) + struct.pack(">H", duration) +
                  self.client_id.encode())
        if will is not None:
            topic, payload, qos, retain = will
            self.expect(WILLTOPICREQ)
            self.send(WILLTOPIC, bytes([flags(qos=qos, retain=retain)]) + topic.encode())
            self.expect(WILLMSGREQ)
            self.send(WILLMSG, payload if isinstance(payload, bytes) else payload.encode())
        m = self.expect(CONNACK)
        assert m["rc"] == expect_rc, "CONNACK rc %d, expected %d" % (m["rc"], expect_rc)
        return m

    def register(self, topic):
        mid = self.msg_id()
        self.send(REGISTER, struct.pack(">HH", 0, mid) + topic.encode())
        m = self.expect(REGACK)
        assert m["msg_id"] == mid
        if m["rc"] == 0:
            self.topics[m["topic_id"]] = topic
        return m

    def publish_raw(self, topic_id, data, qos=0, topic_type=TOPIC_NORMAL, retain=False,
                    msg_id=None, dup=False):
        """Send a PUBLISH; topic_id is an int, or 2 bytes/str for a short name."""
        if isinstance(topic_id, str):
            topic_id = topic_id.encode()
        tid = topic_id if isinstance(topic_id, bytes) else struct.pack(">H", topic_id)
        if msg_id is None:
            msg_id = self.msg_id() if qos in (1, 2) else 0
        data = data if isinstance(data, bytes) else data.encode()
        self.send(PUBLISH, bytes([flags(dup=dup, qos=qos, retain=retain, topic_type=topic_type)])
                  + tid + struct.pack(">H", msg_id) + data)
        return msg_id

    def publish(self, topic_id, data, qos=0, topic_type=TOPIC_NORMAL, retain=False):
        """Publish and complete the QoS flow; returns the PUBACK for QoS 1."""
        mid = self.publish_raw(topic_id, data, qos, topic_type, retain)
        if qos == 1:
            return self.expect(PUBACK)
        if qos == 2:
            rec = self.expect(PUBREC)
            assert rec["msg_id"] == mid
            self.send(PUBREL, struct.pack(">H", mid))
            comp = self.expect(PUBCOMP)
            assert comp["msg_id"] == mid
            return comp
        return None

    def subscribe(self, topic, qos=0, topic_type=None):
        """SUBSCRIBE by name (or short name when topic_type is TOPIC_SHORT)."""
        mid = self.msg_id()
        if topic_type is None:
            topic_type = TOPIC_NORMAL
        self.send(SUBSCRIBE, bytes([flags(qos=qos, topic_type=topic_type)]) +
                  struct.pack(">H", mid) + topic.encode())
        m = self.expect(SUBACK)
        assert m["msg_id"] == mid
        if m["rc"] == 0 and m["topic_id"]:
            self.topics[m["topic_id"]] = topic
        return m

    def subscribe_predefined(self, topic_id, qos=0):
        """SUBSCRIBE to a predefined topic id (§6.9)."""
        mid = self.msg_id()
        self.send(SUBSCRIBE, bytes([flags(qos=qos, topic_type=TOPIC_PREDEFINED)]) +
                  struct.pack(">HH", mid, topic_id))
        m = self.expect(SUBACK)
        assert m["msg_id"] == mid
        return m

    def unsubscribe(self, topic, topic_type=TOPIC_NORMAL):
        mid = self.msg_id()
        self.send(UNSUBSCRIBE, bytes([flags(topic_type=topic_type)]) + struct.pack(">H", mid) +
                  topic.encode())
        return self.expect(UNSUBACK)

    def receive_publish(self, timeout=None):
        """Next PUBLISH from the gateway, acknowledged per its QoS; returns
        (topic name, payload bytes, qos, message dict)."""
        m = self.expect(PUBLISH, timeout)
        if m["topic_type"] == TOPIC_SHORT:
            name = m["short"].decode()
        else:
            name = self.topics.get(m["topic_id"])
        if m["qos"] == 1:
            self.send(PUBACK, struct.pack(">HHB", m["topic_id"], m["msg_id"], 0))
        elif m["qos"] == 2:
            self.send(PUBREC, struct.pack(">H", m["msg_id"]))
            rel = self.expect(PUBREL)
            assert rel["msg_id"] == m["msg_id"]
            self.send(PUBCOMP, struct.pack(">H", m["msg_id"]))
        return name, m["data"], m["qos"], m

    def ping(self):
        self.send(PINGREQ)
        return self.expect(PINGRESP)

    def disconnect(self):
        self.send(DISCONNECT)
        return self.expect(DISCONNECT)

    def sleep(self, duration):
        """DISCONNECT with a Duration: asleep for duration seconds (§6.14)."""
        self.send(DISCONNECT, struct.pack(">H", duration))
        return self.expect(DISCONNECT)

    def wake(self, max_msgs=100, timeout=None):
        """PINGREQ with our client id (§6.14): collect what the gateway sends
        until PINGRESP, answering REGISTER with REGACK and acknowledging each
        PUBLISH (QoS 2 flow too). Returns [(topic name, payload, qos, msg)]
        in the order received; fails if the PINGRESP does not come."""
        self.send(PINGREQ, self.client_id.encode())
        self.registers_seen = 0
        got = []
        for _ in range(max_msgs + 1):
            m = self.recv_any(timeout)
            assert m is not None, "MQTT-SN: no PINGRESP after %d messages" % len(got)
            if m["type"] == PINGRESP:
                return got
            if m["type"] == REGISTER:
                self.registers_seen += 1
                self.topics[m["topic_id"]] = m["topic"]
                self.send(REGACK, struct.pack(">HHB", m["topic_id"], m["msg_id"], 0))
            elif m["type"] == PUBLISH:
                self.pending.insert(0, m)
                got.append(self.receive_publish(timeout))
            elif m["type"] == PUBREL:
                self.send(PUBCOMP, struct.pack(">H", m["msg_id"]))
        raise AssertionError("MQTT-SN: more than %d messages before PINGRESP" % max_msgs)
