"""The bridge against a real ejabberd (Debian's ejabberd 23.01 with
mod_mqtt), started by this module in its own directories on ports picked
here (engines.py), on the bridge's default settings plus the login that
ejabberd requires (any username and password: anonymous login).

ejabberd speaks MQTT 3.1.1 and 5 with QoS 2, refuses mosquitto's bridge
level 0x84 with CONNACK 1, refuses a will on a `$` topic as not
authorised, and keeps MQTT sessions and subscriptions in RAM only: a
restart of ejabberd forgets them (retained messages are kept on disk)."""

import re
import time

import pytest

import bridge_checks as bc
import engines
import tern_harness as h
from tcp_proxy import PASS, RESET, TcpProxy

LOGIN = "remote_username %s\nremote_password %s\n" % (engines.Ejabberd.username,
                                                    engines.Ejabberd.password)


@pytest.fixture(scope="module")
def ejabberd(tmp_path_factory):
    if not engines.ejabberd_installed():
        pytest.fail("ejabberd is not installed (the README's test command installs it)")
    e = engines.Ejabberd(tmp_path_factory.mktemp("ejabberd"))
    try:
        e.start()
    except Exception:
        e.stop()
        raise
    yield e
    e.stop()


def cloud_client(ej, client_id, **kw):
    return h.PahoClient(ej.port, client_id=client_id, username=ej.username,
                        password=ej.password, **kw)


def collector(ej, topic, client_id, qos=1):
    return bc.Collector(ej.port, topic, qos, client_id=client_id, username=ej.username,
                        password=ej.password)


@pytest.mark.parametrize("version", ["mqttv311", "mqttv50"])
def test_ejabberd_default_bridge_connects_out_and_in(broker, ejabberd, version):
    """Level 0x84 gets CONNACK 1 (falls back to 4, logged); the default
    will on $SYS/... is refused as not authorised (the bridge goes on
    without it, logged); then messages flow both ways, in MQTT 3.1.1 and
    MQTT 5."""
    tag = "e1" + version[-2:]
    extra = LOGIN + ("bridge_protocol_version %s\n" % version if version == "mqttv50" else "")
    gw = broker(bc.bridge_conf(ejabberd.port, ["%s/out/# out 1" % tag, "%s/cmd/# in 1" % tag],
                               extra, clientid="%s-gw" % tag))
    bc.wait_connected(gw)
    log = gw.log()
    if version == "mqttv311":
        assert re.search(r"answered CONNACK 1 .* bridge protocol level 0x84 \(try_private\)",
                         log), log[-3000:]
    assert "refused the CONNECT with our notification will" in log, log[-3000:]
    assert "(MQTT %s," % ("5.0" if version == "mqttv50" else "3.1.1") in log
    cloud = cloud_client(ejabberd, "%s-cloud" % tag)
    app = h.PahoClient(gw.port, client_id="%s-app" % tag)
    try:
        cloud.subscribe("%s/out/#" % tag, 1)
        app.subscribe("%s/cmd/#" % tag, 1)
        time.sleep(1.0)
        app.publish("%s/out/t" % tag, b"21", qos=1)
        m = cloud.get(15)
        assert (m.topic, m.payload) == ("%s/out/t" % tag, b"21")
        cloud.publish("%s/cmd/valve" % tag, b"open", qos=1)
        m = app.get(15)
        assert (m.topic, m.payload) == ("%s/cmd/valve" % tag, b"open")
    finally:
        cloud.close()
        app.close()


