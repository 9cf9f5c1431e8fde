"""Bridge tests: the real tern bridging to a real mosquitto upstream.

Covers the bridge issue's list: topic remapping both ways, loop prevention,
notifications, failover between addresses, TLS with client certificates
and a refused certificate, the durable backlog (10,000 QoS 1 messages
across an outage with tern killed -9 and restarted), upstream restarts in
the middle of a stream, backlog limits and $SYS figures.
"""

import time

import pytest

import bridge_checks as bc
import tern_harness as h
import upstream as up

pytestmark = pytest.mark.tern_only


def bridge_conf(name, addresses, topics, extra=""):
    lines = ["connection %s" % name, "address %s" % " ".join(addresses),
             "restart_timeout 1", "keepalive_interval 10", "remote_clientid tern-%s" % name]
    lines += ["topic %s" % t for t in topics]
    if extra:
        lines.append(extra.strip("\n"))
    return "\n".join(lines) + "\n"


def addr(u):
    return "127.0.0.1:%d" % u.port


def wait_connected(tern, name="up", timeout=15):
    tern.wait_log(r"bridge: %s: connected to" % name, timeout)


def test_bridge_remaps_topics_both_ways(broker, upstream):
    u = upstream()
    tern = broker(bridge_conf("up", [addr(u)],
                              ["sensors/# out 1 local/ gw1/", "cmd/# in 1 down/ cloud/"]))
    wait_connected(tern)
    cloud = h.PahoClient(u.port)
    cloud.subscribe("gw1/#", 1)
    app = h.PahoClient(tern.port)
    app.subscribe("down/#", 1)
    try:
        app.publish("local/sensors/t1", b"21.5", qos=1)
        m = cloud.get(10)
        assert (m.topic, m.payload, m.qos) == ("gw1/sensors/t1", b"21.5", 1)
        time.sleep(0.5)  # the bridge's upstream SUBSCRIBE is in place by now
        cloud.publish("cloud/cmd/valve", b"open", qos=1)
        m = app.get(10)
        assert (m.topic, m.payload) == ("down/cmd/valve", b"open")
        # Topics outside the lines stay where they are.
        app.publish("other/x", b"no", qos=1)
        cloud.publish("elsewhere/y", b"no", qos=1)
        cloud.no_message(0.5)
        app.no_message(0.3)
    finally:
        cloud.close()
        app.close()


def test_bridge_both_direction_has_no_loop(broker, upstream):
    u = upstream()
    tern = broker(bridge_conf("up", [addr(u)], ["loop/# both 1"]))
    wait_connected(tern)
    time.sleep(0.5)
    cloud = h.PahoClient(u.port)
    cloud.subscribe("loop/#", 1)
    app = h.PahoClient(tern.port)
    app.subscribe("loop/#", 1)
    try:
        app.publish("loop/a", b"from-local", qos=1)
        assert cloud.get(10).payload == b"from-local"
        assert app.get(5).payload == b"from-local"
        cloud.publish("loop/b", b"from-cloud", qos=1)
        assert app.get(10).payload == b"from-cloud"
        assert cloud.get(5).payload == b"from-cloud"
        # Nothing comes round a second time.
        app.no_message(1.0)
        cloud.no_message(0.2)
    finally:
        cloud.close()
        app.close()


def test_bridge_notifications_local_and_remote(broker, upstream):
    u = upstream()
    cloud = h.PahoClient(u.port)
    cloud.subscribe("bridges/#", 1)
    tern = broker(bridge_conf("up", [addr(u)], ["a/# out 0"],
                              "notification_topic bridges/gw1/state"))
    try:
        wait_connected(tern)
        m = cloud.get(10)
        assert (m.topic, m.payload) == ("bridges/gw1/state", b"1")
        app = h.PahoClient(tern.port)
        app.subscribe("bridges/gw1/state", 1)
        assert app.get(5).payload == b"1"  # retained locally
        # Upstream goes away: the local state turns 0.
        u.stop()
        assert app.get(15).payload == b"0"
        app.close()
        # tern killed: the upstream publishes our will, "0".
        u.start()
        cloud.close()
        wait_connected(tern)
        cloud = h.PahoClient(u.port)
        cloud.subscribe("bridges/#", 1)
        assert cloud.get(10).payload == b"1"
        tern.kill9()
        assert cloud.get(30).payload == b"0"
    finally:
        cloud.close()


