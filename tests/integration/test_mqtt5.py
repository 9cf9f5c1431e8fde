"""MQTT 5.0 with real v5 clients (python3-paho-mqtt MQTTv5, mosquitto_pub/sub
-V mqttv5): properties passed through, 3.1.1 <-> 5.0 interop, reason codes,
subscription options, topic aliases, session and message expiry, receive
maximum, server DISCONNECT reasons, shared subscriptions, will delay,
enhanced authentication. Subscription identifiers are in
test_mqtt5_subid.py, shared subscription members leaving in
test_mqtt5_share_leave.py, Reason Strings in test_mqtt5_problem_info.py,
re-authentication in test_mqtt5_reauth.py."""

import queue
import socket
import struct
import time

import pytest

import tern_harness as h
import v5_raw

mqtt = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402


class V5:
    """A paho MQTTv5 client with a queue of received messages."""

    def __init__(self, port, client_id="", clean_start=True, expiry=None, recv_max=None):
        self.q = queue.Queue()
        self.connack = queue.Queue()
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.on_message = lambda c, u, m: self.q.put(m)
        self.c.on_connect = lambda c, u, f, rc, props=None: self.connack.put((f, rc, props))
        props = Properties(PacketTypes.CONNECT)
        if expiry is not None:
            props.SessionExpiryInterval = expiry
        if recv_max is not None:
            props.ReceiveMaximum = recv_max
        self.c.connect("127.0.0.1", port, keepalive=30, clean_start=clean_start,
                       properties=props)
        self.c.loop_start()
        self.flags, self.rc, self.props = self.connack.get(timeout=5)

    def sub(self, topic, qos=1, **opts):
        o = mqtt.SubscribeOptions(qos=qos, **opts)
        done = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, rcs, props=None: done.put(rcs)
        self.c.subscribe(topic, options=o)
        return done.get(timeout=5)

    def pub(self, topic, payload, qos=1, retain=False, props=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(timeout=5)
        return info

    def get(self, timeout=5):
        return self.q.get(timeout=timeout)

    def none(self, timeout=0.5):
        with pytest.raises(queue.Empty):
            self.q.get(timeout=timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def v5():
    made = []

    def make(br, **kw):
        c = V5(br.port, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.close()
        except Exception:
            pass


def test_connect_assigns_client_id(broker, v5):
    br = broker()
    c = v5(br)
    assert c.rc == 0
    assert getattr(c.props, "AssignedClientIdentifier", "").startswith("auto-")
    assert getattr(c.props, "SubscriptionIdentifierAvailable", 1) == 1  # absent = available
    assert getattr(c.props, "SharedSubscriptionAvailable", 1) == 1


def test_properties_pass_through_in_order(broker, v5):
    br = broker()
    s = v5(br)
    s.sub("p/#")
    p = v5(br)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("a", "1"), ("b", "2"), ("a", "3")]
    props.ContentType = "text/plain"
    props.ResponseTopic = "reply/here"
    props.CorrelationData = b"\x01\x02"
    props.PayloadFormatIndicator = 1
    p.pub("p/x", b"hi", props=props)
    m = s.get()
    assert m.payload == b"hi"
    assert m.properties.UserProperty == [("a", "1"), ("b", "2"), ("a", "3")]
    assert m.properties.ContentType == "text/plain"
    assert m.properties.ResponseTopic == "reply/here"
    assert m.properties.CorrelationData == b"\x01\x02"
    assert m.properties.PayloadFormatIndicator == 1


def test_v5_and_311_interoperate(broker, v5):
    br = broker()
    s5 = v5(br)
    s5.sub("i/#")
    s3 = h.SubProc(br.port, ["i/#"], qos=1)
    try:
        s3.wait_subscribed()
        p = v5(br)
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("k", "v")]
        p.pub("i/from5", b"five", props=props)
        h.mqtt_pub(br.port, "i/from3", "three", qos=1)
        got3 = s3.wait_messages(2)
        assert [(t, pl) for t, pl, *_ in got3] == [("i/from5", "five"), ("i/from3", "three")]
        m1, m2 = s5.get(), s5.get()
        assert (m1.topic, m1.payload) == ("i/from5", b"five")
        assert m1.properties.UserProperty == [("k", "v")]
        assert (m2.topic, m2.payload) == ("i/from3", b"three")
    finally:
        s3.close()


def test_puback_no_matching_subscribers(broker):
    br = broker()
    out = h.mqtt_pub(br.port, "nobody/listens", "x", qos=1, extra=("-V", "mqttv5", "-d"))
    text = (out.stdout or b"").decode() + (out.stderr or b"").decode()
    assert "RC:16" in text, text


def test_no_local_and_retain_as_published(broker, v5):
    br = broker()
    c = v5(br)
    c.sub("nl/t", noLocal=True)
    c.pub("nl/t", b"mine")
    c.none(0.5)  # [MQTT-3.8.3-3]
    c.sub("rap/t", retainAsPublished=True)
    other = v5(br)
    other.pub("rap/t", b"kept", retain=True)
    m = c.get()
    assert m.retain == 1  # [MQTT-3.3.1-12]


def test_retain_handling(broker, v5):
    br = broker()
    h.mqtt_pub(br.port, "rh/t", "r", qos=1, retain=True)
    c = v5(br)
    c.sub("rh/t", retainHandling=2)
    c.none(0.4)  # 2: never
    d = v5(br)
    d.sub("rh/t", retainHandling=1)
    assert d.get().payload == b"r"
    d.sub("rh/t", retainHandling=1)
    d.none(0.4)  # 1: not for an existing subscription


def _raw_v5_connect(port, client_id, props=b"", keepalive=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = h.enc_str("MQTT") + bytes([5, 0x02]) + struct.pack(">H", keepalive)
    body += h.enc_varint(len(props)) + props + h.enc_str(client_id)
    s.sendall(h.packet(1, 0, body))
    return s


def _read(s):
    """One packet: (type, body), or (None, b"") at EOF; waits as long as the
    socket's own timeout."""
    first, data = v5_raw.read(s, timeout=s.gettimeout())
    return (None if first is None else first >> 4), data


def test_topic_alias_inbound(broker, v5):
    br = broker()
    s = v5(br)
    s.sub("ta/#")
    raw = _raw_v5_connect(br.port, "alias-pub")
    assert _read(raw)[0] == 2
    # PUBLISH QoS 0 topic "ta/x" with Topic Alias 1, then by alias only
    props = bytes([0x23, 0, 1])
    raw.sendall(h.packet(3, 0, h.enc_str("ta/x") + h.enc_varint(len(props)) + props + b"one"))
    raw.sendall(h.packet(3, 0, h.enc_str("") + h.enc_varint(len(props)) + props + b"two"))
    m1, m2 = s.get(), s.get()
    assert (m1.topic, m1.payload, m2.topic, m2.payload) == ("ta/x", b"one", "ta/x", b"two")
    assert getattr(m1.properties, "TopicAlias", None) is None  # not forwarded
    # an alias over our maximum: DISCONNECT 0x94 [MQTT-3.3.2-9]
    bad = bytes([0x23, 0, 200])
    raw.sendall(h.packet(3, 0, h.enc_str("ta/y") + h.enc_varint(len(bad)) + bad + b"x"))
    t, body = _read(raw)
    assert t == 14 and body[0] == 0x94
    assert _props_of(body, 1)[0x1F] == b"topic alias invalid"  # Reason String
    raw.close()


def test_session_expiry(broker, v5):
    br = broker()
    a = v5(br, client_id="exp-0", clean_start=False, expiry=0)
    a.close()
    assert v5(br, client_id="exp-0", clean_start=False).flags["session present"] == 0
    b = v5(br, client_id="exp-60", clean_start=False, expiry=60)
    b.sub("se/t")
    b.close()
    h.mqtt_pub(br.port, "se/t", "queued", qos=1)
    b2 = v5(br, client_id="exp-60", clean_start=False, expiry=60)
    assert b2.flags["session present"] == 1
    assert b2.get().payload == b"queued"


def test_message_expiry_while_queued(broker, v5):
    br = broker()
    c = v5(br, client_id="mexp", clean_start=False, expiry=300)
    c.sub("me/#")
    c.close()
    p = v5(br)
    short = Properties(PacketTypes.PUBLISH)
    short.MessageExpiryInterval = 1
    long_ = Properties(PacketTypes.PUBLISH)
    long_.MessageExpiryInterval = 100
    p.pub("me/short", b"gone", props=short)
    p.pub("me/long", b"kept", props=long_)
    time.sleep(2.2)
    c2 = v5(br, client_id="mexp", clean_start=False, expiry=300)
    m = c2.get()
    assert (m.topic, m.payload) == ("me/long", b"kept")
    assert 90 <= m.properties.MessageExpiryInterval <= 100  # counted down [MQTT-3.3.2-6]
    c2.none(0.5)


def test_receive_maximum_one(broker, v5):
    """Flow control: with Receive Maximum 1 the broker has at most one
    unacknowledged QoS 1 PUBLISH towards the client [MQTT-3.3.4-9]."""
    br = broker()
    props = bytes([0x21, 0, 1])  # Receive Maximum 1
    raw = _raw_v5_connect(br.port, "rm1", props)
    assert _read(raw)[0] == 2
    # SUBSCRIBE pid 1, no props, "rm/t" QoS 1
    raw.sendall(h.packet(8, 2, struct.pack(">H", 1) + b"\x00" + h.enc_str("rm/t") + b"\x01"))
    assert _read(raw)[0] == 9
    for i in range(3):
        h.mqtt_pub(br.port, "rm/t", "m%d" % i, qos=1)
    t, body = _read(raw)
    assert t == 3
    raw.settimeout(0.5)
    with pytest.raises(socket.timeout):
        _read(raw)  # the second waits for our PUBACK
    raw.settimeout(5)
    tlen = struct.unpack(">H", body[:2])[0]
    pid = struct.unpack(">H", body[2 + tlen:4 + tlen])[0]
    raw.sendall(h.packet(4, 0, struct.pack(">H", pid)))
    assert _read(raw)[0] == 3
    raw.close()


def test_auth_method_refused_bad_authentication_method(broker):
    br = broker()
    props = bytes([0x15]) + h.enc_str("SCRAM-SHA-1")
    raw = _raw_v5_connect(br.port, "auth", props)
    t, body = _read(raw)
    assert t == 2 and body[1] == 0x8C  # [MQTT-4.12.0-1]
    assert 0x1F in _props_of(body, 2)  # with a Reason String
    raw.close()


def test_shared_subscription_one_member_per_message(broker, v5):
    br = broker()
    h.mqtt_pub(br.port, "sh/r", "kept", qos=1, retain=True)  # not sent to the group
    members = [v5(br) for _ in range(3)]
    for m in members:
        assert m.sub("$share/g/sh/#")[0].value == 1
    plain = v5(br)
    plain.sub("sh/#")
    for i in range(9):
        h.mqtt_pub(br.port, "sh/t", "m%d" % i, qos=1)
    got = []
    for m in members:
        mine = []
        while True:
            try:
                mine.append(m.get(timeout=1).payload)
            except queue.Empty:
                break
        got.append(mine)
    assert sorted(p for mine in got for p in mine) == sorted(b"m%d" % i for i in range(9))
    assert all(len(mine) == 3 for mine in got), got  # round robin
    assert len([plain.get() for _ in range(10)]) == 10  # the normal subscriber gets all


def test_unsuback_reason_codes(broker, v5):
    br = broker()
    c = v5(br)
    c.sub("u/a")
    done = queue.Queue()
    c.c.on_unsubscribe = lambda cl, u, mid, props, rcs: done.put(rcs)
    c.c.unsubscribe(["u/a", "u/never"])
    rcs = done.get(timeout=5)
    assert [r.value for r in rcs] == [0x00, 0x11]


def test_disconnect_with_will_message(broker, v5):
    br = broker()
    s = v5(br)
    s.sub("will/#")
    c = mqtt.Client(client_id="willer", protocol=mqtt.MQTTv5)
    c.will_set("will/willer", b"bye", qos=1)
    c.connect("127.0.0.1", br.port)
    c.loop_start()
    time.sleep(0.3)
    c.disconnect(reasoncode=mqtt.ReasonCodes(PacketTypes.DISCONNECT, identifier=4))
    c.loop_stop()
    assert s.get().payload == b"bye"  # 0x04: disconnect with will


def _raw_v5_connect_will(port, client_id, will_delay, expiry=60):
    """CONNECT (v5, clean start 0) with a session expiry and a will on
    will/<client_id> that has a Will Delay Interval."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    props = bytes([0x11]) + struct.pack(">I", expiry)
    wprops = bytes([0x18]) + struct.pack(">I", will_delay)
    body = h.enc_str("MQTT") + bytes([5, 0x04 | 0x08]) + struct.pack(">H", 30)  # will, QoS 1
    body += h.enc_varint(len(props)) + props + h.enc_str(client_id)
    body += h.enc_varint(len(wprops)) + wprops + h.enc_str("will/" + client_id) + h.enc_str("gone")
    s.sendall(h.packet(1, 0, body))
    t, b = _read(s)
    assert t == 2 and b[1] == 0, b
    return s


def test_will_delay(broker, v5):
    br = broker()
    w = v5(br)
    w.sub("will/#")
    s = _raw_v5_connect_will(br.port, "wd", will_delay=2)
    s.close()  # no DISCONNECT: the will is due in 2 s, not now
    w.none(1.0)
    m = w.get(timeout=3)
    assert (m.topic, m.payload) == ("will/wd", b"gone")
    assert getattr(m.properties, "WillDelayInterval", None) is None  # not forwarded


def test_will_delay_cancelled_by_reconnect(broker, v5):
    br = broker()
    w = v5(br)
    w.sub("will/#")
    s = _raw_v5_connect_will(br.port, "wdc", will_delay=2)
    s.close()
    time.sleep(0.5)
    again = v5(br, client_id="wdc", clean_start=False, expiry=60)
    assert again.flags["session present"] == 1
    w.none(2.5)  # [MQTT-3.1.3-9]


def test_will_delay_survives_restart(broker, v5):
    br = broker(persistence=True)
    s = _raw_v5_connect_will(br.port, "wdr", will_delay=3)
    s.close()
    time.sleep(0.5)  # the disconnect (with its waiting will) is committed
    br.restart()
    w = v5(br)
    w.sub("will/#")
    m = w.get(timeout=5)
    assert (m.topic, m.payload) == ("will/wdr", b"gone")


# ---- enhanced authentication: SCRAM-SHA-256 (RFC 5802 / 7677) ----

import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import subprocess  # noqa: E402


def _props_of(body, start):
    n, mult, i = 0, 1, start
    while True:
        b = body[i]
        n += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            break
    block, out, j = body[i:i + n], {}, 0
    while j < len(block):
        pid = block[j]
        j += 1
        if pid in (0x15, 0x16, 0x1F):  # method (str), data (bin), reason (str)
            ln = struct.unpack(">H", block[j:j + 2])[0]
            out[pid] = block[j + 2:j + 2 + ln]
            j += 2 + ln
        elif pid in (0x11, 0x27, 0x02):
            j += 4
        elif pid in (0x21, 0x22, 0x13):
            j += 2
        elif pid in (0x24, 0x25, 0x28, 0x29, 0x2A, 0x17, 0x19, 0x01):
            j += 1
        else:
            ln = struct.unpack(">H", block[j:j + 2])[0]
            j += 2 + ln
    return out


def _auth_props(method, data):
    p = bytes([0x15]) + h.enc_str(method)
    if data is not None:
        p += bytes([0x16]) + struct.pack(">H", len(data)) + data
    return p


def _scram_login(port, user, password, method="SCRAM-SHA-256"):
    """Run the exchange; returns (CONNACK reason code, server-final data)."""
    cnonce = base64.b64encode(b"tern-test-nonce!").decode()
    first_bare = "n=%s,r=%s" % (user, cnonce)
    raw = _raw_v5_connect(port, "scram-" + user, _auth_props(method, ("n,," + first_bare).encode()))
    t, body = _read(raw)
    if t == 2:
        return body[1], None
    assert t == 15 and body[0] == 0x18, (t, body)
    server_first = _props_of(body, 1)[0x16].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salt, iters, nonce = base64.b64decode(attrs["s"]), int(attrs["i"]), attrs["r"]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(ckey).digest()
    final_wo = "c=biws,r=%s" % nonce
    auth_msg = ",".join([first_bare, server_first, final_wo]).encode()
    sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(ckey, sig))).decode()
    final = ("%s,p=%s" % (final_wo, proof)).encode()
    props = _auth_props(method, final)
    raw.sendall(h.packet(15, 0, bytes([0x18]) + h.enc_varint(len(props)) + props))
    t, body = _read(raw)
    assert t == 2, (t, body)
    data = _props_of(body, 2).get(0x16) if body[1] == 0 else None
    if body[1] == 0:
        skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        want = base64.b64encode(hmac.new(skey, auth_msg, hashlib.sha256).digest())
        assert data == b"v=" + want  # the server proved it knows the verifier
    raw.close()
    return body[1], data


@pytest.fixture
def scram_broker(broker, tmp_path):
    line = subprocess.run([h.broker_bin(), "--scram-passwd", "alice"], input=b"s3cret\n",
                          stdout=subprocess.PIPE, check=True, timeout=10).stdout
    path = tmp_path / "scram"
    path.write_bytes(line)
    return broker("scram_file %s" % path)


@pytest.mark.tern_only
def test_scram_sha256_exchange(scram_broker):
    rc, data = _scram_login(scram_broker.port, "alice", "s3cret")
    assert rc == 0 and data.startswith(b"v=")


@pytest.mark.tern_only
def test_scram_wrong_password_and_unknown_user_refused_alike(scram_broker):
    assert _scram_login(scram_broker.port, "alice", "wrong")[0] == 0x87
    assert _scram_login(scram_broker.port, "mallory", "s3cret")[0] == 0x87


@pytest.mark.tern_only
def test_unknown_method_bad_authentication_method(scram_broker):
    assert _scram_login(scram_broker.port, "alice", "s3cret", method="KERBEROS")[0] == 0x8C


def test_message_expiry_across_restart(broker, v5):
    """Message expiry is honoured across a restart (the durable-storage
    issue): the interval keeps counting on the wall clock while tern is
    down, so a short-lived message is gone and a long-lived one arrives
    with its remaining interval."""
    br = broker(persistence=True)
    c = v5(br, client_id="mexp-r", clean_start=False, expiry=300)
    c.sub("mr/#")
    c.close()
    p = v5(br)
    short = Properties(PacketTypes.PUBLISH)
    short.MessageExpiryInterval = 2
    long_ = Properties(PacketTypes.PUBLISH)
    long_.MessageExpiryInterval = 100
    p.pub("mr/short", b"gone", props=short)
    p.pub("mr/long", b"kept", props=long_)
    p.close()
    br.restart()
    time.sleep(2.5)
    c2 = v5(br, client_id="mexp-r", clean_start=False, expiry=300)
    assert c2.flags["session present"] == 1
    m = c2.get()
    assert (m.topic, m.payload) == ("mr/long", b"kept")
    assert 90 <= m.properties.MessageExpiryInterval <= 99  # stored in whole wall-clock seconds
    c2.none(0.5)


def test_topic_alias_outbound(broker):
    """The broker assigns topic aliases when the client allows them: the
    first PUBLISH carries topic + alias, later ones an empty topic."""
    br = broker()
    raw = _raw_v5_connect(br.port, "alias-sub", bytes([0x22, 0, 4]))  # Topic Alias Maximum 4
    assert _read(raw)[0] == 2
    raw.sendall(h.packet(8, 2, struct.pack(">H", 1) + b"\x00" + h.enc_str("ao/t") + b"\x00"))
    assert _read(raw)[0] == 9
    for i in range(2):
        h.mqtt_pub(br.port, "ao/t", "m%d" % i)
    seen = []
    for _ in range(2):
        t, body = _read(raw)
        assert t == 3
        tlen = struct.unpack(">H", body[:2])[0]
        topic = body[2:2 + tlen]
        props_len = body[2 + tlen]
        props = body[3 + tlen:3 + tlen + props_len]
        assert props[:1] == b"\x23"
        seen.append((topic, struct.unpack(">H", props[1:3])[0], body[3 + tlen + props_len:]))
    assert seen[0] == (b"ao/t", 1, b"m0")
    assert seen[1] == (b"", 1, b"m1")  # [MQTT-3.3.2-12]
    raw.close()


def test_qos2_to_durable_v5_session_waits_for_commit(broker, v5):
    """QoS 2 to a durable session is sent after its state is on disk; the
    deferred PUBLISH must still be a valid v5 packet with its properties."""
    br = broker(persistence=True)
    c = v5(br, client_id="dq2", clean_start=False, expiry=60)
    c.sub("dq/#", qos=2)
    p = v5(br)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k", "v")]
    for i in range(3):
        p.pub("dq/t", b"x%d" % i, qos=2, props=props)
    got = [c.get() for _ in range(3)]
    assert [m.payload for m in got] == [b"x0", b"x1", b"x2"]
    assert all(m.qos == 2 and m.properties.UserProperty == [("k", "v")] for m in got)
