"""Wills are checked like a PUBLISH (issue 10): against the ACL and the
`$SYS` rule when the CONNECT sets them, and again when they are published.

A user allowed to write only `sensors/#` may not set a will on
`cmd/unlock` or under `$SYS/`: MQTT 3.1.1 CONNACK 5, MQTT 5 0x87,
MQTT-SN CONNACK return code 0x03; and no will ever appears there. A will
allowed at CONNECT whose permission a SIGHUP reload of the acl_file
removed is not published when the connection drops.

mosquitto 2.0.11, checked by hand with this file's ACL: it accepts such a
CONNECT (CONNACK 0) and drops the will when it would publish it, so the
refusal at CONNECT is Tern's rule (tern_only); nothing reaches the
subscribers there either.
"""

import socket

import pytest

import sn_client as sn
import svc_helpers as sh
import tern_harness as h
from tern_harness import PUBLISH, connect_packet
from test_mqttsn import snc  # noqa: F401 (fixture)

USERS = {"sensor": "s-pw", "reader": "r-pw"}
ACL = """\
# anonymous clients (MQTT-SN has no username)
topic write sensors/#

user sensor
topic write sensors/#

user reader
topic read #
topic read $SYS/#
"""
# After the reload: sensor keeps only sensors/marker.
ACL_REVOKED = ACL.replace("user sensor\ntopic write sensors/#",
                          "user sensor\ntopic write sensors/marker")
FORBIDDEN = {"acl": "cmd/unlock", "sys": "$SYS/broker/connection/x/state"}
NOT_AUTHORISED = {4: 5, 5: 0x87}

pytestmark = pytest.mark.tern_only


@pytest.fixture
def wbroker(broker, tmp_path):
    """password_file + acl_file + an MQTT-SN listener, allow_anonymous
    true; returns (broker, MQTT-SN port, acl path)."""
    pw = sh.make_password_file(tmp_path / "passwd", USERS)
    acl = sh.write_file(tmp_path / "acl", ACL)
    port = sn.free_udp_port()
    br = broker("password_file %s\nacl_file %s\n%s" % (pw, acl, sh.sn_listener(port)))
    sh.wait_gwinfo(port)
    return br, port, acl


def watcher(br, raw, will_topic):
    """reader, subscribed to # and to the will's own topic (# does not
    match $SYS topics), QoS 1."""
    w = raw(br)
    w.connect("will-watcher", username="reader", password=USERS["reader"])
    assert w.subscribe([("#", 1), (will_topic, 1)]) == [1, 1]
    return w


def marker(br, raw, text=b"marker"):
    """sensor publishes sensors/marker (allowed before and after the
    reload). Anything published earlier reaches a QoS 1 watcher first."""
    m = raw(br)
    m.connect("marker-pub", username="sensor", password=USERS["sensor"])
    m.publish("sensors/marker", text, qos=1, pid=1)
    m.disconnect()


def first_is_marker(w):
    p = w.recv_publish(timeout=5)
    assert (p.topic, p.payload) == ("sensors/marker", b"marker"), (
        "published before the marker (a forbidden will?): %r %r" % (p.topic, p.payload))


def nothing_retained(br, raw, topic):
    late = raw(br)
    late.connect("late-sub", username="reader", password=USERS["reader"])
    assert late.subscribe(topic, qos=1) == [1]
    late.no_packet(0.5)


def sensor_connect_with_will(br, raw, version, topic):
    c = raw(br)
    will = (topic, b"open", 1, True)
    if version == 5:
        c.send(sh.v5_connect_packet("sensor-1", username="sensor", password=USERS["sensor"],
                                    will=will))
    else:
        c.send(connect_packet("sensor-1", username="sensor", password=USERS["sensor"],
                              will=will))
    return c, c.expect(h.CONNACK)


