"""Caps on MQTT-SN state a peer can create (issue 11): clients per
listener, clients per source address (a forwarder's nodes included), topic
ids per client. Past a cap a CONNECT gets CONNACK 0x01 "rejected:
congestion" (MQTT-SN 1.2 section 5.3.10), counted and logged once per
episode; defaults are far above what a real gateway needs."""

import socket
import struct

import pytest

import sn_client as sn
from test_mqttsn import sn_broker, snc  # noqa: F401

pytestmark = pytest.mark.tern_only


def connect_raw(sock, gw, client_id, node=None):
    d = sn.frame(sn.CONNECT, bytes([sn.flags(clean=True), 1]) + struct.pack(">H", 60) +
                 client_id.encode())
    if node is not None:
        d = sn.encapsulate(node, d)
    sock.sendto(d, gw)
    sock.settimeout(5)
    data, _ = sock.recvfrom(1000)
    if node is not None:
        data = data[data[0]:]
    m = sn.parse(data)
    assert m["type"] == sn.CONNACK
    return m["rc"]


def test_default_cap_of_nodes_behind_one_forwarder_address(broker):
    # Unproven nodes past mqttsn_max_unproven_clients would evict each
    # other before this cap is reached (test_mqttsn_unproven.py).
    b, port = sn_broker(broker, "mqttsn_forwarder 127.0.0.1\nmqttsn_max_unproven_clients 2000\n")
    gw = ("127.0.0.1", port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        for i in range(1000):
            assert connect_raw(sock, gw, "node-%d" % i, struct.pack(">H", i)) == sn.RC_ACCEPTED
        for i in range(1000, 1005):
            assert connect_raw(sock, gw, "node-%d" % i, struct.pack(">H", i)) == sn.RC_CONGESTION
        b.wait_log(r"refused: 1000 clients from this address \(mqttsn_max_clients_per_address\)")
        assert b.log().count("clients from this address") == 1  # once per episode
    finally:
        sock.close()


def test_clients_per_address_counts_every_port_of_a_host(broker, snc):
    b, port = sn_broker(broker, "mqttsn_max_clients_per_address 3\n")
    cs = [snc(port, client_id="per-addr-%d" % i) for i in range(4)]
    for c in cs[:3]:
        c.connect()
    cs[3].connect(expect_rc=sn.RC_CONGESTION)
    other = sn.SNClient(port, client_id="other-host")
    other.sock.close()
    other.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.sock.bind(("127.0.0.9", 0))
    try:
        other.connect()  # another address has its own count
    finally:
        other.close()
    cs[0].disconnect()  # the episode ends; room for one
    cs[3].connect()
    b.wait_log(r"refused: 3 clients from this address")


def test_clients_per_listener(broker, snc):
    b, port = sn_broker(broker, "mqttsn_max_clients 3\n")
    cs = [snc(port, client_id="lsn-%d" % i) for i in range(5)]
    for c in cs[:3]:
        c.connect()
    cs[3].connect(expect_rc=sn.RC_CONGESTION)
    cs[4].connect(expect_rc=sn.RC_CONGESTION)
    b.wait_log(r"refused: 3 clients \(mqttsn_max_clients / max_connections\)")
    assert b.log().count("mqttsn_max_clients / max_connections") == 1
    cs[1].disconnect()
    cs[4].connect()
    cs[3].connect(expect_rc=sn.RC_CONGESTION)
    assert b.log().count("mqttsn_max_clients / max_connections") == 2  # a new episode


def test_topic_ids_per_client(broker, snc):
    b, port = sn_broker(broker, "mqttsn_max_topics 4\n")
    c = snc(port, client_id="few-topics")
    c.connect()
    for i in range(3):
        assert c.register("few/%d" % i)["rc"] == sn.RC_ACCEPTED
    assert c.subscribe("few/sub", qos=1)["rc"] == sn.RC_ACCEPTED  # the 4th id
    assert c.register("few/x")["rc"] == sn.RC_CONGESTION
    m = c.subscribe("few/sub2", qos=1)
    assert (m["rc"], m["topic_id"]) == (sn.RC_CONGESTION, 0)
    assert c.subscribe("few/#", qos=1)["rc"] == sn.RC_ACCEPTED  # a wildcard needs no id
    assert c.register("few/1")["rc"] == sn.RC_ACCEPTED  # known names still answer
    b.wait_log(r'client="few-topics" REGISTER refused for "few/x": topic-id registry full '
               r"\(4 ids, mqttsn_max_topics")
    assert b.log().count("registry full") == 1