def test_ejabberd_mqtt5_both_ways_no_echo(broker, ejabberd):
    """MQTT 5 upstream: a `both` line subscribes upstream with No Local, so
    what the gateway sends up does not come back down (one copy here)."""
    gw = broker(bc.bridge_conf(ejabberd.port, ["e2/# both 1"],
                               LOGIN + "bridge_protocol_version mqttv50\n", clientid="e2-gw"))
    bc.wait_connected(gw)
    app = h.PahoClient(gw.port, client_id="e2-app")
    cloud = cloud_client(ejabberd, "e2-cloud")
    try:
        app.subscribe("e2/#", 1)
        cloud.subscribe("e2/#", 1)
        time.sleep(1.0)
        app.publish("e2/up", b"once", qos=1)
        assert cloud.get(10).payload == b"once"
        assert app.get(5).payload == b"once"
        app.no_message(1.5)                     # no echo through ejabberd
        cloud.publish("e2/down", b"cmd", qos=1)
        m = app.get(10)
        assert (m.topic, m.payload) == ("e2/down", b"cmd")
        assert cloud.get(5).payload == b"cmd"   # its own copy (no No Local there)
        cloud.no_message(1.5)                   # and the bridge does not send it back up
    finally:
        app.close()
        cloud.close()


def test_ejabberd_retained_both_ways(broker, ejabberd):
    """Retained upstream through a wildcard `in` line, and retained
    published here kept upstream for a later subscriber (wildcards too)."""
    pub = cloud_client(ejabberd, "e3-pub")
    try:
        pub.publish("e3/down/state", b"from-cloud", qos=1, retain=True)
    finally:
        pub.close()
    gw = broker(bc.bridge_conf(ejabberd.port, ["e3/up/# out 1", "e3/down/# in 1"], LOGIN,
                               clientid="e3-gw"))
    bc.wait_connected(gw)
    app = h.PahoClient(gw.port, client_id="e3-app")
    try:
        app.publish("e3/up/state", b"from-gw", qos=1, retain=True)
        time.sleep(1.0)
        late = cloud_client(ejabberd, "e3-late")
        try:
            late.subscribe("e3/up/#", 1)
            m = late.get(15)
            assert (m.topic, m.payload, m.retain) == ("e3/up/state", b"from-gw", 1)
        finally:
            late.close()
        local = h.PahoClient(gw.port, client_id="e3-local")
        try:
            local.subscribe("e3/down/#", 1)
            m = local.get(15)
            assert (m.topic, m.payload, m.retain) == ("e3/down/state", b"from-cloud", 1)
        finally:
            local.close()
    finally:
        app.close()
        for t in ("e3/up/state", "e3/down/state"):
            c = cloud_client(ejabberd, "e3-clean")
            c.publish(t, b"", qos=1, retain=True)
            c.close()


@pytest.mark.parametrize("version", ["mqttv311", "mqttv50"])
def test_ejabberd_outage_with_gateway_sigkill_loses_nothing(broker, ejabberd, version):
    """The uplink is cut (a proxy resets every connection); 1,000 QoS 1
    messages acknowledged by the gateway, SIGKILLed half-way and restarted;
    the link comes back: all arrive upstream, in order, none twice."""
    tag = "e4" + version[-2:]
    proxy = TcpProxy(ejabberd.port)
    cloud = collector(ejabberd, "%s/#" % tag, "%s-cloud" % tag)
    extra = LOGIN + ("bridge_protocol_version %s\n" % version if version == "mqttv50" else "")
    try:
        gw = broker(bc.bridge_conf(proxy.port, ["%s/# out 1" % tag], extra,
                                   clientid="%s-gw" % tag), persistence=True)
        bc.wait_connected(gw)
        proxy.set_mode(RESET)
        gw.wait_log(r"connection to 127\.0\.0\.1:\d+ lost", 15)
        acked = bc.publish_acked(gw.port, "%s-app" % tag, "%s/seq" % tag, range(0, 500))
        gw.kill9()
        gw.start()
        acked += bc.publish_acked(gw.port, "%s-app" % tag, "%s/seq" % tag, range(500, 1000))
        assert len(acked) == 1000
        proxy.set_mode(PASS)
        got = cloud.drain(set(acked), timeout=60)
        r = bc.account(acked, [bc.seq_of(m) for m in got])
        assert (r["missing"], r["duplicates"], r["order_violations"]) == ([], 0, 0), r
    finally:
        cloud.close()
        proxy.stop()


