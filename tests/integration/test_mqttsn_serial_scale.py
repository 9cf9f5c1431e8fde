"""MQTT-SN over serial radios at work (issue 13): QoS 1 and 2 both ways, a
sleeping client over serial, 50 nodes on one port, and a UDP listener with
two serial ports in one process, all in the one topic space."""

import struct
import time

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn_serial import XBEE_A, client, links, serial_block, serial_broker  # noqa: F401

pytestmark = pytest.mark.tern_only


@pytest.mark.parametrize("framing", ["raw", "slip", "xbee"])
def test_qos1_and_qos2_both_ways(broker, links, sub, framing):
    link = links(framing=framing)
    b = serial_broker(broker, [serial_block(link)], persistence=True)
    addr = XBEE_A if framing == "xbee" else None
    c = client(link, "q-" + framing, xbee_addr=addr)
    c.connect(clean=False)
    s = sub(b, "q/%s/up" % framing, qos=2)
    tid = c.register("q/%s/up" % framing)["topic_id"]
    assert c.publish(tid, "one", qos=1)["rc"] == sn.RC_ACCEPTED
    c.publish(tid, "two", qos=2)   # PUBREC, PUBREL, PUBCOMP
    assert [m[:3] for m in s.wait_messages(2)] == [
        ("q/%s/up" % framing, "one", 1), ("q/%s/up" % framing, "two", 2)]
    c.subscribe("q/%s/down" % framing, qos=2)
    h.mqtt_pub(b.port, "q/%s/down" % framing, "d1", qos=1)
    h.mqtt_pub(b.port, "q/%s/down" % framing, "d2", qos=2)
    assert c.receive_publish()[1:3] == (b"d1", 1)
    assert c.receive_publish()[1:3] == (b"d2", 2)
    c.expect_nothing(0.3)   # acknowledged: no retransmission


def test_sleeping_client_over_serial(broker, links):
    link = links(framing="slip")
    b = serial_broker(broker, [serial_block(link)])
    c = client(link, "ser-sleepy")
    c.connect(clean=False, duration=30)
    c.subscribe("sleep/cmd", qos=1)
    assert c.sleep(60)["duration"] is None
    b.wait_log(r'client="ser-sleepy" .*asleep for 60 s')
    h.mqtt_pub(b.port, "sleep/cmd", "while-asleep-1", qos=1)
    h.mqtt_pub(b.port, "sleep/cmd", "while-asleep-2", qos=0)
    c.expect_nothing(0.5)
    got = c.wake()
    assert [(p, q) for _, p, q, _ in got] == [(b"while-asleep-1", 1), (b"while-asleep-2", 0)]


def test_fifty_nodes_on_one_port(broker, links, sub):
    link = links(framing="slip")
    b = serial_broker(broker, [serial_block(link)])
    s = sub(b, "fifty/#", qos=1, wait=60)
    nodes = [client(link, "node-%02d" % i, node_id=bytes([i + 1]), timeout=10)
             for i in range(50)]
    for c in nodes:
        c.connect(duration=300)
    for i, c in enumerate(nodes):
        tid = c.register("fifty/%02d" % i)["topic_id"]
        assert c.publish(tid, "hello-%02d" % i, qos=1)["rc"] == sn.RC_ACCEPTED
    got = sorted(m[1] for m in s.wait_messages(50, timeout=30))
    assert got == ["hello-%02d" % i for i in range(50)]
    for c in nodes:
        c.subscribe("fifty/all", qos=0)
    h.mqtt_pub(b.port, "fifty/all", "to-everyone")
    for c in nodes:
        assert c.receive_publish(timeout=10)[1] == b"to-everyone"
    b.wait_log(r'new client connected from radio/node=32 as "node-49"')


def test_udp_and_two_serial_ports_share_one_topic_space(broker, links, sub):
    raw = links("radio-raw", framing="raw")
    xbee = links("radio-xbee", framing="xbee", api=2)
    port = sn.free_udp_port()
    b = serial_broker(broker, [serial_block(raw), serial_block(xbee)])
    b.stop()
    b.write_config(b.conf_extra + "listener %d 127.0.0.1\nprotocol mqttsn\n" % port)
    b.start()
    for link in (raw, xbee):
        h.wait_until(lambda: b.log().count("port=%s open" % link.path) >= 2, timeout=10,
                     msg="port reopened after restart")
    u = sn.SNClient(port, client_id="mix-udp")
    r = client(raw, "mix-raw")
    x = client(xbee, "mix-xbee", xbee_addr=XBEE_A)
    try:
        h.wait_until(lambda: u.send(sn.SEARCHGW, b"\x00") or u.recv_any(0.2), msg="UDP GWINFO")
        for c in (u, r, x):
            c.connect()
            c.subscribe("mix/#", qos=1)
        # each publishes once; everyone (and an MQTT subscriber) sees all three
        s = sub(b, "mix/#", qos=1)
        for c in (u, r, x):
            tid = c.register("mix/" + c.client_id)["topic_id"]
            assert c.publish(tid, "from-" + c.client_id, qos=1)["rc"] == sn.RC_ACCEPTED
        assert sorted(m[1] for m in s.wait_messages(3)) == [
            "from-mix-raw", "from-mix-udp", "from-mix-xbee"]
        for c in (u, r, x):
            got = sorted(c.receive_publish()[1] for _ in range(3))
            assert got == [b"from-mix-raw", b"from-mix-udp", b"from-mix-xbee"]
    finally:
        u.close()
