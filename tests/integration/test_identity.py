"""Session identity (issue 10): a session belongs to the identity that
created it, the username a password check verified or "anonymous". A
CONNECT of any protocol for an existing client id with another identity is
refused (MQTT 3.1.1 CONNACK 5, MQTT 5 0x87, MQTT-SN return code 0x03) and
the owner's live connection and its queue stay untouched; the same
identity takes the session over as the specifications say
[MQTT-3.1.4-2]. A claimed username that no password check verified is no
identity: it does not select that user's ACL block.

mosquitto 2.0.11 lets any client take any client id over, so all of this
is Tern's rule (tern_only).
"""


import pytest

import sn_client as sn
import svc_helpers as sh
import tern_harness as h
from tern_harness import PUBLISH, SUBACK, connect_packet
from test_mqttsn import snc  # noqa: F401 (fixture)

pytestmark = pytest.mark.tern_only

USERS = {"alice": "secret", "bob": "hunter2"}
ACL = """\
# anonymous clients
topic readwrite sn/#

user alice
topic readwrite alice/#

user bob
topic readwrite bob/#
"""
NOT_AUTHORISED = {4: 5, 5: 0x87}   # CONNACK code by protocol level


@pytest.fixture
def ident(broker, tmp_path):
    """A broker with password_file, acl_file, allow_anonymous true and an
    MQTT-SN listener; returns (broker, MQTT-SN UDP port)."""
    pw = sh.make_password_file(tmp_path / "passwd", USERS)
    acl = sh.write_file(tmp_path / "acl", ACL)
    port = sn.free_udp_port()
    br = broker("password_file %s\nacl_file %s\n%s" % (pw, acl, sh.sn_listener(port)))
    sh.wait_gwinfo(port)
    return br, port


def connect(br, raw, cid, version=4, clean=False, user=None, expect_rc=0, password=True):
    """A RawClient CONNECTed as user (None: anonymous) at protocol level
    version, with the user's password (password=False: none); returns
    (client, CONNACK)."""
    c = raw(br)
    pw = USERS.get(user) if user and password else None
    if version == 5:
        props = sh.session_expiry_prop(300) if not clean else b""
        c.send(sh.v5_connect_packet(cid, clean=clean, props=props, username=user, password=pw))
    else:
        c.send(connect_packet(cid, clean=clean, username=user, password=pw))
    ack = c.expect(h.CONNACK)
    if expect_rc is not None:
        assert ack.rc == expect_rc, "CONNACK 0x%02x for %s as %r, expected 0x%02x" % (
            ack.rc, user or "anonymous", cid, expect_rc)
    return c, ack


def subscribe(c, version, flt, qos=1):
    if version == 5:
        c.send(sh.v5_subscribe_packet(1, [(flt, qos)]))
        assert sh.v5_suback_reasons(c.expect(SUBACK)) == [qos]
    else:
        assert c.subscribe(flt, qos=qos) == [qos]


def recv_payload(c, version, timeout=5):
    if version == 5:
        d = sh.v5_recv_publish(c, timeout)
        return d["topic"].decode(), d["payload"]
    p = c.recv_publish(timeout=timeout)
    return p.topic, p.payload


def publish_as_alice(br, raw, topic, payloads):
    """Publish QoS 1 messages as alice from another client id."""
    p, _ = connect(br, raw, "alice-pub", clean=True, user="alice")
    for i, pl in enumerate(payloads):
        p.publish(topic, pl, qos=1, pid=i + 1)
    p.disconnect()


def refused_and_closed(c, what):
    """The broker closes c after the refused CONNACK, with nothing else."""
    seen = c.expect_closed(timeout=5)
    assert not any(p.type == PUBLISH for p in seen), "%s received %r" % (what, seen)


def alice_offline_with_queue(br, raw, n=5):
    """alice-dev: persistent session, subscribed to alice/#, offline with
    n QoS 1 messages queued. Returns their payloads."""
    a, _ = connect(br, raw, "alice-dev", user="alice")
    subscribe(a, 4, "alice/#")
    a.disconnect()
    payloads = [b"queued-%d" % i for i in range(n)]
    publish_as_alice(br, raw, "alice/q", payloads)
    return payloads


def alice_gets_her_queue(br, raw, payloads):
    a, ack = connect(br, raw, "alice-dev", user="alice")
    assert ack.session_present == 1, "alice's session is gone"
    got = [a.recv_publish(timeout=5).payload for _ in payloads]
    assert got == payloads
    assert a.no_packet(0.3)


# --------------------------------------------------------------------------
# MQTT -> MQTT
# --------------------------------------------------------------------------