def test_ejabberd_qos2_exactly_once_end_to_end(broker, ejabberd):
    """ejabberd has QoS 2: a QoS 2 out line reaches a QoS 2 subscriber
    upstream at QoS 2, once each, and nothing is counted as downgraded."""
    gw = broker(bc.bridge_conf(ejabberd.port, ["e5/# out 2"], LOGIN, clientid="e5-gw")
                + "sys_interval 1\n")
    bc.wait_connected(gw)
    cloud = collector(ejabberd, "e5/#", "e5-cloud", qos=2)
    sysw = bc.SysWatch(gw)
    try:
        acked = bc.publish_acked(gw.port, "e5-app", "e5/alarm", range(20), qos=2)
        assert acked == list(range(20))
        got = cloud.drain(set(acked), timeout=20)
        r = bc.account(acked, [bc.seq_of(m) for m in got])
        assert (r["missing"], r["duplicates"]) == ([], 0), r
        assert all(m.qos == 2 for m in got)
        sysw.wait("messages/acknowledged", lambda v: int(v) >= 20)
        assert sysw.wait("downgraded", lambda v: True) == b"0"
        assert "answered a QoS 2 message with PUBACK" not in gw.log()
    finally:
        sysw.close()
        cloud.close()


def test_ejabberd_restart_forgets_the_session_bridge_recovers(broker, ejabberd, tmp_path):
    """ejabberd keeps MQTT sessions in RAM: after it is SIGKILLed and
    restarted, the bridge's upstream session is gone (session present 0).
    The bridge subscribes again at every CONNACK and resends what was in
    flight, so everything the gateway acknowledged arrives; what was
    published upstream while ejabberd was down is simply not there."""
    e = engines.Ejabberd(tmp_path, "ejabberd-restart")
    e.start()
    proxy = TcpProxy(e.port)        # holds the bridge off until the collector is there
    cloud = None
    try:
        gw = broker(bc.bridge_conf(proxy.port, ["e6/up/# out 1", "e6/down/# in 1"],
                                   LOGIN + "cleansession false\n", clientid="e6-gw"),
                    persistence=True)
        bc.wait_connected(gw)
        assert "session present 0" in gw.log()
        proxy.set_mode(RESET)
        e.kill9()
        gw.wait_log(r"connection to 127\.0\.0\.1:\d+ lost", 15)
        acked = bc.publish_acked(gw.port, "e6-app", "e6/up/seq", range(200))
        assert len(acked) == 200
        e.start()
        cloud = collector(e, "e6/up/#", "e6-cloud")
        proxy.set_mode(PASS)
        bc.wait_connected(gw, 2, timeout=30)
        assert gw.log().count("session present 0") == 2
        got = cloud.drain(set(acked), timeout=30)
        r = bc.account(acked, [bc.seq_of(m) for m in got])
        assert r["missing"] == [], r
        app = h.PahoClient(gw.port, client_id="e6-app2")
        try:
            app.subscribe("e6/down/#", 1)
            time.sleep(1.0)
            c = cloud_client(e, "e6-cmd")
            c.publish("e6/down/x", b"after-restart", qos=1)
            c.close()
            assert app.get(10).payload == b"after-restart"   # subscribed again
        finally:
            app.close()
    finally:
        if cloud:
            cloud.close()
        proxy.stop()
        e.stop()