def test_bridge_fails_over_to_second_address(broker, upstream):
    dead = h.free_port()
    u = upstream()
    tern = broker(bridge_conf("up", ["127.0.0.1:%d" % dead, addr(u)], ["fo/# out 1"]))
    tern.wait_log(r"bridge: up: connecting to 127\.0\.0\.1:%d failed" % dead, 15)
    wait_connected(tern, timeout=20)
    assert "connected to 127.0.0.1:%d" % u.port in tern.log()
    cloud = h.PahoClient(u.port)
    cloud.subscribe("fo/#", 1)
    try:
        h.mqtt_pub(tern.port, "fo/x", "via-backup", qos=1)
        assert cloud.get(10).payload == b"via-backup"
    finally:
        cloud.close()


def test_bridge_backlog_survives_kill9_and_replays_in_order(broker, upstream):
    """Upstream down -> 10,000 QoS 1 messages published locally -> tern
    killed with SIGKILL and restarted during the outage -> upstream back ->
    all 10,000 arrive upstream, in order, none lost."""
    n = 10000
    u = upstream(persistence=True)
    bc.upstream_down_with_session(u, "data/#")
    tern = broker(bridge_conf("up", [addr(u)], ["data/# out 1"]), persistence=True)
    tern.wait_log(r"bridge: up: connecting to .* failed", 15)
    bc.publish_many(tern.port, "data/seq", n)
    tern.kill9()
    tern.start()
    tern.wait_log(r"bridge: up: started .*backlog %d messages" % n, 10)
    u.start()
    wait_connected(tern, timeout=20)
    bc.expect_replayed_in_order(u, n, 120)


def test_bridge_upstream_restarts_during_stream_lose_nothing(broker, upstream):
    n = 3000
    u = upstream(persistence=True)
    sub = bc.persistent_cloud_subscriber(u, "stream/#")
    sub.c.reconnect_delay_set(0.1, 0.5)
    tern = broker(bridge_conf("up", [addr(u)], ["stream/# out 1"]), persistence=True)
    wait_connected(tern)
    import threading
    pub = threading.Thread(target=lambda: bc.publish_many(tern.port, "stream/x", n))
    try:
        pub.start()
        for _ in range(3):
            time.sleep(0.7)
            u.restart()
        pub.join(180)
        order = bc.collect_unique(sub, n, 120)
        assert sorted(order, key=int) == [str(i).encode() for i in range(n)]
        assert order == sorted(order, key=int), "replayed out of order"
    finally:
        pub.join(5)
        sub.close()


def test_bridge_backlog_full_drops_oldest(broker, upstream):
    u = upstream(persistence=True)
    bc.upstream_down_with_session(u, "lim/#")
    tern = broker(bridge_conf("up", [addr(u)], ["lim/# out 1"],
                              "bridge_backlog_max_messages 5\nbridge_backlog_policy drop_oldest"),
                  persistence=True)
    bc.publish_many(tern.port, "lim/x", 12)
    u.start()
    wait_connected(tern, timeout=20)
    sub = h.PahoClient(u.port, client_id="cloud-sub", clean_session=False)
    try:
        got = [m.payload for m in sub.get_n(5, 20)]
        assert got == [b"7", b"8", b"9", b"10", b"11"]
        sub.no_message(1.0)
    finally:
        sub.close()


