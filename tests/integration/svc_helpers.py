"""Small helpers shared by the session-service tests (issue 10):
test_svc_quota.py, test_identity.py, test_will_acl.py,
test_mqttsn_qosm1_auth.py, test_acl_share.py, test_mqtt5_expiry.py and
test_mqtt5_receive_max.py.

Only what tern_harness.py, sn_client.py and v5_raw.py do not have: MQTT 5
CONNECT with credentials and a will, reason codes of v5 acks, password
files with chosen users, the MQTT-SN will flow that may be refused early,
and draining a subscriber whose message count is not known in advance.
Every wait has a deadline.
"""

import os
import struct
import subprocess
import time

import sn_client as sn
import tern_harness as h
import v5_raw

# MQTT 5 property ids used here
SESSION_EXPIRY = 0x11
RECEIVE_MAXIMUM = 0x21


def make_password_file(path, users):
    """Write a mosquitto_passwd file at path with users {name: password}."""
    path = str(path)
    first = True
    for user, pw in users.items():
        args = ["mosquitto_passwd"] + (["-c"] if first else []) + ["-b", path, user, pw]
        subprocess.run(args, check=True, timeout=10, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first = False
    return path


def write_file(path, text):
    with open(str(path), "w") as f:
        f.write(text)
    return str(path)


# --------------------------------------------------------------------------
# MQTT 5 on a RawClient
# --------------------------------------------------------------------------

def v5_connect_packet(client_id, clean=True, keepalive=60, props=b"", username=None,
                      password=None, will=None, will_props=b""):
    """MQTT 5 CONNECT. will = (topic, payload, qos, retain)."""
    f = 0x02 if clean else 0
    payload = h.enc_str(client_id)
    if will:
        wt, wp, wq, wr = will
        f |= 0x04 | (wq << 3) | (0x20 if wr else 0)
        payload += h.enc_varint(len(will_props)) + will_props + h.enc_str(wt) + h.enc_str(wp)
    if username is not None:
        f |= 0x80
        payload += h.enc_str(username)
    if password is not None:
        f |= 0x40
        payload += h.enc_str(password)
    body = (h.enc_str("MQTT") + bytes([5, f]) + struct.pack("!H", keepalive)
            + h.enc_varint(len(props)) + props + payload)
    return h.packet(h.CONNECT, 0, body)


def session_expiry_prop(seconds):
    return bytes([SESSION_EXPIRY]) + struct.pack(">I", seconds)


def connack_props(pkt):
    """Decoded property list of a v5 CONNACK Packet: [(id, value)]."""
    return v5_raw.props(pkt.body, 2)[0]


def v5_reason(pkt):
    """Reason code of a v5 PUBACK / PUBREC / PUBCOMP (absent = 0)."""
    return pkt.body[2] if len(pkt.body) > 2 else 0


def v5_publish_packet(topic, payload, qos=0, pid=None, retain=False, dup=False, props=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    body = h.enc_str(topic)
    if qos:
        body += struct.pack("!H", pid)
    body += h.enc_varint(len(props)) + props + payload
    return h.packet(h.PUBLISH, flags, body)


def v5_subscribe_packet(pid, filters, props=b""):
    """filters: [(filter, options byte)] (options: QoS in bits 0-1)."""
    body = struct.pack("!H", pid) + h.enc_varint(len(props)) + props
    for f, o in filters:
        body += h.enc_str(f) + bytes([o])
    return h.packet(h.SUBSCRIBE, 2, body)


def v5_suback_reasons(pkt):
    """The reason codes of a v5 SUBACK Packet."""
    _, i = v5_raw.props(pkt.body, 2)
    return list(pkt.body[i:])


def v5_ack_packet(ptype, pid, reason=None):
    body = struct.pack("!H", pid) + (bytes([reason, 0]) if reason is not None else b"")
    return h.packet(ptype, 0x02 if ptype == h.PUBREL else 0, body)


def v5_publish_fields(pkt):
    """topic, qos, pid and payload of a v5 PUBLISH Packet."""
    first = bytes([pkt.first])[0]
    return v5_raw.parse_publish(first, pkt.body)


def v5_recv_publish(c, timeout=5):
    """Next v5 PUBLISH on RawClient c, acknowledged (QoS 1 / 2); returns
    v5_raw.parse_publish's dict."""
    p = c.expect(h.PUBLISH, timeout)
    d = v5_publish_fields(p)
    if d["qos"] == 1:
        c.send(h.ack_packet(h.PUBACK, d["pid"]))
    elif d["qos"] == 2:
        c.send(h.ack_packet(h.PUBREC, d["pid"]))
        c.expect(h.PUBREL, pid=d["pid"])
        c.send(h.ack_packet(h.PUBCOMP, d["pid"]))
    return d


def v5_client(port, client_id, expect_rc=0, **kw):
    """A RawClient connected as MQTT 5; returns (client, CONNACK Packet)."""
    c = h.RawClient(port)
    c.send(v5_connect_packet(client_id, **kw))
    ack = c.expect(h.CONNACK)
    if expect_rc is not None:
        assert ack.rc == expect_rc, "v5 CONNACK reason 0x%02x, expected 0x%02x" % (
            ack.rc, expect_rc)
    return c, ack


# --------------------------------------------------------------------------
# Subscribers whose message count is not known in advance
# --------------------------------------------------------------------------

def drain_raw(c, want=None, quiet=2.0, deadline=60.0, key=lambda p: p.payload):
    """Receive (and acknowledge) PUBLISHes on RawClient c until every key in
    `want` has arrived, or nothing came for `quiet` seconds, or `deadline`
    seconds passed. Returns the list of keys in arrival order."""
    got = []
    seen = set()
    end = time.monotonic() + deadline
    want = set(want) if want is not None else None
    while time.monotonic() < end:
        if want is not None and want <= seen:
            break
        try:
            p = c.recv_publish(timeout=min(quiet, max(end - time.monotonic(), 0.01)))
        except AssertionError:
            break  # quiet for `quiet` seconds (or closed)
        k = key(p)
        got.append(k)
        seen.add(k)
    return got


# --------------------------------------------------------------------------
# MQTT-SN
# --------------------------------------------------------------------------

def sn_connect_will(c, topic, payload=b"gone", qos=1, retain=False, clean=True, duration=60,
                    timeout=5.0):
    """CONNECT with the will flag (MQTT-SN 1.2 section 6.3). The gateway may
    refuse at any step: returns the CONNACK return code, whether it came
    after WILLTOPIC or after WILLMSG."""
    return sn_connect_will_stage(c, topic, payload, qos, retain, clean, duration, timeout)[0]


def sn_connect_will_stage(c, topic, payload=b"gone", qos=1, retain=False, clean=True,
                          duration=60, timeout=5.0):
    """sn_connect_will, also telling after which of our messages the CONNACK
    came: returns (return code, "CONNECT" | "WILLTOPIC" | "WILLMSG")."""
    f = sn.flags(clean=clean, will=True)
    c.send(sn.CONNECT, bytes([f, 0x01]) + struct.pack(">H", duration) + c.client_id.encode())
    m = _sn_next(c, (sn.WILLTOPICREQ, sn.CONNACK), timeout)
    if m["type"] == sn.CONNACK:
        return m["rc"], "CONNECT"
    c.send(sn.WILLTOPIC, bytes([sn.flags(qos=qos, retain=retain)]) + topic.encode())
    m = _sn_next(c, (sn.WILLMSGREQ, sn.CONNACK), timeout)
    if m["type"] == sn.CONNACK:
        return m["rc"], "WILLTOPIC"
    c.send(sn.WILLMSG, payload if isinstance(payload, bytes) else payload.encode())
    return _sn_next(c, (sn.CONNACK,), timeout)["rc"], "WILLMSG"


def sn_connect_rc(c, clean=True, duration=60, timeout=5.0):
    """CONNECT without a will; returns the CONNACK return code."""
    f = sn.flags(clean=clean)
    c.send(sn.CONNECT, bytes([f, 0x01]) + struct.pack(">H", duration) + c.client_id.encode())
    return _sn_next(c, (sn.CONNACK,), timeout)["rc"]


def _sn_next(c, types, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "MQTT-SN: none of %r within %.1fs" % ([hex(t) for t in types], timeout)
        m = c.recv_any(left)
        if m is None:
            continue
        if m["type"] in types:
            return m
        c.pending.append(m)


def wait_gwinfo(port, timeout=5.0):
    """The UDP listener is bound once it answers SEARCHGW."""
    probe = sn.SNClient(port, timeout=0.2)
    try:
        h.wait_until(lambda: probe.send(sn.SEARCHGW, b"\x00") or probe.recv_any(0.2),
                     timeout=timeout, msg="GWINFO from the MQTT-SN listener")
    finally:
        probe.close()


def sn_listener(port, extra=""):
    return "listener %d 127.0.0.1\nprotocol mqttsn\n%s" % (port, extra)


def log_count(br, text):
    return br.log().count(text)


def here(*parts):
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), *parts)
