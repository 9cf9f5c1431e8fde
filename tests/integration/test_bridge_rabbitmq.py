"""The bridge against a real RabbitMQ (Debian's rabbitmq-server 3.10.8 with
the rabbitmq_mqtt plugin), started by this module in its own directories
on ports picked here (engines.py), on the bridge's default settings.

RabbitMQ 3.10 speaks MQTT 3.1.1 only, closes the connection without a
CONNACK on mosquitto's bridge level 0x84 (try_private, on by default), and
answers a QoS 2 PUBLISH with PUBACK (it has no QoS 2)."""

import re
import time

import pytest

import bridge_checks as bc
import engines
import tern_harness as h
from tcp_proxy import PASS, RESET, TcpProxy


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    if not engines.rabbitmq_installed():
        pytest.fail("rabbitmq-server is not installed (the README's test command installs it)")
    r = engines.RabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
    try:
        r.start()
    except Exception:
        r.stop()
        raise
    yield r
    r.stop()


def test_rabbitmq_default_bridge_connects_out_and_in(broker, rabbit):
    """try_private is on: RabbitMQ closes at level 0x84 before any CONNACK;
    the bridge says so, uses level 4 for that address, and messages flow
    both ways."""
    gw = broker(bc.bridge_conf(rabbit.port, ["r1/out/# out 1", "r1/cmd/# in 1"],
                               clientid="r1-gw"))
    bc.wait_connected(gw)
    log = gw.log()
    assert re.search(r"closed the connection without a CONNACK to the bridge protocol level "
                     r"0x84 \(try_private\): using the standard level 4", log), log[-3000:]
    cloud = h.PahoClient(rabbit.port, client_id="r1-cloud")
    app = h.PahoClient(gw.port, client_id="r1-app")
    try:
        cloud.subscribe("r1/out/#", 1)
        app.subscribe("r1/cmd/#", 1)
        time.sleep(1.0)                         # the bridge's SUBSCRIBE upstream
        app.publish("r1/out/t", b"21", qos=1)
        m = cloud.get(15)
        assert (m.topic, m.payload) == ("r1/out/t", b"21")
        cloud.publish("r1/cmd/valve", b"open", qos=1)
        m = app.get(15)
        assert (m.topic, m.payload) == ("r1/cmd/valve", b"open")
    finally:
        cloud.close()
        app.close()


def test_rabbitmq_retained_both_ways(broker, rabbit):
    """A retained message published here is retained upstream (a later
    subscriber there gets it with the flag); one retained upstream reaches
    a gateway that connects afterwards and is retained here. RabbitMQ 3.10
    hands retained messages only to a subscription of that exact topic,
    never through a wildcard: an `in` line needs the exact topic for them
    (measured here on both sides)."""
    cloud_pub = h.PahoClient(rabbit.port, client_id="r2-pub")
    try:
        cloud_pub.publish("r2/down/state", b"from-cloud", qos=1, retain=True)
    finally:
        cloud_pub.close()
    gw = broker(bc.bridge_conf(rabbit.port, ["r2/up/# out 1", "r2/down/state in 1"],
                               clientid="r2-gw"))
    bc.wait_connected(gw)
    app = h.PahoClient(gw.port, client_id="r2-app")
    try:
        app.publish("r2/up/state", b"from-gw", qos=1, retain=True)
        time.sleep(1.0)
        late = h.PahoClient(rabbit.port, client_id="r2-late")
        wild = h.PahoClient(rabbit.port, client_id="r2-wild")
        try:
            late.subscribe("r2/up/state", 1)
            m = late.get(15)
            assert (m.topic, m.payload, m.retain) == ("r2/up/state", b"from-gw", 1)
            wild.subscribe("r2/up/#", 1)
            wild.no_message(1.0)            # RabbitMQ's limit, not the bridge's
        finally:
            late.close()
            wild.close()
        local = h.PahoClient(gw.port, client_id="r2-local")
        try:
            local.subscribe("r2/down/#", 1)
            m = local.get(15)
            assert (m.topic, m.payload, m.retain) == ("r2/down/state", b"from-cloud", 1)
        finally:
            local.close()
    finally:
        app.close()
        for t in ("r2/up/state", "r2/down/state"):   # the module's broker is shared
            c = h.PahoClient(rabbit.port)
            c.publish(t, b"", qos=1, retain=True)
            c.close()


def test_rabbitmq_outage_with_gateway_sigkill_loses_nothing(broker, rabbit, tmp_path):
    """The uplink is cut (a proxy resets every connection); 1,000 QoS 1
    messages are acknowledged by the gateway, which is SIGKILLed half-way
    and restarted; the link comes back: every acknowledged message arrives
    upstream, in order, none twice."""
    proxy = TcpProxy(rabbit.port)
    cloud = bc.Collector(rabbit.port, "r3/#", 1, client_id="r3-cloud")
    try:
        gw = broker(bc.bridge_conf(proxy.port, ["r3/# out 1"], clientid="r3-gw"),
                    persistence=True)
        bc.wait_connected(gw)
        proxy.set_mode(RESET)
        gw.wait_log(r"connection to 127\.0\.0\.1:\d+ lost", 15)
        acked = bc.publish_acked(gw.port, "r3-app", "r3/seq", range(0, 500))
        gw.kill9()
        gw.start()
        acked += bc.publish_acked(gw.port, "r3-app", "r3/seq", range(500, 1000))
        assert len(acked) == 1000
        proxy.set_mode(PASS)
        got = cloud.drain(set(acked), timeout=60)
        r = bc.account(acked, [bc.seq_of(m) for m in got])
        assert (r["missing"], r["duplicates"], r["order_violations"]) == ([], 0, 0), r
    finally:
        cloud.close()
        proxy.stop()