def test_bridge_backlog_full_refuses_publishers(broker, upstream):
    """Policy refuse pushes back on local publishers: MQTT 5 gets 0x97
    (quota exceeded), 3.1.1 gets no PUBACK (it keeps the message)."""
    u = upstream(start=False)
    tern = broker(bridge_conf("up", [addr(u)], ["ref/# out 1"],
                              "bridge_backlog_max_messages 3\nbridge_backlog_policy refuse"),
                  persistence=True)
    c = h.RawClient(tern.port)
    try:
        # MQTT 5 CONNECT (empty property blocks) and five QoS 1 publishes.
        body = h.enc_str("MQTT") + bytes([5, 0x02]) + b"\x00\x3c" + b"\x00" + h.enc_str("v5pub")
        c.send(h.packet(h.CONNECT, 0, body))
        assert c.recv_packet().name == "CONNACK"
        for pid in range(1, 6):
            body = h.enc_str("ref/x") + bytes([0, pid, 0]) + str(pid).encode()
            c.send(h.packet(h.PUBLISH, 0x02, body))
            ack = c.recv_packet()
            assert ack.name == "PUBACK" and ack.pid == pid
            reason = ack.body[2] if len(ack.body) > 2 else 0
            assert reason == (0x97 if pid > 3 else 0), "pid %d reason 0x%02x" % (pid, reason)
    finally:
        c.close()
    c = h.RawClient(tern.port)
    try:
        c.send(h.connect_packet("v3pub"))
        assert c.recv_packet().name == "CONNACK"
        c.send(h.publish_packet("ref/x", "six", qos=1, pid=9))
        with pytest.raises(Exception):
            c.recv_packet(timeout=1.0)
    finally:
        c.close()
    tern.wait_log(r"queue full, refusing", 5)


def test_bridge_sys_figures(broker, upstream):
    u = upstream(start=False)
    tern = broker(bridge_conf("up", [addr(u)], ["fig/# out 1"]) + "sys_interval 1\n",
                  persistence=True)
    bc.publish_many(tern.port, "fig/x", 7)
    app = h.PahoClient(tern.port)
    app.subscribe("$SYS/broker/bridge/up/#", 0)
    try:
        figs = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and figs.get("backlog/messages") != b"7":
            m = app.get(5)
            figs[m.topic.split("/", 4)[4]] = m.payload
        assert figs.get("backlog/messages") == b"7"
        assert figs.get("state") in (b"disconnected", b"connecting")
        u.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and figs.get("messages/acknowledged") != b"7":
            m = app.get(10)
            figs[m.topic.split("/", 4)[4]] = m.payload
        assert figs["messages/acknowledged"] == b"7"
        assert figs["state"] == b"connected"
    finally:
        app.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return up.make_pki(str(tmp_path_factory.mktemp("pki")))


def tls_upstream(upstream, pki):
    return upstream(tls={"cafile": pki["ca.crt"], "certfile": pki["server.crt"],
                         "keyfile": pki["server.key"], "require_certificate": True})


def test_bridge_tls_with_client_certificate(broker, upstream, pki):
    u = tls_upstream(upstream, pki)
    tern = broker(bridge_conf("up", ["localhost:%d" % u.port], ["tls/# out 1"],
                              "bridge_cafile %s\nbridge_certfile %s\nbridge_keyfile %s"
                              % (pki["ca.crt"], pki["client.crt"], pki["client.key"])))
    wait_connected(tern, timeout=20)
    assert "(TLS)" in tern.log()
    cloud = h.PahoClient(u.port, connect=False)
    cloud.c.tls_set(ca_certs=pki["ca.crt"], certfile=pki["client.crt"],
                    keyfile=pki["client.key"])
    cloud.connect()
    try:
        cloud.subscribe("tls/#", 1)
        h.mqtt_pub(tern.port, "tls/x", "secret", qos=1)
        m = cloud.get(10)
        assert (m.topic, m.payload) == ("tls/x", b"secret")
    finally:
        cloud.close()


def test_bridge_tls_wrong_ca_is_refused_and_retried(broker, upstream, pki):
    u = tls_upstream(upstream, pki)
    tern = broker(bridge_conf("up", ["localhost:%d" % u.port], ["tls/# out 1"],
                              "bridge_cafile %s\nbridge_certfile %s\nbridge_keyfile %s"
                              % (pki["otherca.crt"], pki["client.crt"], pki["client.key"])))
    tern.wait_log(r"bridge: up: connecting to localhost:%d failed: .*verif" % u.port, 15)
    # ... and it keeps trying (restart_timeout 1).
    h.wait_until(lambda: tern.log().count("failed:") >= 2, 15, msg="a second attempt")
    assert "connected to" not in tern.log()


