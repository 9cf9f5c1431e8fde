"""A connection whose input outlasts its share of a loop turn (conn.c
CONN_TURN_US, issue 11) is paused and goes on in the next turn, from the
front-end's turn list (mqtt_fe.turn_timer): a burst of 60,000 QoS 0
publishes followed by one QoS 1 publish gets its PUBACK (nothing of it is
stuck), every QoS 0 message reaches a subscriber in order, and a second
client is answered while the burst is being handled.
"""

import socket
import threading

import pytest

import tern_harness as h

pytestmark = pytest.mark.tern_only

N = 60000


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


def open_client(port, cid):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(h.connect_packet(cid))
    assert recv_exact(s, 4)[:2] == b"\x20\x02"
    return s


def test_burst_longer_than_a_turn_goes_on_in_the_next(broker):
    b = broker("max_queued_messages 100000\n")
    sub = open_client(b.port, "turn-sub")
    sub.sendall(h.subscribe_packet(1, [("turn/t", 0)]))
    assert recv_exact(sub, 5)[:1] == b"\x90"
    got = []

    def read_sub():
        # each PUBLISH: 0x30, length 14, topic "turn/t", a 6-digit payload
        for _ in range(N):
            pkt = recv_exact(sub, 16)
            got.append(int(pkt[10:16]))

    reader = threading.Thread(target=read_sub)
    reader.start()
    pub = open_client(b.port, "turn-pub")
    burst = b"".join(h.publish_packet("turn/t", b"%06d" % i) for i in range(N))
    burst += h.publish_packet("turn/q1", b"last", qos=1, pid=7)
    other = open_client(b.port, "turn-other")
    sender = threading.Thread(target=pub.sendall, args=(burst,))
    sender.start()
    other.sendall(h.pingreq_packet())
    assert recv_exact(other, 2) == b"\xd0\x00"  # PINGRESP meanwhile
    sender.join(30)
    assert recv_exact(pub, 4) == b"\x40\x02\x00\x07"  # PUBACK after the whole burst
    reader.join(30)
    assert got == list(range(N))
    for s in (sub, pub, other):
        s.close()
