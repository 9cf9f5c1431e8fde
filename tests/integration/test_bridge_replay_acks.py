"""A message leaves the bridge backlog only with the upstream's PUBACK.

The upstream here first is a fake that accepts the bridge's CONNECT and
reads its PUBLISHes but never acknowledges one. Tern sends a window's
worth and waits. It is then killed with SIGKILL, long after any commit
of what it did so far (the store holds back batches nobody waits for by
10 ms at most, persist.c). Restarted against a real mosquitto on the same
port, it must deliver every message, the unacknowledged window first, in
order. A bridge that deleted (or committed the deletion of) a message
when sending it, instead of on its PUBACK, loses the window here; one that
lost track of the order shows it in the first-arrival order.
"""

import os
import socket
import threading
import time

import pytest

import bridge_checks as bc
import tern_harness as h

pytestmark = pytest.mark.tern_only

WINDOW = 20


class SilentUpstream:
    """MQTT server on 127.0.0.1:port that CONNACKs, answers PINGREQ, reads
    PUBLISH packets and acknowledges none (bounded: one thread, stops with
    stop())."""

    def __init__(self, port):
        self.port = port
        self.publishes = []  # (packet id, payload) on ack/# in arrival order
        self.lock = threading.Lock()
        self.stopping = False
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", port))
        self.srv.listen(4)
        self.srv.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _packets(self, conn):
        buf = b""
        while not self.stopping:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return
            packets, buf = h.split_packets(buf + chunk)  # ValueError: _run closes
            yield from packets

    def _serve(self, conn):
        conn.settimeout(0.2)
        for first, body in self._packets(conn):
            kind = first >> 4
            if kind == 1:  # CONNECT
                conn.sendall(b"\x20\x02\x00\x00")
            elif kind == 12:  # PINGREQ
                conn.sendall(b"\xd0\x00")
            elif kind == 3:  # PUBLISH: never acknowledged
                tlen = int.from_bytes(body[0:2], "big")
                qos = (first >> 1) & 3
                pid = int.from_bytes(body[2 + tlen:4 + tlen], "big") if qos else 0
                payload = body[2 + tlen + (2 if qos else 0):]
                if body[2:2 + tlen].startswith(b"ack/"):  # not the notification
                    with self.lock:
                        self.publishes.append((pid, payload))

    def _run(self):
        while not self.stopping:
            try:
                conn, _ = self.srv.accept()
            except socket.timeout:
                continue
            try:
                self._serve(conn)
            except (OSError, ValueError):
                pass
            finally:
                conn.close()

    def received(self):
        with self.lock:
            return list(self.publishes)

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.srv.close()


def _window_sent(broker, u, fake, n, keepalive):
    """A Tern bridged to fake (on u's port) with a window of WINDOW, n
    messages published to it, and the window's PUBLISHes seen by fake (or
    10 s gone). Returns the tern."""
    conf = ("connection up\naddress 127.0.0.1:%d\nrestart_timeout 1\n"
            "keepalive_interval %d\nremote_clientid tern-up\ntopic ack/# out 1\n"
            "bridge_max_inflight %d\n" % (u.port, keepalive, WINDOW))
    tern = broker(conf, persistence=True)
    tern.wait_log(r"bridge: up: connected to", 15)
    bc.publish_many(tern.port, "ack/seq", n)
    deadline = time.monotonic() + 10
    while len(fake.received()) < WINDOW and time.monotonic() < deadline:
        time.sleep(0.05)
    return tern


def test_unacknowledged_window_survives_kill9_in_order(broker, upstream):
    n = 2000
    u = upstream(name="cloud", persistence=True)
    bc.upstream_down_with_session(u, "ack/#")
    fake = SilentUpstream(u.port)
    try:
        tern = _window_sent(broker, u, fake, n, keepalive=10)
        time.sleep(0.5)  # whatever Tern would commit about this, it has
        got = fake.received()
        # The window and nothing beyond it: no PUBACK came.
        assert len(got) == WINDOW, "the upstream got %d PUBLISHes, window %d" % (len(got),
                                                                                 WINDOW)
        assert [p for _, p in got] == [str(i).encode() for i in range(WINDOW)]
        assert len({pid for pid, _ in got}) == WINDOW, "packet ids reused in one window"
        tern.kill9()
    finally:
        fake.stop()
    u.start()
    tern.start()
    bc.expect_replayed_in_order(u, n, 60)


def _cpu_ticks(pid):
    """utime + stime of pid in clock ticks (/proc/PID/stat fields 14, 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_owed_acknowledgements_do_not_spin_the_loop(broker, upstream):
    """While a replay waits for PUBACKs, Tern's loop looks once more for
    them before it sleeps (loop_expect_input), and then sleeps: an
    upstream that never answers costs it no CPU. A loop that polled for
    the answers instead would burn a CPU here. The backlog stays whole
    and in order: a real mosquitto afterwards gets every message."""
    n = 300
    u = upstream(name="cloud", persistence=True)
    bc.upstream_down_with_session(u, "ack/#")
    fake = SilentUpstream(u.port)
    try:
        tern = _window_sent(broker, u, fake, n, keepalive=30)
        time.sleep(0.3)
        assert len(fake.received()) == WINDOW
        hz = os.sysconf("SC_CLK_TCK")
        t0 = _cpu_ticks(tern.proc.pid)
        time.sleep(2.0)
        used_s = (_cpu_ticks(tern.proc.pid) - t0) / hz
        assert used_s < 0.2, "Tern used %.2f s of CPU in 2 s waiting for PUBACKs" % used_s
        assert len(fake.received()) == WINDOW, "sent beyond the window without a PUBACK"
        tern.stop()
    finally:
        fake.stop()
    u.start()
    tern.start()
    bc.expect_replayed_in_order(u, n, 60)