def test_bridge_local_client_id_is_reserved(broker, upstream):
    u = upstream()
    tern = broker(bridge_conf("up", [addr(u)], ["r/# out 1"], "local_clientid gw-bridge"))
    wait_connected(tern)
    c = h.PahoClient(tern.port, client_id="gw-bridge", connect=False)
    try:
        c.connect(expect_rc=None)
        assert c.rc == 2  # identifier rejected: nobody takes the bridge's session over
    finally:
        c.close()
    tern.wait_log(r"client id belongs to a bridge", 5)
    cloud = h.PahoClient(u.port)
    cloud.subscribe("r/#", 1)
    try:
        h.mqtt_pub(tern.port, "r/x", "still-bridged", qos=1)
        assert cloud.get(10).payload == b"still-bridged"
    finally:
        cloud.close()


def test_bridge_keepalive_notices_a_silent_upstream(broker, upstream):
    """A cellular uplink often dies without a FIN: the upstream stops
    answering (SIGSTOP here) and the keepalive must notice."""
    import signal
    u = upstream()
    tern = broker(bridge_conf("up", [addr(u)], ["k/# out 1"]).replace(
        "keepalive_interval 10", "keepalive_interval 5"))
    wait_connected(tern)
    u.proc.send_signal(signal.SIGSTOP)
    try:
        tern.wait_log(r"bridge: up: connection to .* lost: keepalive timeout", 20)
    finally:
        u.proc.send_signal(signal.SIGCONT)
    h.wait_until(lambda: tern.log().count("bridge: up: connected to") >= 2, 30,
                 msg="the bridge reconnects")


def test_bridge_kill9_during_replay_resends_what_was_in_flight(broker, upstream):
    """tern is killed while the backlog is being replayed: what was in
    flight is sent again after the restart (at least once), in order."""
    n = 5000
    u = upstream(persistence=True)
    bc.upstream_down_with_session(u, "rp/#")
    tern = broker(bridge_conf("up", [addr(u)], ["rp/# out 1"], "bridge_replay_rate 2000"),
                  persistence=True)
    bc.publish_many(tern.port, "rp/x", n)
    u.start()
    wait_connected(tern, timeout=20)
    time.sleep(0.8)  # about 1,600 of 5,000 replayed at 2,000/s
    tern.kill9()
    tern.start()
    bc.expect_replayed_in_order(u, n, 60)


def test_bridge_qos2_line_delivers_exactly_once(broker, upstream):
    u = upstream()
    tern = broker(bridge_conf("up", [addr(u)], ["q2/# out 2"]), persistence=True)
    wait_connected(tern)
    cloud = h.PahoClient(u.port)
    cloud.subscribe("q2/#", 2)
    try:
        bc.publish_many(tern.port, "q2/x", 300, qos=2)
        msgs = cloud.get_n(300, 30)
        assert [m.payload for m in msgs] == [str(i).encode() for i in range(300)]
        assert all(m.qos == 2 for m in msgs)
        cloud.no_message(1.0)
    finally:
        cloud.close()


def test_bridge_mqtt5_passes_properties_both_ways(broker, upstream):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    u = upstream()
    tern = broker(bridge_conf("up", [addr(u)], ["v5/# both 1"],
                              "bridge_protocol_version mqttv50"))
    wait_connected(tern)
    assert "MQTT 5.0" in tern.log()
    time.sleep(0.5)
    got = {"cloud": [], "app": []}

    def client(port, name):
        c = mqtt.Client(client_id=name, protocol=mqtt.MQTTv5)
        c.on_message = lambda cl, ud, m: got[name].append(m)
        c.connect("127.0.0.1", port)
        c.loop_start()
        c.subscribe("v5/#", 1)
        return c

    cloud = client(u.port, "cloud")
    app = client(tern.port, "app")
    try:
        time.sleep(0.5)
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("sensor", "t1")]
        props.ContentType = "text/plain"
        app.publish("v5/up", b"hello", 1, properties=props).wait_for_publish(5)
        h.wait_until(lambda: got["cloud"], 10, msg="v5 message upstream")
        m = got["cloud"][0]
        assert m.payload == b"hello"
        assert ("sensor", "t1") in m.properties.UserProperty
        assert m.properties.ContentType == "text/plain"
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = b"42"
        cloud.publish("v5/down", b"cmd", 1, properties=props).wait_for_publish(5)
        h.wait_until(lambda: [x for x in got["app"] if x.topic == "v5/down"], 10,
                     msg="v5 message downstream")
        m = [x for x in got["app"] if x.topic == "v5/down"][0]
        assert m.properties.CorrelationData == b"42"
        time.sleep(0.5)
        # No Local upstream, No Local here: each side saw each message once.
        assert [x.topic for x in got["cloud"]].count("v5/up") == 1
        assert [x.topic for x in got["app"]].count("v5/down") == 1
    finally:
        for c in (cloud, app):
            c.disconnect()
            c.loop_stop()