@pytest.mark.parametrize("kind", ["acl", "sys"])
@pytest.mark.parametrize("version", [4, 5], ids=["mqtt311", "mqtt5"])
def test_mqtt_will_to_forbidden_topic_refused(wbroker, raw, version, kind):
    """Issue 10, wills skip the ACL and the $SYS rule (MQTT 3.1.1 and 5):
    sensor (write sensors/# only) CONNECTs with a retained QoS 1 will on
    cmd/unlock or $SYS/broker/connection/x/state: CONNACK 5 (3.1.1) or
    0x87 (5.0), the connection is closed, and nothing ever appears on that
    topic, live or retained."""
    br, _, _ = wbroker
    topic = FORBIDDEN[kind]
    w = watcher(br, raw, topic)
    c, ack = sensor_connect_with_will(br, raw, version, topic)
    assert ack.rc == NOT_AUTHORISED[version], (
        "will on %s accepted: CONNACK 0x%02x" % (topic, ack.rc))
    seen = c.expect_closed()
    assert not any(p.type == PUBLISH for p in seen)
    marker(br, raw)
    first_is_marker(w)
    nothing_retained(br, raw, topic)


@pytest.mark.parametrize("kind", ["acl", "sys"])
def test_mqttsn_will_to_forbidden_topic_refused(wbroker, raw, snc, kind):
    """Issue 10, wills skip the ACL and the $SYS rule (MQTT-SN): an
    anonymous MQTT-SN client (the ACL's anonymous rules allow writing
    sensors/# only) whose WILLTOPIC is cmd/unlock or
    $SYS/broker/connection/x/state gets CONNACK return code 0x03 once it
    sent its WILLMSG (section 6.3: CONNACK ends the will flow); it is not
    connected, and no will is published, live or retained, once its
    keep-alive would have run out."""
    br, port, _ = wbroker
    topic = FORBIDDEN[kind]
    w = watcher(br, raw, topic)
    c = snc(port, client_id="sn-sensor")
    rc, after = sh.sn_connect_will_stage(c, topic, b"open", qos=1, retain=True, duration=1)
    assert rc == sn.RC_NOT_SUPPORTED, "will on %s accepted: CONNACK 0x%02x" % (topic, rc)
    assert after == "WILLMSG", "CONNACK came after %s, not after WILLMSG" % after
    c.send(sn.PINGREQ)
    c.expect_nothing(0.3)  # not connected
    # Lost after 1.5 x 1 s if it were connected: the will would be out by then.
    w.no_packet(1.5 + h.KEEPALIVE_SLACK + 0.5)
    marker(br, raw)
    first_is_marker(w)
    nothing_retained(br, raw, topic)


def test_will_checked_again_when_published(wbroker, raw):
    """Issue 10, a will is checked when it is published too: a will on
    sensors/s1/state is allowed at CONNECT; a SIGHUP reload of
    the acl_file then takes sensors/# away from sensor. When the client's
    connection drops (no DISCONNECT), the will is checked again and not
    published."""
    br, _, acl = wbroker
    w = watcher(br, raw, "sensors/#")
    c = raw(br)
    c.connect("sensor-1", username="sensor", password=USERS["sensor"],
              will=("sensors/s1/state", b"offline", 1, True))
    sh.write_file(acl, ACL_REVOKED)
    reloads = sh.log_count(br, "configuration reloaded")
    br.signal(1)  # SIGHUP
    h.wait_until(lambda: sh.log_count(br, "configuration reloaded") > reloads, 5,
                 msg="SIGHUP reload")
    # The reload took effect: sensor may no longer write sensors/s1/x (were
    # it delivered, the watcher would see it before the marker).
    probe = raw(br)
    probe.connect("sensor-probe", username="sensor", password=USERS["sensor"])
    probe.publish("sensors/s1/x", b"denied now", qos=1, pid=1)
    probe.disconnect()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # RST: the connection is lost, the will is due
    br.wait_log(r'client="sensor-1" peer=\S+ disconnected', 5)  # the will is due now
    marker(br, raw)
    first_is_marker(w)
    nothing_retained(br, raw, "sensors/s1/state")
