"""password_file and acl_file (mosquitto.conf(5)), MQTT 3.1.1 CONNACK codes [MQTT-3.2.2.3].

The password file is written at test time by the real mosquitto_passwd, so
these tests also prove Tern reads what mosquitto's tool writes.

Differences from mosquitto 2.0.11, checked by hand against it:
  * a wrong password or unknown user gets CONNACK 5 (not authorised) from
    mosquitto; MQTT 3.1.1 names 4 (bad user name or password) for it, which
    Tern sends (test marked mosquitto_differs);
  * mosquitto grants every SUBSCRIBE when an acl_file is set and only filters
    at delivery; Tern answers SUBACK 0x80 for a filter no read entry covers
    (tern_only). Delivery filtering is tested for both.
"""

import subprocess

import pytest

import tern_harness as h
from tern_harness import (PUBACK, SUBACK, connect_packet, publish_packet,
                          subscribe_packet)

USERS = {"alice": "secret", "bob": "hunter2"}


def make_password_file(tmp_path):
    path = tmp_path / "passwd"
    first = True
    for user, pw in USERS.items():
        args = ["mosquitto_passwd"] + (["-c"] if first else []) + ["-b", str(path), user, pw]
        subprocess.run(args, check=True, timeout=10, stdin=subprocess.DEVNULL)
        first = False
    # the old $6$ format as well (mosquitto_passwd -H sha512)
    subprocess.run(["mosquitto_passwd", "-H", "sha512", "-b", str(path), "carol", "pw6"],
                   check=True, timeout=10, stdin=subprocess.DEVNULL)
    return path


@pytest.fixture
def pw_broker(broker, tmp_path):
    path = make_password_file(tmp_path)
    return broker("password_file %s" % path, allow_anonymous=False)


def connack(raw, br, client_id, username=None, password=None):
    c = raw(br)
    c.send(connect_packet(client_id, username=username, password=password))
    p = c.recv_packet()
    assert p.name == "CONNACK", p
    return c, p.rc


def test_right_credentials_connect(pw_broker, raw):
    """Users from mosquitto_passwd ($7$ and $6$) connect with CONNACK 0."""
    for i, (user, pw) in enumerate(list(USERS.items()) + [("carol", "pw6")]):
        c, rc = connack(raw, pw_broker, "ok-%d" % i, user, pw)
        assert rc == 0, (user, rc)
        assert c.is_open()


def test_wrong_credentials_refused_and_closed(pw_broker, raw):
    """Wrong password, unknown user, or username without password: refused
    (CONNACK 4 or 5) and the connection is closed [MQTT-3.2.2-5]."""
    cases = [("alice", "wrong"), ("alice", "hunter2"), ("mallory", "secret"), ("alice", None)]
    for i, (user, pw) in enumerate(cases):
        c, rc = connack(raw, pw_broker, "bad-%d" % i, user, pw)
        assert rc in (4, 5), (user, pw, rc)
        assert c.expect_closed() == []


@pytest.mark.mosquitto_differs
def test_wrong_password_connack_4(pw_broker, raw):
    """MQTT 3.1.1: "0x04 Connection Refused, bad user name or password".
    mosquitto 2.0.11 answers 5 (not authorised) here."""
    for i, (user, pw) in enumerate([("alice", "wrong"), ("nobody", "x")]):
        c, rc = connack(raw, pw_broker, "rc4-%d" % i, user, pw)
        assert rc == 4, (user, rc)


def test_no_credentials_connack_5(pw_broker, raw):
    """allow_anonymous false and no username: CONNACK 5 (not authorised)."""
    c, rc = connack(raw, pw_broker, "anon")
    assert rc == 5
    assert c.expect_closed() == []


def test_paho_with_password(pw_broker, paho):
    """A real client with credentials publishes and receives."""
    p = paho(pw_broker, username="alice", password="secret")
    p.subscribe("t/x", 1)
    p.publish("t/x", b"hi", qos=1)
    assert p.get().payload == b"hi"