def test_bridge_replay_rate_is_honoured(broker, upstream):
    """bridge_replay_rate 100: 300 queued messages take at least ~2 s to
    replay (a lower bound: a slow machine only makes it slower)."""
    u = upstream(persistence=True)
    bc.upstream_down_with_session(u, "rr/#")
    tern = broker(bridge_conf("up", [addr(u)], ["rr/# out 1"], "bridge_replay_rate 100"),
                  persistence=True)
    bc.publish_many(tern.port, "rr/x", 300)
    u.start()
    cloud = h.PahoClient(u.port, client_id="cloud-sub", clean_session=False)
    try:
        wait_connected(tern, timeout=20)
        t0 = time.monotonic()
        msgs = cloud.get_n(300, 30)
        took = time.monotonic() - t0
        assert [m.payload for m in msgs] == [str(i).encode() for i in range(300)]
        assert took >= 1.8, "300 messages at 100/s replayed in %.2fs" % took
    finally:
        cloud.close()


def test_bridge_backlog_max_age_drops_stale_messages(broker, upstream):
    u = upstream(persistence=True)
    bc.upstream_down_with_session(u, "age/#")
    tern = broker(bridge_conf("up", [addr(u)], ["age/# out 1"],
                              "bridge_backlog_max_age 2") + "sys_interval 1\n",
                  persistence=True)
    bc.publish_many(tern.port, "age/x", 5, prefix="old")
    time.sleep(3.5)  # older than the maximum age when the uplink returns
    u.start()
    wait_connected(tern, timeout=20)
    # Fresh messages after the replay still go (sent live, far younger
    # than 2 s whatever the machine's load).
    bc.publish_many(tern.port, "age/x", 2, prefix="new")
    sub = h.PahoClient(u.port, client_id="cloud-sub", clean_session=False)
    app = h.PahoClient(tern.port)
    try:
        assert [m.payload for m in sub.get_n(2, 10)] == [b"new0", b"new1"]
        sub.no_message(1.0)
        app.subscribe("$SYS/broker/bridge/up/dropped/age", 0)
        h.wait_until(lambda: app.get(5).payload == b"5", 10, msg="dropped/age 5")
        tern.wait_log(r"older than the backlog's maximum age", 1)
    finally:
        sub.close()
        app.close()


def test_bridge_local_username_is_checked_against_the_acl(broker, upstream, tmp_path):
    """With acl_file and local_username, the bridge's local side reads
    (what goes up) and writes (what comes down) under that user's rules,
    as mosquitto does."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite #\n"          # anonymous local apps
                   "user gw\n"
                   "topic read out/#\n"
                   "topic write in/ok/#\n")
    u = upstream()
    tern = broker(bridge_conf("up", [addr(u)], ["out/# out 1", "secret/# out 1", "in/# in 1"],
                              "local_username gw") + "acl_file %s\n" % acl)
    wait_connected(tern)
    time.sleep(0.5)
    cloud = h.PahoClient(u.port)
    cloud.subscribe("out/#", 1)
    cloud.subscribe("secret/#", 1)
    app = h.PahoClient(tern.port)
    app.subscribe("in/#", 1)
    try:
        app.publish("secret/a", b"stays-here", qos=1)
        app.publish("out/a", b"goes-up", qos=1)
        assert cloud.get(10).payload == b"goes-up"  # secret/a was not readable by gw
        cloud.publish("in/no/x", b"denied", qos=1)
        cloud.publish("in/ok/x", b"allowed", qos=1)
        assert app.get(10).payload == b"allowed"
        app.no_message(0.5)
        cloud.no_message(0.2)
        tern.wait_log(r"in/no/x\" denied by the ACL", 5)
    finally:
        cloud.close()
        app.close()
