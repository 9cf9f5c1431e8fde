"""Shared subscriptions and the ACL (issue 10: "`$share/g/client_test5/x`
is checked with its `$share/g/` prefix, so `topic readwrite #` never
grants it"). MQTT 5.0 section 4.8.2: the Topic Filter of a shared
subscription is the part after the ShareName, and that is what the ACL
must be checked against.

The second test is the counterpart: the ACL still applies to a shared
filter (the old code refused every shared subscription under an ACL, so
it passes there too).
"""

import pytest

import svc_helpers as sh
import tern_harness as h
from tern_harness import SUBACK

pytestmark = pytest.mark.tern_only

USERS = {"sensor": "s-pw"}
ACL = """\
user sensor
topic read sensors/#
topic write sensors/#
"""


@pytest.fixture
def share_broker(broker, tmp_path):
    pw = sh.make_password_file(tmp_path / "passwd", USERS)
    acl = sh.write_file(tmp_path / "acl", ACL)
    return broker("password_file %s\nacl_file %s" % (pw, acl))


def sensor_v5(br, cid):
    c, _ = sh.v5_client(br.port, cid, username="sensor", password=USERS["sensor"])
    return c


def subscribe_v5(c, flt, qos=1, pid=1):
    c.send(sh.v5_subscribe_packet(pid, [(flt, qos)]))
    return sh.v5_suback_reasons(c.expect(SUBACK))


def test_shared_subscription_granted_by_acl_on_its_filter(share_broker):
    """sensor may read sensors/#: SUBSCRIBE $share/g/sensors/x at QoS 1 is
    granted (0x01), and a message published to sensors/x arrives through
    it. Old code checked "$share/g/sensors/x" itself against the ACL and
    refused it with 0x87."""
    br = share_broker
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


def test_shared_subscription_outside_acl_refused(share_broker):
    """sensor may not read other/#: SUBSCRIBE $share/g/other/x gets 0x87
    (not authorized)."""
    br = share_broker
    s = sensor_v5(br, "share-sub2")
    try:
        assert subscribe_v5(s, "$share/g/other/x", qos=1) == [0x87]
    finally:
        s.close()
