"""Forged MQTT-SN clients cost Tern no more than a bounded amount (issue 11).

A CONNECT + SUBSCRIBE # from a forged UDP source creates a client and a
session that every routed message then visits, even though the
anti-amplification limit keeps the datagrams from leaving. The clients
whose address is not proven are capped per listener
(mqttsn_max_unproven_clients): the oldest makes room for a new one. A
session only such a connection used is discarded with it; one that existed
before (a real durable client back from a new address) is only
disconnected. A client proves itself with a REGACK to a gateway REGISTER
or by publishing on a topic id the gateway gave it.

Forged sources are sockets bound to other loopback addresses
(127.x.y.z): Tern's answers go there and nobody reads them, as for a
spoofed address."""

import re
import socket
import struct
import time

import pytest

import sn_client as sn
import svc_helpers as sh
import tern_harness as h
from test_mqttsn import snc  # noqa: F401
from test_mqttsn_config import start_fails
from test_ops_http import get, metric

pytestmark = pytest.mark.tern_only


def sn_ops_broker(broker, sn_extra="", persistence=False):
    """A broker with an operations listener and an MQTT-SN listener (its
    options sn_extra); returns (broker, MQTT-SN port, HTTP port)."""
    hp, port = h.free_port(), sn.free_udp_port()
    b = broker("sys_interval 1\nlistener %d 127.0.0.1\nprotocol http\n"
               "listener %d 127.0.0.1\nprotocol mqttsn\n%s" % (hp, port, sn_extra),
               persistence=persistence)
    h.wait_until(lambda: h.port_accepts(hp), msg="http listener %d" % hp)
    sh.wait_gwinfo(port)
    return b, port, hp


def figures(hp):
    body = get(hp, "/metrics")[2]
    return {k: metric(body, k) for k in (
        "tern_mqttsn_clients", "tern_mqttsn_unproven_clients",
        "tern_mqttsn_unproven_evicted_total", "tern_mqttsn_unproven_sessions_discarded_total",
        "tern_sessions", "tern_subscriptions")}


def wait_figure(hp, name, want, timeout=15):
    h.wait_until(lambda: figures(hp)[name] == want, timeout=timeout,
                 msg="%s == %r (last %r)" % (name, want, figures(hp)))


def spoof(port, n, net, clean=True, subscribe=True, disconnect=False, ids=None, start=0):
    """n CONNECTs (keep-alive 600 s), each from its own forged source
    127.net.X.Y, each followed by SUBSCRIBE # (and DISCONNECT); paced so
    that no datagram is lost in the socket buffers."""
    gw = ("127.0.0.1", port)
    for k in range(n):
        i = start + k
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.%d.%d.%d" % (net, i // 250, i % 250 + 1), 0))
            cid = (ids[k] if ids else "forged-%d-%d" % (net, i)).encode()
            s.sendto(sn.frame(sn.CONNECT, bytes([sn.flags(clean=clean), 1]) +
                              struct.pack(">H", 600) + cid), gw)
            if subscribe:
                s.sendto(sn.frame(sn.SUBSCRIBE, bytes([sn.flags(qos=1)]) +
                                  struct.pack(">H", 1) + b"#"), gw)
            if disconnect:
                s.sendto(sn.frame(sn.DISCONNECT), gw)
        finally:
            s.close()
        if k % 20 == 19:
            time.sleep(0.005)


def test_forged_subscribers_capped_real_subscriber_keeps_session(broker, snc):
    """The soak's attack: 2000 forged CONNECT + SUBSCRIBE #, then a QoS 0
    burst. Tern keeps 100 of them (not 2000), and a real subscriber that
    proved itself keeps its session and its messages."""
    b, port, hp = sn_ops_broker(broker, "mqttsn_max_unproven_clients 100\n")
    real = snc(port, client_id="real-sub")
    real.connect(clean=False, duration=600)
    real.subscribe("real/#", qos=1)
    h.mqtt_pub(b.port, "real/x", "first", qos=1)
    assert real.receive_publish()[1] == b"first"  # REGISTER answered: proven
    wait_figure(hp, "tern_mqttsn_unproven_clients", 0)

    spoof(port, 2000, 50)
    wait_figure(hp, "tern_mqttsn_unproven_evicted_total", 1900)
    p = h.PahoClient(b.port)
    try:
        for i in range(300):
            p.publish("flood/x", "f" * 200, qos=0)
    finally:
        p.close()
    h.mqtt_pub(b.port, "real/y", "after", qos=1)
    assert real.receive_publish()[1] == b"after"
    f = figures(hp)
    assert f["tern_mqttsn_clients"] == 101, f
    assert f["tern_mqttsn_unproven_clients"] == 100, f
    assert f["tern_mqttsn_unproven_evicted_total"] == 1900, f
    h.wait_until(lambda: figures(hp)["tern_sessions"] == 101, msg="101 sessions")
    assert figures(hp)["tern_subscriptions"] == 101
    real.ping()
    assert b.log().count("the oldest makes room for each new one") == 1  # once per episode
    topic = "$SYS/broker/mqttsn/unproven/evicted"
    h.wait_until(lambda: h.mqtt_sub_collect(b.port, topic, 1, wait=3) == [(topic, "1900")],
                 timeout=10, msg="%s 1900 (sys_interval 1)" % topic)


