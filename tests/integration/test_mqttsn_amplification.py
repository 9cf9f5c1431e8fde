"""MQTT-SN over UDP trusts no source address (issue 11): to a peer that has
not proven it receives what Tern sends, Tern sends at most 3x the bytes it
received from it (RFC 9000 section 8.1). The proof is a REGACK naming the
random message id and topic id of a gateway REGISTER; ids are not
sequential, so a sender with a forged address cannot guess them.

A "victim" is a UDP socket bound to another loopback address (127.0.0.N):
the attacker's datagrams are sent from it (as a forged source address would
be) and it only counts the bytes Tern sends to it, never answering."""

import socket
import struct
import threading
import time

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn import sn_broker, snc  # noqa: F401

pytestmark = pytest.mark.tern_only


class Victim:
    """A socket on 127.0.0.N that sends what it is told and counts what comes back."""

    def __init__(self, n, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.%d" % n, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.gw = ("127.0.0.1", port)
        self.sent = 0
        self.received = 0
        self.datagrams = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._count, daemon=True)
        self.t.start()

    def _count(self):
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                d, _ = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received += len(d)
            self.datagrams.append(d)

    def send(self, msg_type, body=b""):
        d = sn.frame(msg_type, body)
        self.sent += len(d)
        self.sock.sendto(d, self.gw)

    def close(self):
        self.stop.set()
        self.t.join(2)
        self.sock.close()


@pytest.fixture
def victim():
    made = []

    def make(n, port):
        v = Victim(n, port)
        made.append(v)
        return v

    yield make
    for v in made:
        v.close()


def connect(v, client_id, duration=60):
    v.send(sn.CONNECT, bytes([sn.flags(clean=True), 1]) + struct.pack(">H", duration) +
           client_id.encode())


def test_forged_subscribe_all_with_blind_regacks_is_not_amplified(broker, victim):
    """The measured attack: CONNECT + SUBSCRIBE # from a forged address, then
    REGACKs guessing sequential ids. Retained messages wait to be sent."""
    b, port = sn_broker(broker)
    for k in range(1, 21):
        h.mqtt_pub(b.port, "amp/%d" % k, "x" * 1000, qos=1, retain=True)
    v = victim(7, port)
    connect(v, "forged")
    time.sleep(0.1)
    v.send(sn.SUBSCRIBE, bytes([sn.flags(qos=0)]) + struct.pack(">H", 1) + b"#")
    for k in range(1, 31):  # topic id k, message id k, as a counter would give them
        time.sleep(0.03)
        v.send(sn.REGACK, struct.pack(">HHB", k, k, 0))
    time.sleep(1.5)
    assert v.received <= 3 * v.sent, (v.received, v.sent)
    assert not any(d[1] == sn.PUBLISH for d in v.datagrams)
    b.wait_log(r'client="forged" peer=127\.0\.0\.7:\d+ dropped: 9 REGACKs for REGISTERs it '
               r"was never sent")


def test_forged_short_topic_flood_limited_and_qos0_dropped(broker, victim):
    """No REGISTER on a short topic name: the 3x budget is what holds."""
    b, port = sn_broker(broker)
    v = victim(8, port)
    connect(v, "forged-short")
    time.sleep(0.1)
    v.send(sn.SUBSCRIBE, bytes([sn.flags(qos=0, topic_type=sn.TOPIC_SHORT)]) +
           struct.pack(">H", 1) + b"ab")
    time.sleep(0.2)
    p = h.PahoClient(b.port)
    try:
        for _ in range(50):
            p.publish("ab", "y" * 500, qos=0)
        time.sleep(1.0)
    finally:
        p.close()
    assert 0 < v.sent and v.received <= 3 * v.sent, (v.received, v.sent)
    b.wait_log(r'client="forged-short" peer=127\.0\.0\.8:\d+ address not proven: sending '
               r"limited to 3 x the \d+ bytes received")
    assert b.log().count("address not proven") == 1  # once per client


def test_real_client_proves_with_regack_and_loses_no_qos1(broker, snc):
    """A real client over the budget: its QoS 1 messages wait in flight, and
    once it acknowledges a REGISTER everything arrives."""
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-real")
    c.connect()
    c.subscribe("ab", qos=1, topic_type=sn.TOPIC_SHORT)
    c.subscribe("proof/#", qos=1)
    for i in range(5):
        h.mqtt_pub(b.port, "ab", "%d" % i + "z" * 200, qos=1)
    time.sleep(0.3)
    c.expect_nothing(0.3)  # 5 x 207 bytes > 3 x what the client sent
    b.wait_log(r'client="sn-real" .*address not proven')
    h.mqtt_pub(b.port, "proof/x", "p", qos=1)
    got = [c.receive_publish() for _ in range(6)]  # REGISTER answered on the way
    payloads = sorted(d[:1] for _, d, _, _ in got)
    assert payloads == [b"0", b"1", b"2", b"3", b"4", b"p"]
    h.mqtt_pub(b.port, "ab", "after", qos=1)
    assert c.receive_publish()[1] == b"after"
