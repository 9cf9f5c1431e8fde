"""Bridges that work with defaults (issue 16, first slice): the real tern
bridging to a real NATS server (Debian's nats-server 2.9 with JetStream and
its MQTT gateway) and to another tern as a hub, and tern as a broker
accepting mosquitto's bridge protocol levels.

Each test fails on the build before the change (main 56711d4): NATS
refuses level 0x84 with CONNACK 1 and tern did not fall back; tern as a
hub refused 0x84; a connection that died right after CONNACK was retried
at once (a reconnect storm)."""

import os
import re
import shutil
import subprocess
import time

import pytest

import tern_harness as h
from tern_harness import PUBLISH, SUBACK, publish_packet, subscribe_packet

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"


class Nats:
    """nats-server with JetStream and MQTT on free loopback ports."""

    def __init__(self, tmp_path):
        self.dir = os.path.join(str(tmp_path), "nats")
        os.makedirs(self.dir, exist_ok=True)
        self.port = h.free_port()          # MQTT
        self.nats_port = h.free_port()
        conf = os.path.join(self.dir, "nats.conf")
        with open(conf, "w") as f:
            f.write('server_name: "t1"\nlisten: "127.0.0.1:%d"\n'
                    'jetstream { store_dir: "%s/js" }\n'
                    'mqtt { host: "127.0.0.1", port: %d }\n' % (self.nats_port, self.dir,
                                                              self.port))
        self.log_path = os.path.join(self.dir, "nats.log")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([NATS, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        h.wait_until(lambda: self.proc.poll() is not None or h.port_accepts(self.port), 15,
                     msg="nats-server MQTT port")
        assert self.proc.poll() is None, self.log()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def nats(tmp_path):
    if not os.path.exists(NATS):
        pytest.fail("nats-server is not installed (the README's test command installs it)")
    n = Nats(tmp_path)
    yield n
    n.stop()


def bridge_to(port, topics, extra=""):
    lines = ["connection up", "address 127.0.0.1:%d" % port, "restart_timeout 1 4",
             "keepalive_interval 10", "remote_clientid tern-gw"]
    lines += ["topic %s" % t for t in topics]
    return "\n".join(lines) + "\n" + extra


def test_bridge_to_nats_with_default_settings(broker, nats):
    """try_private defaults to true (mosquitto's default); NATS refuses
    level 0x84 with CONNACK 1. The bridge falls back to level 4 for that
    address, says so, and messages flow both ways."""
    gw = broker(bridge_to(nats.port, ["sensors/# out 1", "cmd/# in 1"]))
    gw.wait_log(r"bridge: up: connected to", 20)
    assert re.search(r"answered CONNACK 1 .* bridge protocol level 0x84 \(try_private\): "
                     r"using the standard level 4", gw.log()), gw.log()[-2000:]
    cloud = h.PahoClient(nats.port, client_id="cloud")
    app = h.PahoClient(gw.port, client_id="app")
    try:
        cloud.subscribe("sensors/#", 1)
        app.subscribe("cmd/#", 1)
        time.sleep(1.0)                           # the bridge's SUBSCRIBE upstream
        app.publish("sensors/t", b"21", qos=1)
        m = cloud.get(15)
        assert (m.topic, m.payload) == ("sensors/t", b"21")
        cloud.publish("cmd/valve", b"open", qos=1)
        m = app.get(15)
        assert (m.topic, m.payload) == ("cmd/valve", b"open")
    finally:
        cloud.close()
        app.close()


def test_bridge_backs_off_after_a_connection_that_dies_after_connack(broker, nats):
    """NATS has no QoS 2 and closes the connection on a QoS 2 PUBLISH. Tern
    reconnected at once after every such close (529 attempts in 15 s). Now
    every disconnect backs off (restart_timeout 1 4: 1 s, growing to 4)."""
    gw = broker(bridge_to(nats.port, ["alarms/# out 2"], "try_private false\n"))
    gw.wait_log(r"bridge: up: connected to", 20)
    app = h.RawClient(gw.port)
    app.connect("alarm-app")
    app.publish("alarms/fire", b"!", qos=2, pid=1)
    time.sleep(8)
    connects = len(re.findall(r"bridge: up: connected to", gw.log()))
    assert connects <= 8, "%d connections in 8 s" % connects
    assert re.search(r"lost: .*\(up \d+ s", gw.log())


def test_tern_accepts_mosquitto_bridge_levels(broker, raw):
    """Level 0x84 (0x83) is a bridge: accepted, and it gets none of its own
    messages back; retain flags stay as published."""
    hub = broker()
    for level in (0x84, 0x83):
        c = raw(hub)
        proto = "MQIsdp" if level == 0x83 else "MQTT"
        c.send(h.connect_packet("br%x" % level, True, 60, proto_name=proto, level=level))
        ack = c.expect(h.CONNACK)
        assert ack.rc == 0, (level, ack)
        c.send(subscribe_packet(1, [("x/#", 1)]))
        c.expect(SUBACK)
        c.publish("x/own", b"mine", qos=1, pid=2)
        other = raw(hub)
        other.connect("other%x" % level)
        other.publish("x/other", b"theirs", qos=1, pid=3, retain=True)
        p = c.expect(PUBLISH, timeout=5)
        assert (p.topic, p.payload, p.retain) == ("x/other", b"theirs", True), p
        c.no_packet(0.5)                          # x/own never came back
        other.publish("x/other", b"", qos=0, retain=True)
    assert "(p4, c1, k60, bridge)" in hub.log()


def test_tern_gateway_to_tern_hub_with_defaults(broker):
    """A tern gateway bridging `both` ways to a tern hub with default
    settings: connected at level 0x84, and a local message comes back to
    the gateway's subscriber once, not echoed by the hub."""
    hub = broker(name="hub")
    gw = broker(bridge_to(hub.port, ["t/# both 1"]), name="gw")
    gw.wait_log(r"bridge: up: connected to", 20)
    assert "bridge)" in hub.log()
    app = h.PahoClient(gw.port, client_id="app")
    cloud = h.PahoClient(hub.port, client_id="cloud")
    try:
        app.subscribe("t/#", 1)
        cloud.subscribe("t/#", 1)
        time.sleep(1.0)
        app.publish("t/1", b"once", qos=1)
        assert cloud.get(10).payload == b"once"
        assert app.get(5).payload == b"once"
        app.no_message(1.5)                       # no echo through the hub
    finally:
        app.close()
        cloud.close()


def test_notification_will_refused_bridge_connects_without_it(broker):
    """An upstream that keeps $-topics to itself (ejabberd; tern itself for
    a client that is not at a bridge level) refused the whole bridge,
    whose default will is on $SYS/broker/connection/ID/state. Now the
    bridge says so and connects without the will."""
    hub = broker(name="hub")
    gw = broker(bridge_to(hub.port, ["t/# out 1"], "try_private false\n"), name="gw")
    gw.wait_log(r"bridge: up: connected to", 20)
    assert "refused the CONNECT with our notification will" in gw.log()
    app = h.PahoClient(gw.port, client_id="app")
    cloud = h.PahoClient(hub.port, client_id="cloud")
    try:
        cloud.subscribe("t/#", 1)
        time.sleep(0.5)
        app.publish("t/x", b"through", qos=1)
        assert cloud.get(10).payload == b"through"
    finally:
        app.close()
        cloud.close()


def test_bridge_notification_on_a_tern_hub(broker, raw):
    """At a bridge level the notification is the one $SYS topic the bridge
    may publish: the hub holds "1" retained while the gateway is up."""
    hub = broker(name="hub")
    gw = broker(bridge_to(hub.port, ["t/# out 1"]), name="gw")
    gw.wait_log(r"bridge: up: connected to", 20)
    c = raw(hub)
    c.connect("watch")
    c.subscribe("$SYS/broker/connection/tern-gw/state")
    p = c.expect(PUBLISH, timeout=10)
    assert (p.payload, p.retain) == (b"1", True)


def test_nats_closing_on_qos2_does_not_stall_the_backlog(broker, nats):
    """NATS has no QoS 2 and closes the connection on a QoS 2 PUBLISH: the
    QoS 1 messages behind it never arrived. After three connections that
    died right after that message, the bridge sends QoS 2 as QoS 1 (logged;
    at least once instead of exactly once) and the backlog flows."""
    gw = broker(bridge_to(nats.port, ["alarms/# out 2"], "try_private false\n"))
    gw.wait_log(r"bridge: up: connected to", 20)
    cloud = h.PahoClient(nats.port, client_id="cloud-alarms")
    try:
        cloud.subscribe("alarms/#", 1)
        app = h.RawClient(gw.port)
        app.connect("alarm-app")
        app.publish("alarms/fire", b"q2", qos=2, pid=1)
        for i in range(5):
            app.publish("alarms/door", b"q1-%d" % i, qos=1, pid=10 + i)
        got = []
        deadline = time.monotonic() + 40
        while len(got) < 6 and time.monotonic() < deadline:
            try:
                got.append(cloud.get(2).payload)
            except Exception:
                pass
        assert sorted(got) == sorted([b"q2"] + [b"q1-%d" % i for i in range(5)]), got
        assert "sending QoS 2 as QoS 1 from now on" in gw.log()
    finally:
        cloud.close()


def test_bridge_wide_remote_prefix_with_host_and_client_id(broker, upstream):
    """remote_prefix puts a per-gateway namespace before every line's remote
    side; %h is the host name and %c the remote client id, in it and in the
    lines' own prefixes."""
    import socket as so
    u = upstream(name="cloud")
    gw = broker(bridge_to(u.port, ["sensors/# out 1", "cmd/# in 1 \"\" %c/"],
                          "remote_prefix site/%h/\n"))
    gw.wait_log(r"bridge: up: connected to", 20)
    host = so.gethostname()
    cloud = h.PahoClient(u.port, client_id="cloud")
    app = h.PahoClient(gw.port, client_id="app")
    try:
        cloud.subscribe("site/#", 1)
        app.subscribe("cmd/#", 1)
        time.sleep(1.0)
        app.publish("sensors/t", b"1", qos=1)
        m = cloud.get(10)
        assert m.topic == "site/%s/sensors/t" % host, m.topic
        cloud.publish("site/%s/tern-gw/cmd/valve" % host, b"open", qos=1)
        m = app.get(10)
        assert (m.topic, m.payload) == ("cmd/valve", b"open")
    finally:
        cloud.close()
        app.close()


def test_bad_percent_in_a_prefix_stops_the_bridge_config(broker, tmp_path):
    """A % sequence that is not %h, %c or %% stops tern at start, named."""
    with pytest.raises(AssertionError, match=r"%x is not %h, %c or %%"):
        broker(bridge_to(9, ["a/# out 1"], "remote_prefix site/%x/\n"))


def test_nats_answers_mqtt5_with_a_311_connack_and_the_log_says_so(broker, nats):
    """NATS 2.9 has no MQTT 5: it answers an MQTT 5 CONNECT with a 3.1.1
    CONNACK 1, which as MQTT 5 is malformed. The log said "malformed
    packet"; now it names the version mismatch and the setting."""
    gw = broker(bridge_to(nats.port, ["a/# out 1"], "bridge_protocol_version mqttv50\n"))
    gw.wait_log(r"(?m)failed: an MQTT 3\.1\.1 CONNACK \(unacceptable protocol version, 0x01\) to "
                r"our MQTT 5 CONNECT: no MQTT 5 there, use bridge_protocol_version mqttv311 "
                r"before any CONNACK$", 10)


def test_a_reset_before_connack_is_no_refusal_of_level_0x84(broker):
    """A link that resets the first attempts (a proxy here) said nothing
    about protocol levels, yet the bridge took the close before CONNACK as
    a refusal of 0x84 and used level 4 for that address from then on: a
    tern hub (or mosquitto) then no longer knew it as a bridge and echoed
    its own messages back. Only an orderly close counts now."""
    from tcp_proxy import PASS, RESET, TcpProxy
    hub = broker(name="hub")
    proxy = TcpProxy(hub.port)
    proxy.set_mode(RESET)
    try:
        gw = broker(bridge_to(proxy.port, ["t/# both 1"]), name="gw")
        gw.wait_log(r"connecting to 127\.0\.0\.1:\d+ failed: .*reset", 10)
        proxy.set_mode(PASS)
        gw.wait_log(r"bridge: up: connected to", 20)
        assert "using the standard level 4" not in gw.log()
        assert "bridge)" in hub.log()
    finally:
        proxy.stop()
