"""Shared subscriptions and the ACL (issue 10: "`$share/g/client_test5/x`
is checked with its `$share/g/` prefix, so `topic readwrite #` never
grants it"). MQTT 5.0 section 4.8.2: the Topic Filter of a shared
subscription is the part after the ShareName, and that is what the ACL
must be checked against.

The second test is the counterpart: the ACL still applies to a shared
filter (the old code refused every shared subscription under an ACL, so
it passes there too). mosquitto 2.0.11 passes the first (checked with
TERN_TEST_BROKER=mosquitto); it grants every SUBSCRIBE under an ACL and
filters at delivery, so the 0x87 of the second is Tern's (tern_only).
"""

import pytest

import svc_helpers as sh
import tern_harness as h
from tern_harness import SUBACK

USERS = {"sensor": "s-pw"}
ANON = """\
# anonymous clients may only write other/#
topic write other/#
"""
ACL = ANON + """\
user sensor
topic read sensors/#
topic write sensors/#
"""
# The Paho interoperability suite's case: one rule for everything.
ACL_ALL = ANON + """\
user sensor
topic readwrite #
"""


def make_share_broker(broker, tmp_path, acl_text):
    pw = sh.make_password_file(tmp_path / "passwd", USERS)
    acl = sh.write_file(tmp_path / "acl", acl_text)
    return broker("password_file %s\nacl_file %s" % (pw, acl))


@pytest.fixture
def share_broker(broker, tmp_path):
    return make_share_broker(broker, tmp_path, ACL)


def sensor_v5(br, cid):
    c, _ = sh.v5_client(br.port, cid, username="sensor", password=USERS["sensor"])
    return c


def subscribe_v5(c, flt, qos=1, pid=1):
    c.send(sh.v5_subscribe_packet(pid, [(flt, qos)]))
    return sh.v5_suback_reasons(c.expect(SUBACK))


@pytest.mark.parametrize("acl_text", [ACL, ACL_ALL], ids=["read-sensors", "readwrite-all"])
def test_shared_subscription_granted_by_acl_on_its_filter(broker, tmp_path, acl_text):
    """sensor may read sensors/# (or everything, `topic readwrite #`):
    SUBSCRIBE $share/g/sensors/x at QoS 1 is granted (0x01), and a message
    published to sensors/x arrives through it. Old code checked
    "$share/g/sensors/x" itself against the ACL and refused it with
    0x87."""
    br = make_share_broker(broker, tmp_path, acl_text)
    s = sensor_v5(br, "share-sub")
    p = sensor_v5(br, "share-pub")
    try:
        assert subscribe_v5(s, "$share/g/sensors/x", qos=1) == [0x01]
        p.send(sh.v5_publish_packet("sensors/x", b"shared", qos=1, pid=1))
        assert sh.v5_reason(p.expect(h.PUBACK, pid=1)) == 0x00
        d = sh.v5_recv_publish(s, timeout=5)
        assert (d["topic"], d["payload"]) == (b"sensors/x", b"shared")
    finally:
        s.close()
        p.close()


@pytest.mark.tern_only
def test_shared_subscription_outside_acl_refused(share_broker):
    """sensor may not read other/#: SUBSCRIBE $share/g/other/x gets 0x87
    (not authorized) beside a granted sensors/m, and nothing published to
    other/x arrives: an anonymous client (allowed to write other/#)
    publishes other/x, then sensor publishes sensors/m, which is the first
    and only thing the subscriber receives."""
    br = share_broker
    s = sensor_v5(br, "share-sub2")
    try:
        s.send(sh.v5_subscribe_packet(1, [("$share/g/other/x", 1), ("sensors/m", 1)]))
        assert sh.v5_suback_reasons(s.expect(SUBACK)) == [0x87, 0x01]
        anon = h.RawClient(br.port)
        try:
            anon.connect("share-anon-pub")
            anon.publish("other/x", b"not-for-you", qos=1, pid=1)
        finally:
            anon.close()
        p = sensor_v5(br, "share-pub2")
        try:
            p.send(sh.v5_publish_packet("sensors/m", b"marker", qos=1, pid=1))
            p.expect(h.PUBACK, pid=1)
        finally:
            p.close()
        d = sh.v5_recv_publish(s, timeout=5)
        assert (d["topic"], d["payload"]) == (b"sensors/m", b"marker"), (
            "delivered through a refused shared subscription: %r" % d)
    finally:
        s.close()