@pytest.mark.parametrize("version", [4, 5], ids=["mqtt311", "mqtt5"])
def test_other_user_cannot_take_over_live_session(ident, raw, version):
    """bob CONNECTs with the client id of alice's live session: refused
    (3.1.1 CONNACK 5, 5.0 0x87); alice stays connected and keeps
    receiving."""
    br, _ = ident
    alice, _ = connect(br, raw, "alice-dev", version, user="alice")
    subscribe(alice, version, "alice/#")
    bob, _ = connect(br, raw, "alice-dev", version, user="bob",
                     expect_rc=NOT_AUTHORISED[version])
    refused_and_closed(bob, "bob")
    assert alice.is_open(0.3), "alice's connection was closed"
    publish_as_alice(br, raw, "alice/x", [b"still-yours"])
    assert recv_payload(alice, version) == ("alice/x", b"still-yours")


@pytest.mark.parametrize("clean", [False, True], ids=["resume", "clean"])
def test_other_user_cannot_take_or_discard_offline_queue(ident, raw, clean):
    """alice's persistent session is offline with queued QoS 1 messages:
    bob's CONNECT with her client id (resuming it, or clean session 1,
    which would discard it) is refused and gets nothing; alice then
    resumes it with every message."""
    br, _ = ident
    payloads = alice_offline_with_queue(br, raw)
    bob, _ = connect(br, raw, "alice-dev", clean=clean, user="bob", expect_rc=5)
    refused_and_closed(bob, "bob")
    alice_gets_her_queue(br, raw, payloads)


@pytest.mark.parametrize("version", [4, 5], ids=["mqtt311", "mqtt5"])
def test_anonymous_cannot_take_over_authenticated_session(ident, raw, version):
    """A client without username CONNECTing with the client id of alice's
    live session: refused (5 / 0x87); alice stays connected."""
    br, _ = ident
    alice, _ = connect(br, raw, "alice-dev", version, user="alice")
    subscribe(alice, version, "alice/#")
    anon, _ = connect(br, raw, "alice-dev", version, user=None,
                      expect_rc=NOT_AUTHORISED[version])
    refused_and_closed(anon, "the anonymous client")
    assert alice.is_open(0.3), "alice's connection was closed"
    publish_as_alice(br, raw, "alice/x", [b"still-yours"])
    assert recv_payload(alice, version) == ("alice/x", b"still-yours")


def test_anonymous_cannot_take_over_offline_authenticated_session(ident, raw):
    br, _ = ident
    payloads = alice_offline_with_queue(br, raw)
    anon, _ = connect(br, raw, "alice-dev", user=None, expect_rc=5)
    refused_and_closed(anon, "the anonymous client")
    alice_gets_her_queue(br, raw, payloads)


# --------------------------------------------------------------------------
# MQTT-SN -> MQTT and MQTT -> MQTT-SN
# --------------------------------------------------------------------------

def test_mqttsn_cannot_take_over_live_mqtt_session(ident, raw, snc):
    """One UDP datagram (an anonymous MQTT-SN CONNECT) with alice's client
    id: CONNACK return code 0x03; alice's MQTT connection stays open and
    keeps receiving; the MQTT-SN peer is not connected (its PINGREQ goes
    unanswered)."""
    br, port = ident
    alice, _ = connect(br, raw, "alice-dev", user="alice")
    subscribe(alice, 4, "alice/#")
    intruder = snc(port, client_id="alice-dev")
    assert sh.sn_connect_rc(intruder) == sn.RC_NOT_SUPPORTED
    assert alice.is_open(0.3), "alice's connection was closed"
    publish_as_alice(br, raw, "alice/x", [b"still-yours"])
    assert recv_payload(alice, 4) == ("alice/x", b"still-yours")
    intruder.send(sn.PINGREQ)
    intruder.expect_nothing(0.5)


def test_mqttsn_cannot_take_over_offline_mqtt_queue(ident, raw, snc):
    """alice offline with queued messages; an MQTT-SN CONNECT (clean
    session 0) with her client id is refused (0x03) and gets none of them
    (no REGISTER, no PUBLISH); alice then resumes her session with all."""
    br, port = ident
    payloads = alice_offline_with_queue(br, raw)
    intruder = snc(port, client_id="alice-dev")
    assert sh.sn_connect_rc(intruder, clean=False) == sn.RC_NOT_SUPPORTED
    intruder.expect_nothing(0.5)
    alice_gets_her_queue(br, raw, payloads)