def test_eviction_keeps_an_existing_durable_session(broker, snc):
    """A durable client back from a new address has not proven that address
    yet when the cap evicts it: it is only disconnected; its session, its
    subscription and every queued QoS 1 message stay."""
    b, port, hp = sn_ops_broker(broker, "mqttsn_max_unproven_clients 5\n", persistence=True)
    d = snc(port, client_id="dur-1")
    d.connect(clean=False, duration=600)
    d.subscribe("dur/x", qos=1)
    h.mqtt_pub(b.port, "dur/x", "0", qos=1)
    assert d.receive_publish()[1] == b"0"
    d.disconnect()
    for i in range(1, 4):
        h.mqtt_pub(b.port, "dur/x", str(i), qos=1)

    # Back from another address; it never answers the gateway's REGISTER.
    moved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        moved.bind(("127.0.0.77", 0))
        moved.settimeout(5)
        moved.sendto(sn.frame(sn.CONNECT, bytes([sn.flags(clean=False), 1]) +
                              struct.pack(">H", 600) + b"dur-1"), ("127.0.0.1", port))
        assert sn.parse(moved.recvfrom(1000)[0])["type"] == sn.CONNACK
        wait_figure(hp, "tern_mqttsn_unproven_clients", 1)
        spoof(port, 5, 51)
        wait_figure(hp, "tern_mqttsn_unproven_evicted_total", 1)
    finally:
        moved.close()
    b.wait_log(r'client="dur-1" peer=127\.0\.0\.77:\d+ disconnected: evicted: address not '
               r"proven \(mqttsn_max_unproven_clients\)\n", timeout=5)
    assert "dur-1\" peer=127.0.0.77" not in "".join(
        ln for ln in b.log().splitlines() if "session discarded" in ln)

    back = snc(port, client_id="dur-1")
    back.connect(clean=False, duration=600)
    got = sorted(back.receive_publish()[1] for _ in range(3))
    assert got == [b"1", b"2", b"3"]
    h.mqtt_pub(b.port, "dur/x", "4", qos=1)  # the subscription is still there
    assert back.receive_publish()[1] == b"4"


def test_forged_durable_sessions_do_not_pile_up(broker):
    """Forged CONNECTs with clean session 0: those that then DISCONNECT leave
    at most mqttsn_max_unproven_clients sessions behind (the oldest goes
    for a newer one); those the cap evicts take their session with them,
    also when a second forged CONNECT took the first one's session over."""
    b, port, hp = sn_ops_broker(broker, "mqttsn_max_unproven_clients 10\n", persistence=True)
    spoof(port, 30, 52, clean=False, disconnect=True)
    h.wait_until(lambda: figures(hp)["tern_mqttsn_unproven_sessions_discarded_total"] == 20,
                 msg="20 left-behind sessions discarded (last %r)" % figures(hp))
    f = figures(hp)
    assert (f["tern_sessions"], f["tern_subscriptions"], f["tern_mqttsn_clients"]) == \
        (10, 10, 0), f
    b.wait_log(r"10 durable sessions of clients that never proved their address "
               r"\(mqttsn_max_unproven_clients\): the oldest discarded")

    spoof(port, 40, 53, clean=False)
    wait_figure(hp, "tern_mqttsn_unproven_evicted_total", 30)
    for i in range(20):  # the same id from two forged addresses, one after the other
        spoof(port, 1, 54, clean=False, ids=["twice-%d" % i], start=i)
        spoof(port, 1, 55, clean=False, ids=["twice-%d" % i], start=i)
    b.wait_log(r'client="twice-19" taken over by a new connection')
    time.sleep(0.3)
    f = figures(hp)
    assert f["tern_mqttsn_clients"] == f["tern_mqttsn_unproven_clients"] <= 10, f
    assert f["tern_sessions"] == f["tern_mqttsn_clients"] + 10, f  # + the 10 left behind
    assert f["tern_subscriptions"] == f["tern_sessions"], f
    assert b.log().count("its session discarded: address never proven") >= 30