ACL = """\
# anonymous clients
topic readwrite data/#
topic deny data/secret
topic read pub/#

user alice
topic readwrite alice/#
topic write data/#
topic write pub/#

pattern readwrite clients/%c/#
"""


@pytest.fixture
def acl_broker(broker, tmp_path):
    """ACL with a password file: a user's block applies to a username that
    passed the password check (a claimed one is no identity, issue 10)."""
    path = tmp_path / "acl"
    path.write_text(ACL)
    pw = make_password_file(tmp_path)
    return broker("acl_file %s\npassword_file %s" % (path, pw), allow_anonymous=True)


def test_acl_read_denied_not_delivered(acl_broker, paho):
    """A subscriber only gets messages its read entries allow: data/secret is
    denied for anonymous clients even though data/# is granted."""
    s = paho(acl_broker)
    assert s.subscribe("data/#", 1) == (1,)
    pub = paho(acl_broker, username="alice", password="secret")
    pub.publish("data/secret", b"no", qos=1)
    pub.publish("data/open", b"yes", qos=1)
    m = s.get()
    assert (m.topic, m.payload) == ("data/open", b"yes")
    s.no_message(0.5)


def test_acl_denied_publish_silently_dropped(acl_broker, raw, paho):
    """Publishing without write access: QoS 1 is still acknowledged (PUBACK,
    mosquitto 2 behaviour in 3.1.1), the connection stays open, nothing is
    delivered."""
    s = paho(acl_broker, username="alice", password="secret")
    s.subscribe("alice/#", 1)
    c = raw(acl_broker)
    c.send(connect_packet("anon-pub"))
    assert c.recv_packet().rc == 0
    c.send(publish_packet("alice/x", b"denied", qos=1, pid=7))
    p = c.expect(PUBACK)
    assert p.pid == 7
    c.send(publish_packet("pub/x", b"denied too", qos=0))  # anonymous: read only
    assert c.no_packet(0.3)
    s.publish("alice/own", b"allowed", qos=1)
    m = s.get()
    assert (m.topic, m.payload) == ("alice/own", b"allowed")
    s.no_message(0.5)


def test_acl_pattern_client_id(acl_broker, paho):
    """pattern readwrite clients/%c/#: each client has its own subtree."""
    a = paho(acl_broker, client_id="dev1")
    b = paho(acl_broker, client_id="dev2")
    a.subscribe("clients/dev1/#", 1)
    b.publish("clients/dev1/cmd", b"from dev2", qos=1)  # dev2 may not write there
    a.publish("clients/dev1/cmd", b"own", qos=1)
    m = a.get()
    assert (m.topic, m.payload) == ("clients/dev1/cmd", b"own")
    a.no_message(0.5)


def test_acl_unreadable_subscription_gets_nothing(acl_broker, raw, paho):
    """Subscribing where the client may not read: mosquitto grants the
    subscription, Tern refuses it (SUBACK 0x80); either way nothing arrives."""
    c = raw(acl_broker)
    c.send(connect_packet("anon-sub"))
    assert c.recv_packet().rc == 0
    c.send(subscribe_packet(3, [("alice/#", 1)]))
    p = c.expect(SUBACK)
    assert p.granted[0] in (1, 0x80)
    pub = paho(acl_broker, username="alice", password="secret")
    pub.publish("alice/x", b"private", qos=1)
    assert c.no_packet(0.5)  # no PUBLISH arrived, connection still open


@pytest.mark.tern_only
def test_acl_subscribe_denied_suback_0x80(acl_broker, raw):
    """Tern checks SUBSCRIBE filters: granted only when a read entry covers
    the whole filter [MQTT-3.9.3: 0x80 Failure]; one SUBACK code per filter."""
    c = raw(acl_broker)
    c.send(connect_packet("anon-sub2"))
    assert c.recv_packet().rc == 0
    c.send(subscribe_packet(4, [("alice/#", 1), ("data/#", 1), ("#", 0), ("pub/+", 0),
                                ("data/secret", 0)]))
    p = c.expect(SUBACK)
    assert p.granted == [0x80, 1, 0x80, 0, 0x80]