def test_mqtt_user_cannot_take_over_mqttsn_session(ident, raw, snc):
    """An anonymous MQTT-SN client "sn-node1" is connected; alice CONNECTs
    over MQTT with client id "sn-node1": CONNACK 5. The MQTT-SN client
    keeps working: PINGREQ gets PINGRESP, and it still receives what it
    subscribed to."""
    br, port = ident
    node = snc(port, client_id="sn-node1")
    assert node.connect()["rc"] == sn.RC_ACCEPTED
    assert node.subscribe("sn/cmd", qos=1)["rc"] == sn.RC_ACCEPTED
    alice, _ = connect(br, raw, "sn-node1", user="alice", expect_rc=5)
    refused_and_closed(alice, "alice")
    node.ping()
    p, _ = connect(br, raw, "sn-cmd-pub", clean=True)
    p.publish("sn/cmd", b"to-node", qos=1)
    name, data, qos, _ = node.receive_publish()
    assert (name, data) == ("sn/cmd", b"to-node")


# --------------------------------------------------------------------------
# The same identity still takes over
# --------------------------------------------------------------------------

def test_same_user_takes_over_mqtt311(ident, raw):
    """alice connecting again with her client id takes the session over:
    the new connection is accepted with Session Present 1, the old one is
    closed [MQTT-3.1.4-2]."""
    br, _ = ident
    first, _ = connect(br, raw, "alice-dev", user="alice")
    subscribe(first, 4, "alice/#")
    second, ack = connect(br, raw, "alice-dev", user="alice")
    assert ack.session_present == 1
    first.expect_closed()
    publish_as_alice(br, raw, "alice/x", [b"to-second"])
    assert recv_payload(second, 4) == ("alice/x", b"to-second")


def test_same_anonymous_mqttsn_client_takes_over(ident, snc):
    """An anonymous MQTT-SN client connecting again with its client id from
    another address takes its session over; the old address gets nothing
    more."""
    br, port = ident
    a = snc(port, client_id="sn-twin")
    assert a.connect()["rc"] == sn.RC_ACCEPTED
    a.subscribe("sn/twin", qos=1)
    b = snc(port, client_id="sn-twin")
    assert b.connect(clean=False)["rc"] == sn.RC_ACCEPTED
    b.subscribe("sn/twin", qos=1)
    h.mqtt_pub(br.port, "sn/twin", "to-new", qos=1)
    assert b.receive_publish()[:2] == ("sn/twin", b"to-new")
    m = a.recv_any(0.3)  # at most the REGISTER that asked a to prove its address
    assert m is None or m["type"] == sn.REGISTER, m
    a.expect_nothing(0.3)


# --------------------------------------------------------------------------
# A claimed username without a password file
# --------------------------------------------------------------------------

CLAIM_ACL = """\
# anonymous clients
topic readwrite public/#
topic write secret/#
topic read alice/out/#

user alice
topic readwrite secret/#
topic write alice/out/#
"""


@pytest.fixture
def claim_broker(broker, tmp_path):
    """acl_file, no password_file, allow_anonymous true: a username cannot
    be checked, so a client that sends one is anonymous."""
    acl = sh.write_file(tmp_path / "acl", CLAIM_ACL)
    return broker("acl_file %s" % acl)


def test_claimed_username_does_not_get_read_rights(claim_broker, raw):
    """A client claiming username alice (nothing checks it) subscribes to
    secret/#, which only alice's block lets read. An anonymous publisher
    writes secret/x, then public/marker: the claimant gets only the
    marker."""
    br = claim_broker
    claimant, _ = connect(br, raw, "claims-alice", clean=True, user="alice",
                          password=False)
    claimant.send(h.subscribe_packet(1, [("secret/#", 1), ("public/#", 1)]))
    claimant.expect(SUBACK)  # 0x80 or granted: either way nothing may arrive
    p, _ = connect(br, raw, "anon-pub", clean=True)
    p.publish("secret/x", b"for-alice-only", qos=1, pid=1)
    p.publish("public/marker", b"marker", qos=1, pid=2)
    got = claimant.recv_publish(timeout=5)
    assert (got.topic, got.payload) == ("public/marker", b"marker"), (
        "the unverified username alice got alice's read rights: %r" % got)


def test_claimed_username_does_not_get_write_rights(claim_broker, raw):
    """A client claiming username alice publishes to alice/out/x, which
    only alice's block may write, then to public/marker. An anonymous
    reader of both gets only the marker."""
    br = claim_broker
    reader, _ = connect(br, raw, "anon-reader", clean=True)
    assert reader.subscribe([("alice/out/#", 1), ("public/#", 1)]) == [1, 1]
    claimant, _ = connect(br, raw, "claims-alice", clean=True, user="alice",
                          password=False)
    claimant.publish("alice/out/x", b"forged", qos=1, pid=1)
    claimant.publish("public/marker", b"marker", qos=1, pid=2)
    got = reader.recv_publish(timeout=5)
    assert (got.topic, got.payload) == ("public/marker", b"marker"), (
        "the unverified username alice got alice's write rights: %r" % got)
