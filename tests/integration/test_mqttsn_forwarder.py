"""MQTT-SN 1.2 forwarder encapsulation (section 5.5): a forwarder wraps
each wireless node's message in an Encapsulated Message (0xFE) with the
node's id; the gateway answers through the forwarder with the same node id,
and each (forwarder address, node id) is a client of its own."""

import socket
import struct

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


def test_nodes_behind_one_forwarder_are_distinct_clients(broker, forwarder, sub):
    b, port = sn_broker(broker)
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
    b, port = sn_broker(broker)
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