def test_ejabberd_cloud_subscriber_keeps_an_out_topic(broker, ejabberd):
    """ejabberd 23.01 drops a filter for all its subscribers when any client
    unsubscribes it. The bridge unsubscribed every out-only filter at each
    connection (mosquitto's bridge_attempt_unsubscribe), which cut the
    cloud's subscriber here off: it now unsubscribes only what an earlier
    run subscribed. Checked across a reconnect and a gateway restart."""
    cloud = collector(ejabberd, "e7/#", "e7-cloud")
    proxy = TcpProxy(ejabberd.port)
    try:
        gw = broker(bc.bridge_conf(proxy.port, ["e7/# out 1"], LOGIN, clientid="e7-gw"),
                    persistence=True)
        bc.wait_connected(gw)
        acked = bc.publish_acked(gw.port, "e7-app", "e7/seq", range(10))
        proxy.set_mode(RESET)
        gw.wait_log(r"connection to 127\.0\.0\.1:\d+ lost", 15)
        proxy.set_mode(PASS)
        bc.wait_connected(gw, 2)
        acked += bc.publish_acked(gw.port, "e7-app", "e7/seq", range(10, 20))
        gw.restart()
        bc.wait_connected(gw, 3)
        acked += bc.publish_acked(gw.port, "e7-app", "e7/seq", range(20, 30))
        got = cloud.drain(set(acked), timeout=20)
        r = bc.account(acked, [bc.seq_of(m) for m in got])
        assert r["missing"] == [], r
        assert "remote unsubscribe" not in gw.log()
    finally:
        cloud.close()
        proxy.stop()


def test_ejabberd_notification_topic_outside_sys_gets_the_will(broker, ejabberd):
    """With a notification_topic that ejabberd accepts, the bridge connects
    with its will at once: "1" while up, and ejabberd publishes the will's
    "0" when the gateway is SIGKILLed."""
    gw = broker(bc.bridge_conf(ejabberd.port, ["e8/# out 1"],
                               LOGIN + "notification_topic e8-state/gw\n", clientid="e8-gw"))
    bc.wait_connected(gw)
    assert "refused the CONNECT with our notification will" not in gw.log()
    watch = cloud_client(ejabberd, "e8-watch")
    try:
        watch.subscribe("e8-state/#", 1)
        m = watch.get(10)
        assert (m.topic, m.payload) == ("e8-state/gw", b"1")
        gw.kill9()
        deadline = time.monotonic() + 30          # ejabberd notices at 1.5 x keepalive
        while time.monotonic() < deadline:
            m = watch.get(30)
            if m.payload == b"0":
                break
        assert m.payload == b"0", m.payload
    finally:
        watch.close()
        c = cloud_client(ejabberd, "e8-clean")
        c.publish("e8-state/gw", b"", qos=1, retain=True)
        c.close()


def test_ejabberd_mqtt5_properties_both_ways(broker, ejabberd):
    """MQTT 5 properties go through ejabberd both ways: user properties and
    content type up, correlation data down."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    gw = broker(bc.bridge_conf(ejabberd.port, ["e9/up/# out 1", "e9/down/# in 1"],
                               LOGIN + "bridge_protocol_version mqttv50\n", clientid="e9-gw"))
    bc.wait_connected(gw)
    got = {"cloud": [], "app": []}

    def client(port, name, topic, login):
        c = mqtt.Client(client_id="e9-" + name, protocol=mqtt.MQTTv5)
        if login:
            c.username_pw_set("cloud", "x")
        c.on_message = lambda cl, ud, m: got[name].append(m)
        c.connect("127.0.0.1", port)
        c.loop_start()
        c.subscribe(topic, 1)
        return c

    cloud = client(ejabberd.port, "cloud", "e9/up/#", True)
    app = client(gw.port, "app", "e9/down/#", False)
    try:
        time.sleep(1.0)
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("sensor", "t1")]
        props.ContentType = "text/plain"
        app.publish("e9/up/x", b"hello", 1, properties=props).wait_for_publish(5)
        h.wait_until(lambda: got["cloud"], 10, msg="v5 message upstream")
        m = got["cloud"][0]
        assert m.payload == b"hello"
        assert ("sensor", "t1") in m.properties.UserProperty
        assert m.properties.ContentType == "text/plain"
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = b"42"
        cloud.publish("e9/down/y", b"cmd", 1, properties=props).wait_for_publish(5)
        h.wait_until(lambda: got["app"], 10, msg="v5 message downstream")
        assert got["app"][0].properties.CorrelationData == b"42"
    finally:
        for c in (cloud, app):
            c.disconnect()
            c.loop_stop()
