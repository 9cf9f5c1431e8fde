"""MQTT-SN 1.2 forwarder encapsulation (section 5.5): a forwarder wraps
each wireless node's message in an Encapsulated Message (0xFE) with the
node's id; the gateway answers through the forwarder with the same node id,
and each (forwarder address, node id) is a client of its own. Only addresses
listed by mqttsn_forwarder may send encapsulated messages (issue 11): any
host could otherwise create clients under node ids at will."""

import socket
import struct
import subprocess

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn import sn_broker  # noqa: F401

pytestmark = pytest.mark.tern_only


@pytest.fixture
def forwarder():
    """One UDP socket standing for a forwarder; node(port, node_id, client_id)
    makes an SNClient that talks through it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def node(port, node_id, client_id):
        return sn.SNClient(port, client_id=client_id, node_id=node_id, sock=sock)

    yield node
    sock.close()


FWD = "mqttsn_forwarder 127.0.0.1\n"


def test_nodes_behind_one_forwarder_are_distinct_clients(broker, forwarder, sub):
    b, port = sn_broker(broker, FWD)
    s = sub(b, "fw/#", qos=1)
    a = forwarder(port, b"\x00\x13\xa2\x00\x41\x5b\x7c\x01", "fw-node-a")
    c = forwarder(port, b"\x07", "fw-node-c")
    assert a.searchgw()["gw_id"] == 1  # GWINFO comes back encapsulated too
    a.connect()
    c.connect()
    ta = a.register("fw/a")["topic_id"]
    tc = c.register("fw/c")["topic_id"]
    assert a.publish(ta, "from-a", qos=1)["rc"] == sn.RC_ACCEPTED
    assert c.publish(tc, "from-c", qos=1)["rc"] == sn.RC_ACCEPTED
    assert sorted(m[:2] for m in s.wait_messages(2)) == [("fw/a", "from-a"),
                                                        ("fw/c", "from-c")]
    a.subscribe("fw/down/a", qos=1)
    # One socket for both nodes: a answers the REGISTER that asks it to
    # prove its address (its SUBACK id) before c's answers come.
    r = a.expect(sn.REGISTER)
    a.send(sn.REGACK, struct.pack(">HHB", r["topic_id"], r["msg_id"], 0))
    c.subscribe("fw/down/c", qos=0)
    h.mqtt_pub(b.port, "fw/down/c", "to-c", qos=1)
    assert c.receive_publish()[:3] == ("fw/down/c", b"to-c", 0)
    h.mqtt_pub(b.port, "fw/down/a", "to-a", qos=1)
    assert a.receive_publish()[:3] == ("fw/down/a", b"to-a", 1)
    b.wait_log(r'new client connected from 127\.0\.0\.1:\d+/node=0013a200415b7c01 as "fw-node-a"')
    # The forwarder's own address without encapsulation is yet another peer.
    plain = sn.SNClient(port, sock=a.sock)
    plain.send(sn.PINGREQ)
    plain.expect_nothing(0.5)  # not connected: dropped
    c.disconnect()
    a.ping()  # a is unaffected by c leaving


def test_malformed_encapsulation_dropped_and_counted(broker, forwarder):
    b, port = sn_broker(broker, FWD)
    a = forwarder(port, b"\x01", "fw-ok")
    a.connect()
    bad = [
        b"\x03\xfe\x00",  # no inner message
        b"\x05\xfe\x00\x01\x02" + b"\x02\x16",  # Length says 5, 2 more octets follow
        b"\x04\xfe\x04\x01" + b"\x02\x16",  # Ctrl reserved bits set
        b"\x04\xfe\x00\x01" + b"\x05\x0c\x00",  # inner length wrong
    ]
    for d in bad:
        a.sock.sendto(d, a.addr)
    a.expect_nothing(0.3)
    a.ping()
    b.wait_log(r"datagram dropped: malformed")


def test_encapsulation_refused_without_mqttsn_forwarder(broker, forwarder):
    b, port = sn_broker(broker)  # no mqttsn_forwarder: no forwarder at all
    a = forwarder(port, b"\x01", "fw-none")
    a.send(sn.CONNECT, bytes([sn.flags(clean=True), 1]) + struct.pack(">H", 60) + b"fw-none")
    a.expect_nothing(0.5)
    a.send(sn.SEARCHGW, b"\x00")
    a.expect_nothing(0.3)
    b.wait_log(r"datagram dropped: encapsulated message from an address not in mqttsn_forwarder")
    assert "fw-none" not in b.log()  # no client was made
    plain = sn.SNClient(port, client_id="plain-ok", sock=a.sock)
    plain.connect()  # the same address without encapsulation is an ordinary client


def test_only_listed_forwarder_addresses(broker):
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    listed_port = other.getsockname()[1]
    # A port names that exact sender; an address alone, every port of it.
    b, port = sn_broker(broker, "mqttsn_forwarder 127.0.0.1:%d\nmqttsn_forwarder 127.0.0.3 "
                                "127.0.0.4:1\n" % listed_port)
    try:
        ok = sn.SNClient(port, client_id="fw-listed", node_id=b"\x02", sock=other)
        ok.connect()
        any_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        any_port.bind(("127.0.0.3", 0))
        ok3 = sn.SNClient(port, client_id="fw-host", node_id=b"\x03", sock=any_port)
        ok3.connect()
        ok3.close()
        stranger = sn.SNClient(port, client_id="fw-stranger", node_id=b"\x02")
        stranger.send(sn.CONNECT, bytes([sn.flags(clean=True), 1]) + struct.pack(">H", 60) +
                      b"fw-stranger")
        stranger.expect_nothing(0.5)  # same host, another port: not listed
        stranger.close()
        b.wait_log(r"not in mqttsn_forwarder")
    finally:
        other.close()


def test_forwarder_star_accepts_every_address(broker, forwarder):
    b, port = sn_broker(broker, "mqttsn_forwarder *\n")
    a = forwarder(port, b"\x05", "fw-star")
    a.connect()
    a.ping()


@pytest.mark.parametrize("value", ["", "not-an-address", "127.0.0.1:99999", "127.0.0.1:0",
                                   "[::1]:1884"])
def test_bad_forwarder_address_stops_the_listener(tmp_path, value):
    port = sn.free_udp_port()
    conf = tmp_path / "t.conf"
    conf.write_text("listener %d 127.0.0.1\nprotocol mqttsn\nmqttsn_forwarder %s\n" %
                    (port, value))
    r = subprocess.run([h.broker_bin(), "-c", str(conf)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                       cwd=str(tmp_path))  # whatever it creates stays in tmp_path
    assert r.returncode != 0
    assert b"mqttsn_forwarder" in r.stderr