def test_publisher_proves_itself_by_using_its_topic_id(broker, snc):
    """A sensor that only publishes never gets a gateway REGISTER: using the
    random topic id of its REGACK proves it is there. A guessed id first
    spoils that chance for the connection."""
    b, port, hp = sn_ops_broker(broker, "mqttsn_max_unproven_clients 3\n")
    pub = snc(port, client_id="pub-only")
    pub.connect(duration=600)
    tid = pub.register("sensor/t")["topic_id"]
    assert pub.publish(tid, "21.5", qos=1)["rc"] == sn.RC_ACCEPTED
    wait_figure(hp, "tern_mqttsn_unproven_clients", 0)

    guesser = snc(port, client_id="guesser")
    guesser.connect(duration=600)
    gid = guesser.register("g/t")["topic_id"]
    wrong = gid % 0xFFFE + 1
    assert guesser.publish(wrong, "x", qos=1)["rc"] == sn.RC_INVALID_TOPIC_ID
    assert guesser.publish(gid, "x", qos=1)["rc"] == sn.RC_ACCEPTED
    wait_figure(hp, "tern_mqttsn_unproven_clients", 1)  # still a suspect

    spoof(port, 3, 56)
    wait_figure(hp, "tern_mqttsn_unproven_evicted_total", 1)
    b.wait_log(r'client="guesser" peer=\S+ disconnected: evicted')
    pub.ping()
    guesser.send(sn.PINGREQ)
    guesser.expect_nothing(0.5)  # gone: a real one would CONNECT again
    assert figures(hp)["tern_mqttsn_clients"] == 4


def test_subscriber_proves_itself_at_subscribe_forged_one_is_lost(broker, snc):
    """A subscriber to a topic name gets its random id in SUBACK, then a
    REGISTER of that id: its REGACK proves its address before any message
    comes (an actuator waiting for commands is not left unproven). A forged
    subscriber never answers and is lost after Nretry."""
    b, port, hp = sn_ops_broker(broker, "mqttsn_retry_interval 1\nmqttsn_retries 2\n")
    act = snc(port, client_id="actuator")
    act.connect(duration=600)
    tid = act.subscribe("site/valve/cmd", qos=1)["topic_id"]
    r = act.expect(sn.REGISTER)
    assert (r["topic_id"], r["topic"]) == (tid, "site/valve/cmd")
    act.send(sn.REGACK, struct.pack(">HHB", r["topic_id"], r["msg_id"], 0))
    wait_figure(hp, "tern_mqttsn_unproven_clients", 0)
    h.mqtt_pub(b.port, "site/valve/cmd", "open", qos=1)
    name, data, qos, m = act.receive_publish()
    assert (name, data, m["topic_id"]) == ("site/valve/cmd", b"open", tid)  # no REGISTER first

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.57.0.1", 0))
        s.sendto(sn.frame(sn.CONNECT, bytes([sn.flags(clean=True), 1]) +
                          struct.pack(">H", 600) + b"forged-sub"), ("127.0.0.1", port))
        s.sendto(sn.frame(sn.SUBSCRIBE, bytes([sn.flags(qos=1)]) + struct.pack(">H", 1) +
                          b"site/valve/cmd"), ("127.0.0.1", port))
        b.wait_log(r'client="forged-sub" peer=127\.57\.0\.1:\d+ lost: no acknowledgement after '
                   r"2 retransmissions", timeout=8)
    finally:
        s.close()
    wait_figure(hp, "tern_mqttsn_clients", 1)


def test_no_cap_where_addresses_cannot_be_forged(broker, snc):
    """mqttsn_amplification_limit 0 (a link whose sources are trusted, as a
    serial block by default): nobody is unproven, nobody evicted."""
    b, port, hp = sn_ops_broker(broker, "mqttsn_amplification_limit 0\n"
                                        "mqttsn_max_unproven_clients 1\n")
    cs = [snc(port, client_id="trusted-%d" % i) for i in range(3)]
    for c in cs:
        c.connect()
    for c in cs:
        c.ping()
    f = figures(hp)
    assert f["tern_mqttsn_unproven_clients"] == 0 and f["tern_mqttsn_unproven_evicted_total"] == 0
    assert f["tern_mqttsn_clients"] == 3
    assert not re.search(r"evicted", b.log())


@pytest.mark.parametrize("value", ["0", "1000001", "many"])
def test_bad_max_unproven_clients_stops_tern_with_file_and_line(tmp_path, value):
    log = start_fails(tmp_path, "mqttsn_max_unproven_clients %s" % value)
    assert re.search(r"bad\.conf:4: .*mqttsn_max_unproven_clients", log), log
