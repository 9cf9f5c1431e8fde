"""MQTT 5 re-authentication (section 4.12.1) with SCRAM-SHA-256 on a live
connection: AUTH 0x19 starts it, the exchange runs as at CONNECT, AUTH 0x00
ends it and the connection goes on; a failure gets DISCONNECT 0x87 and the
connection closes [MQTT-4.12.1-2]; another method than the CONNECT's is a
Protocol Error [MQTT-4.12.0-5] (0x82)."""

import base64
import hashlib
import hmac
import socket
import struct

import pytest

import tern_harness as h
import v5_raw as r
from test_mqtt5 import _auth_props, scram_broker  # noqa: F401 (fixture)

METHOD = "SCRAM-SHA-256"
AUTH_METHOD, AUTH_DATA = 0x15, 0x16

pytestmark = pytest.mark.tern_only


class Scram:
    """The client side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677)."""

    def __init__(self, user, password, nonce=b"tern-reauth-nonce"):
        self.user, self.password = user, password
        self.cnonce = base64.b64encode(nonce).decode()
        self.first_bare = "n=%s,r=%s" % (user, self.cnonce)

    def client_first(self):
        return ("n,," + self.first_bare).encode()

    def client_final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.cnonce)
        salt, iters = base64.b64decode(attrs["s"]), int(attrs["i"])
        self.salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iters)
        ckey = hmac.new(self.salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(ckey).digest()
        final_wo = "c=biws,r=%s" % attrs["r"]
        self.auth_msg = ",".join([self.first_bare, server_first, final_wo]).encode()
        sig = hmac.new(stored, self.auth_msg, hashlib.sha256).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(ckey, sig))).decode()
        return ("%s,p=%s" % (final_wo, proof)).encode()

    def server_final_ok(self, data):
        skey = hmac.new(self.salted, b"Server Key", hashlib.sha256).digest()
        want = base64.b64encode(hmac.new(skey, self.auth_msg, hashlib.sha256).digest())
        return data == b"v=" + want


def _send_auth(s, rc, method, data):
    props = _auth_props(method, data)
    s.sendall(h.packet(15, 0, bytes([rc]) + h.enc_varint(len(props)) + props))


def _auth_reply(s):
    """Next AUTH or DISCONNECT: (type, reason code, properties dict)."""
    while True:
        first, body = r.read(s)
        assert first is not None, "connection closed"
        t = first >> 4
        if t in (14, 15):
            rc = body[0] if body else 0
            plist = r.props(body, 1)[0] if len(body) > 1 else []
            return t, rc, dict(plist)


def _login(port, cid, user="alice", password="s3cret"):
    """CONNECT with SCRAM-SHA-256; returns the connected socket."""
    sc = Scram(user, password)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    props = _auth_props(METHOD, sc.client_first())
    body = h.enc_str("MQTT") + bytes([5, 0x02]) + struct.pack(">H", 30)
    body += h.enc_varint(len(props)) + props + h.enc_str(cid)
    s.sendall(h.packet(1, 0, body))
    t, rc, p = _auth_reply(s)
    assert (t, rc) == (15, 0x18)
    _send_auth(s, 0x18, METHOD, sc.client_final(p[AUTH_DATA]))
    first, body = r.read(s)
    assert first >> 4 == 2 and body[1] == 0, body
    assert sc.server_final_ok(dict(r.props(body, 2)[0])[AUTH_DATA])
    return s


def _works(s, topic):
    """The connection still subscribes and receives."""
    r.subscribe(s, 9, [(topic, 1)])
    r.read_type(s, 9)
    r.publish(s, topic, b"still here", qos=0)
    assert r.parse_publish(*r.read_type(s, 3))["payload"] == b"still here"


def test_reauthenticate_on_the_same_connection(scram_broker):  # noqa: F811
    s = _login(scram_broker.port, "reauth-ok")
    for round_ in range(2):  # twice: the method's state starts fresh each time
        sc = Scram("alice", "s3cret", nonce=b"round-%d" % round_)
        _send_auth(s, 0x19, METHOD, sc.client_first())
        t, rc, p = _auth_reply(s)
        assert (t, rc, p[AUTH_METHOD]) == (15, 0x18, METHOD.encode())
        _send_auth(s, 0x18, METHOD, sc.client_final(p[AUTH_DATA]))
        t, rc, p = _auth_reply(s)
        assert (t, rc) == (15, 0x00)  # Success
        assert sc.server_final_ok(p[AUTH_DATA])
    _works(s, "ra/t")
    r.disconnect(s)
    s.close()


def test_reauthenticate_with_wrong_password_disconnects(scram_broker):  # noqa: F811
    s = _login(scram_broker.port, "reauth-bad")
    sc = Scram("alice", "not-the-password")
    _send_auth(s, 0x19, METHOD, sc.client_first())
    t, rc, p = _auth_reply(s)
    assert (t, rc) == (15, 0x18)
    _send_auth(s, 0x18, METHOD, sc.client_final(p[AUTH_DATA]))
    t, rc, p = _auth_reply(s)
    assert (t, rc) == (14, 0x87)  # Not authorized [MQTT-4.12.1-2]
    assert r.read(s)[0] is None  # and closed
    s.close()


def test_reauthenticate_unknown_user_disconnects(scram_broker):  # noqa: F811
    s = _login(scram_broker.port, "reauth-who")
    sc = Scram("mallory", "s3cret")
    _send_auth(s, 0x19, METHOD, sc.client_first())
    t, rc, p = _auth_reply(s)
    if t == 15:  # a fake challenge, so a user's existence does not show
        _send_auth(s, 0x18, METHOD, sc.client_final(p[AUTH_DATA]))
        t, rc, p = _auth_reply(s)
    assert (t, rc) == (14, 0x87)
    s.close()


def test_reauthenticate_with_another_method_is_a_protocol_error(scram_broker):  # noqa: F811
    s = _login(scram_broker.port, "reauth-method")
    _send_auth(s, 0x19, "SCRAM-SHA-1", Scram("alice", "s3cret").client_first())
    t, rc, p = _auth_reply(s)
    assert (t, rc) == (14, 0x82)  # [MQTT-4.12.0-5]
    assert r.read(s)[0] is None
    s.close()


def test_reauthenticate_without_auth_at_connect_is_a_protocol_error(scram_broker):  # noqa: F811
    """AUTH on a connection that did not use enhanced authentication
    [MQTT-3.15.2-1]."""
    s, _ = r.connect(scram_broker.port, "reauth-none")
    _send_auth(s, 0x19, METHOD, Scram("alice", "s3cret").client_first())
    t, rc, p = _auth_reply(s)
    assert (t, rc) == (14, 0x82)
    s.close()
