"""A subscriber that stops reading must not stall the broker or other clients."""

import socket
import threading
import time

import pytest

import tern_harness as h
from tern_harness import publish_packet

PAYLOAD = b"s" * 10240
FLOOD_SECONDS = 2.5
RATE = 2000                  # messages/s: 20 MB/s, 50 MB in all


def _slow_subscriber(br):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", br.port))
    c = h.RawClient.__new__(h.RawClient)
    c.sock, c.buf, c.pending, c.closed, c.default_timeout = s, b"", [], False, 5
    c.connect("slow-sub")
    c.subscribe("flood/t", qos=0)
    return c


class Flooder(threading.Thread):
    def __init__(self, br):
        super().__init__(daemon=True)
        self.c = h.RawClient(br.port, timeout=5)
        self.c.connect("flooder")
        self.sent = 0
        self.stop = False
        self.error = None

    def run(self):
        batch = publish_packet("flood/t", PAYLOAD, qos=0) * 50
        t0 = time.monotonic()
        end = t0 + FLOOD_SECONDS
        try:
            while not self.stop and time.monotonic() < end:
                self.c.sock.sendall(batch)
                self.sent += 50
                ahead = self.sent / RATE - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        except OSError as e:
            self.error = e


def _round_trip(br, probe, pub, n):
    t0 = time.monotonic()
    pub.publish("rt/t", b"%d" % n, qos=1, pid=n % 60000 + 1)
    m = probe.recv_publish(timeout=5)
    assert m.payload == b"%d" % n
    return time.monotonic() - t0


def _flood_and_probe(br, raw):
    slow = _slow_subscriber(br)
    probe = raw(br)
    probe.connect("probe")
    probe.subscribe("rt/t", qos=1)
    pub = raw(br)
    pub.connect("rt-pub")
    f = Flooder(br)
    f.start()
    worst, n = 0.0, 0
    try:
        while f.is_alive():
            n += 1
            worst = max(worst, _round_trip(br, probe, pub, n))
            time.sleep(0.1)
    finally:
        f.stop = True
        f.join(10)
        f.c.close()
    assert f.error is None, "publisher was disconnected: %r" % f.error
    assert n >= 3
    assert worst < 2.0, "round trip took %.2fs during the flood" % worst
    # and right after the flood as well
    assert _round_trip(br, probe, pub, n + 1) < 2.0
    return slow, f.sent


def test_broker_responsive_while_subscriber_stalls(broker, raw):
    """Another client's publish/subscribe round trip stays under 2 s while a
    non-reading subscriber receives a flood of 10 KB QoS 0 messages."""
    br = broker()
    slow, sent = _flood_and_probe(br, raw)
    assert sent > 100, "flood too small to mean anything (%d)" % sent
    slow.close()


@pytest.mark.tern_only
def test_stalled_subscriber_dropped_or_disconnected(broker, raw):
    """Tern bounds what it buffers for a stalled client: after the flood the
    slow subscriber is either disconnected or has lost messages (it cannot
    have all of them), and the broker's RSS stays bounded."""
    br = broker()
    slow, sent = _flood_and_probe(br, raw)
    received, closed = 0, False
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            p = slow.recv_packet(timeout=1.0)
        except TimeoutError:
            break
        except h.Closed:
            closed = True
            break
        received += p.type == h.PUBLISH
    assert closed or received < sent, (received, sent)
    with open("/proc/%d/status" % br.proc.pid) as f:
        rss_kb = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    assert rss_kb < 512 * 1024, "broker RSS %d kB after the flood" % rss_kb
