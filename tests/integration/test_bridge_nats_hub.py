"""The interop table's rows for NATS (nats-server 2.9 with JetStream and
MQTT) and for tern itself as a site hub, on default bridge settings:
retained both ways, the outage with the gateway SIGKILLed mid-outage, and
QoS 2 / MQTT 5 on the hub (NATS has neither; see test_bridge_interop.py
for what the bridge does about that). RabbitMQ and ejabberd have their
own files; mosquitto is test_bridge.py's upstream."""

import time

import pytest

import bridge_checks as bc
import engines
import tern_harness as h
from tcp_proxy import PASS, RESET, TcpProxy


@pytest.fixture(params=["nats", "tern-hub"])
def upstream_engine(request, broker, tmp_path):
    """(kind, MQTT port) of a fresh upstream."""
    if request.param == "nats":
        n = engines.NatsNode(tmp_path)
        n.start()
        h.wait_until(lambda: "Server is ready" in n.log(), 15, msg="nats ready")
        yield request.param, n.port
        n.stop()
    else:
        hub = broker(name="hub", persistence=True)
        yield request.param, hub.port


def test_retained_both_ways(broker, upstream_engine):
    kind, port = upstream_engine
    pub = h.PahoClient(port, client_id="n2-pub")
    pub.publish("n2/down/state", b"from-cloud", qos=1, retain=True)
    pub.close()
    gw = broker(bc.bridge_conf(port, ["n2/up/# out 1", "n2/down/# in 1"], clientid="n2-gw"))
    bc.wait_connected(gw)
    app = h.PahoClient(gw.port, client_id="n2-app")
    try:
        app.publish("n2/up/state", b"from-gw", qos=1, retain=True)
        time.sleep(1.0)
        late = h.PahoClient(port, client_id="n2-late")
        try:
            late.subscribe("n2/up/#", 1)
            m = late.get(15)
            assert (m.topic, m.payload, m.retain) == ("n2/up/state", b"from-gw", 1), kind
        finally:
            late.close()
        local = h.PahoClient(gw.port, client_id="n2-local")
        try:
            local.subscribe("n2/down/#", 1)
            m = local.get(15)
            assert (m.topic, m.payload, m.retain) == ("n2/down/state", b"from-cloud", 1), kind
        finally:
            local.close()
    finally:
        app.close()


def test_outage_with_gateway_sigkill_loses_nothing(broker, upstream_engine):
    """1,000 QoS 1 messages acknowledged while the uplink resets, the
    gateway SIGKILLed half-way: all arrive, in order, none twice."""
    kind, port = upstream_engine
    proxy = TcpProxy(port)
    cloud = bc.Collector(port, "n3/#", 1, client_id="n3-cloud")
    try:
        gw = broker(bc.bridge_conf(proxy.port, ["n3/# out 1"], clientid="n3-gw"),
                    persistence=True)
        bc.wait_connected(gw)
        proxy.set_mode(RESET)
        gw.wait_log(r"connection to 127\.0\.0\.1:\d+ lost", 15)
        acked = bc.publish_acked(gw.port, "n3-app", "n3/seq", range(0, 500))
        gw.kill9()
        gw.start()
        acked += bc.publish_acked(gw.port, "n3-app", "n3/seq", range(500, 1000))
        assert len(acked) == 1000
        proxy.set_mode(PASS)
        got = cloud.drain(set(acked), timeout=60)
        r = bc.account(acked, [bc.seq_of(m) for m in got])
        assert (r["missing"], r["duplicates"], r["order_violations"]) == ([], 0, 0), (kind, r)
    finally:
        cloud.close()
        proxy.stop()


@pytest.mark.parametrize("version", ["mqttv311", "mqttv50"])
def test_tern_hub_qos2_exactly_once(broker, version):
    """A tern hub has QoS 2 and MQTT 5: a QoS 2 line arrives at QoS 2, once
    each, nothing downgraded."""
    hub = broker(name="hub")
    extra = "bridge_protocol_version mqttv50\n" if version == "mqttv50" else ""
    gw = broker(bc.bridge_conf(hub.port, ["n4/# out 2"], extra, clientid="n4-gw"))
    bc.wait_connected(gw)
    cloud = bc.Collector(hub.port, "n4/#", 2, client_id="n4-cloud")
    try:
        acked = bc.publish_acked(gw.port, "n4-app", "n4/alarm", range(20), qos=2)
        assert acked == list(range(20))
        got = cloud.drain(set(acked), timeout=20)
        r = bc.account(acked, [bc.seq_of(m) for m in got])
        assert (r["missing"], r["duplicates"]) == ([], 0), r
        assert all(m.qos == 2 for m in got)
        assert "answered a QoS 2 message with PUBACK" not in gw.log()
    finally:
        cloud.close()