def test_rabbitmq_qos2_answered_with_puback_is_a_counted_downgrade(broker, rabbit):
    """RabbitMQ has no QoS 2 and answers a QoS 2 PUBLISH with PUBACK: the
    message is delivered (at least once), the bridge logs the downgrade
    once and counts each one in $SYS .../downgraded."""
    gw = broker(bc.bridge_conf(rabbit.port, ["r4/# out 2"], clientid="r4-gw")
                + "sys_interval 1\n")
    bc.wait_connected(gw)
    cloud = bc.Collector(rabbit.port, "r4/#", 1, client_id="r4-cloud")
    sysw = bc.SysWatch(gw)
    try:
        acked = bc.publish_acked(gw.port, "r4-app", "r4/alarm", range(5), qos=2)
        assert acked == list(range(5))
        got = cloud.drain(set(acked), timeout=20)
        assert bc.account(acked, [bc.seq_of(m) for m in got])["missing"] == []
        assert all(m.qos == 1 for m in got)
        sysw.wait("downgraded", lambda v: v == b"5")
        assert len(re.findall(r"answered a QoS 2 message with PUBACK", gw.log())) == 1
    finally:
        sysw.close()
        cloud.close()


def test_rabbitmq_mqtt5_bridge_is_told_it_has_no_mqtt5(broker, rabbit):
    """RabbitMQ 3.10 has no MQTT 5 and closes the connection on an MQTT 5
    CONNECT without a CONNACK: the log says what that likely means and
    what to set (it said only "connection closed by peer")."""
    gw = broker(bc.bridge_conf(rabbit.port, ["r5/# out 1"], "bridge_protocol_version mqttv50\n",
                               clientid="r5-gw"))
    gw.wait_log(r"before any CONNACK \(an upstream without MQTT 5 does that, e\.g\. RabbitMQ "
                r"3\.10: use bridge_protocol_version mqttv311\)", 10)


def test_rabbitmq_grants_qos1_for_a_qos2_in_line_and_the_log_says_so(broker, rabbit):
    """RabbitMQ grants QoS 1 to a QoS 2 subscription: an `in 2` line brings
    messages at least once, not exactly once. The bridge said nothing;
    now it logs the grant with the filter."""
    gw = broker(bc.bridge_conf(rabbit.port, ["r6/# in 2"], clientid="r6-gw"))
    bc.wait_connected(gw)
    gw.wait_log(r'the upstream granted QoS 1 for remote subscription "r6/#" \(asked 2\)', 10)
    app = h.PahoClient(gw.port, client_id="r6-app")
    cloud = h.PahoClient(rabbit.port, client_id="r6-cloud")
    try:
        app.subscribe("r6/#", 2)
        cloud.publish("r6/x", b"down", qos=1)
        assert app.get(10).payload == b"down"
    finally:
        app.close()
        cloud.close()


def test_rabbitmq_sigkill_keeps_the_bridge_session_and_its_queue(broker, tmp_path):
    """RabbitMQ keeps a cleansession-false MQTT session in a durable queue
    on disk: QoS 1 messages published upstream while the bridge was away
    are still there after RabbitMQ was SIGKILLed and restarted (session
    present 1), and come down in order."""
    r = engines.RabbitMQ(tmp_path, "rabbitmq-restart")
    r.start()
    proxy = TcpProxy(r.port)
    try:
        gw = broker(bc.bridge_conf(proxy.port, ["r7/# in 1"], clientid="r7-gw"),
                    persistence=True)
        bc.wait_connected(gw)
        app = bc.Collector(gw.port, "r7/#", 1, client_id="r7-app")
        proxy.set_mode(RESET)
        gw.wait_log(r"connection to 127\.0\.0\.1:\d+ lost", 15)
        acked = bc.publish_acked(r.port, "r7-cloud", "r7/seq", range(50))
        assert len(acked) == 50
        time.sleep(1.0)
        r.kill9()
        r.start()
        proxy.set_mode(PASS)
        bc.wait_connected(gw, 2, timeout=60)
        assert re.search(r"connected to .*session present 1", gw.log().split("lost", 1)[1])
        got = app.drain(set(acked), timeout=30)
        r_ = bc.account(acked, [bc.seq_of(m) for m in got])
        assert (r_["missing"], r_["order_violations"]) == ([], 0), r_
        app.close()
    finally:
        proxy.stop()
        r.stop()
