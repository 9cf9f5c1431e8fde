#!/usr/bin/env python3
"""Hostile-LAN soak (issue 11): not part of CI's run.

    /usr/bin/python3 tests/soak/soak.py [--seconds 1800] [--tern build-rel/gateway/tern]

Starts the real tern (persistence on, an MQTT-SN UDP listener, memory,
rate and connection limits) on free loopback ports and runs, for the
given time, hostile load beside normal clients:
  - slowloris: 200 connections that send a CONNECT one byte at a time;
  - partial packets: connected clients that send half a PUBLISH and stall;
  - a QoS 0 flood towards a subscriber that never reads;
  - malformed packets on fresh connections (random bytes after CONNECT);
  - spoofed MQTT-SN: CONNECT + SUBSCRIBE # from random 127.x.y.z sources;
  - normal: 4 publishers, 50 QoS 1 messages/s each, to 4 persistent
    subscribers that check every sequence number and the latency.
Every 60 s and at the end it prints RSS, messages, losses and latency
percentiles of the normal traffic. Exit status 0 only if no QoS 1 message
was lost, p99 latency stayed under 10 ms and RSS did not grow by more
than 25% from the first minute to the last.
"""

import argparse
import multiprocessing as mp
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import tern_harness as h  # noqa: E402
import sn_client as sn    # noqa: E402


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ---- attackers: each runs in its own process until stop is set ----------

def slowloris(port, stop):
    socks = []
    conn = h.connect_packet("slow", True, 60)
    while not stop.is_set():
        while len(socks) < 200:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.setblocking(False)
                socks.append([s, 0])
            except OSError:
                break
        for entry in list(socks):
            s, i = entry
            try:
                s.send(conn[i:i + 1])
                entry[1] = (i + 1) % len(conn)
            except OSError:
                s.close()
                socks.remove(entry)
        time.sleep(1.0)
    for s, _ in socks:
        s.close()


def partial(port, stop):
    while not stop.is_set():
        socks = []
        for k in range(20):
            try:
                c = h.RawClient(port, timeout=5)
                c.connect("partial-%d-%d" % (os.getpid(), k))
                pkt = h.publish_packet("p/x", b"y" * 5000, qos=1, pid=1)
                c.send(pkt[:len(pkt) // 2])
                socks.append(c)
            except Exception:
                pass
        time.sleep(10)
        for c in socks:
            c.close()


def flood(port, stop):
    try:
        lazy = h.RawClient(port, timeout=5)
        lazy.connect("lazy-reader")
        lazy.subscribe("flood/#", qos=0)   # and never reads again
        c = h.RawClient(port, timeout=5)
        c.connect("flooder")
        burst = h.publish_packet("flood/x", b"f" * 200, qos=0) * 200
        while not stop.is_set():
            c.send(burst)
    except Exception:
        pass


def malformed(port, stop):
    rnd = random.Random(7)
    while not stop.is_set():
        try:
            c = h.RawClient(port, timeout=2)
            c.send(h.connect_packet("bad-%d" % rnd.randrange(1 << 30)))
            c.send(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))),
                   ignore_errors=True)
            c.close()
        except Exception:
            pass
        time.sleep(0.01)


def spoofed_sn(sn_port, stop):
    """MQTT-SN 1.2 CONNECT (clean) + SUBSCRIBE # from a random loopback
    source nobody listens on: what Tern sends back goes to a spoofed
    address."""
    rnd = random.Random(11)
    while not stop.is_set():
        src = "127.%d.%d.%d" % (rnd.randrange(1, 255), rnd.randrange(256), rnd.randrange(1, 255))
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0))
            cid = b"spoof-%d" % rnd.randrange(1 << 30)
            s.sendto(bytes([6 + len(cid), 0x04, 0x04, 0x01]) + struct.pack(">H", 600) + cid,
                     ("127.0.0.1", sn_port))
            s.sendto(bytes([6, 0x12, 0x00]) + struct.pack(">H", 1) + b"#", ("127.0.0.1", sn_port))
            s.close()
        except OSError:
            pass
        time.sleep(0.005)


# ---- normal traffic -----------------------------------------------------

class Normal:
    def __init__(self, port, n=4, rate=50):
        self.port, self.n, self.rate = port, n, rate
        self.lat = []
        self.lock = threading.Lock()
        self.sent = [0] * n
        self.got = [set() for _ in range(n)]
        self.stop = threading.Event()      # publishers
        self.stop_subs = threading.Event()
        self.threads = []

    def start(self):
        for i in range(self.n):
            sub = h.RawClient(self.port, timeout=30)
            sub.connect("normal-sub-%d" % i, clean=False)
            sub.subscribe("normal/%d" % i, qos=1)
            self.threads.append(threading.Thread(target=self._sub, args=(i, sub), daemon=True))
            self.threads.append(threading.Thread(target=self._pub, args=(i,), daemon=True))
        for t in self.threads:
            t.start()

    def _pub(self, i):
        c = h.RawClient(self.port, timeout=30)
        c.connect("normal-pub-%d" % i)
        seq, pid = 0, 0
        period = 1.0 / self.rate
        nxt = time.monotonic()
        while not self.stop.is_set():
            pid = pid % 65535 + 1
            c.send(h.publish_packet("normal/%d" % i, struct.pack(">Id", seq, time.time()),
                                    qos=1, pid=pid))
            c.expect(h.PUBACK, timeout=30, pid=pid)
            seq += 1
            self.sent[i] = seq
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))

    def _sub(self, i, c):
        while not self.stop_subs.is_set():
            try:
                p = c.recv_publish(timeout=1)
            except Exception:
                continue
            seq, t0 = struct.unpack(">Id", p.payload[:12])
            with self.lock:
                self.lat.append(time.time() - t0)
                self.got[i].add(seq)

    def missing(self, grace):
        """Acknowledged messages not received, not counting the last
        `grace` of each publisher (they may still be on their way)."""
        n = 0
        with self.lock:
            for i in range(self.n):
                upto = max(0, self.sent[i] - grace)
                n += sum(1 for q in range(upto) if q not in self.got[i])
        return n

    def figures(self):
        with self.lock:
            lat = sorted(self.lat)
            self.lat = []

        def pct(q):
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0
        return sum(self.sent), self.missing(2 * self.rate), pct(0.5), pct(0.99), pct(1.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=1800)
    ap.add_argument("--tern", default=os.path.join(HERE, "..", "..", "build-rel", "gateway", "tern"))
    ap.add_argument("--wrap", default="", help="command to start tern under, e.g. gdb -batch ...")
    ap.add_argument("--attacks", default="slowloris,partial,flood,malformed,spoofed_sn",
                    help="comma-separated subset of the attackers")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="tern-soak-")
    port, sn_port = h.free_port(), h.free_port()
    conf = os.path.join(d, "tern.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\n"
                "listener %d 127.0.0.1\nprotocol mqttsn\n"
                "persistence true\npersistence_location %s/data/\n"
                "memory_limit 256M\nmax_connection_rate 100\nmax_queued_messages 1000\n"
                "connect_timeout 10\nlog_dest stderr\n" % (port, sn_port, d))
    os.makedirs(os.path.join(d, "data"))
    log = open(os.path.join(d, "tern.log"), "wb")
    def allow_core():
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    p = subprocess.Popen(a.wrap.split() + [a.tern, "-c", conf], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, cwd=d, preexec_fn=allow_core)
    h.wait_until(lambda: h.port_accepts(port), timeout=10, msg="tern listening")
    normal = Normal(port)          # first: the attackers use up max_connection_rate
    normal.start()
    stop = mp.Event()
    attackers = [mp.Process(target=f, args=(port if f is not spoofed_sn else sn_port, stop),
                            daemon=True)
                 for f in (slowloris, partial, flood, malformed, spoofed_sn)
                 if f.__name__ in a.attacks.split(",")]
    for x in attackers:
        x.start()
    t0 = time.monotonic()
    first_rss = None
    worst_p99 = 0.0
    print("   t(s)   RSS(MB)   sent  lost   p50(ms)  p99(ms)  max(ms)")
    ok = True
    while time.monotonic() - t0 < a.seconds:
        time.sleep(min(60, max(1, a.seconds - (time.monotonic() - t0))))
        r = rss(p.pid)
        if first_rss is None:
            first_rss = r
        sent, lost, p50, p99, mx = normal.figures()
        worst_p99 = max(worst_p99, p99)
        print("%7.0f %9.1f %6d %5d %9.2f %8.2f %8.2f" % (time.monotonic() - t0, r / 1e6, sent,
                                                        lost, p50, p99, mx), flush=True)
        if p.poll() is not None:
            print("tern exited: %s" % p.returncode)
            ok = False
            break
    stop.set()
    normal.stop.set()
    time.sleep(3)                      # the last messages arrive
    normal.stop_subs.set()
    sent, lost = sum(normal.sent), normal.missing(0)
    last_rss = rss(p.pid) if p.poll() is None else 0
    for x in attackers:
        x.terminate()
    p.terminate()
    p.wait(10)
    grew = (last_rss - first_rss) / first_rss if first_rss else 0
    print("result: %d QoS 1 sent, %d lost, worst p99 %.2f ms, RSS %.1f -> %.1f MB (%+.0f%%)"
          % (sent, lost, worst_p99, first_rss / 1e6, last_rss / 1e6, grew * 100))
    ok = ok and lost == 0 and worst_p99 < 10.0 and grew < 0.25
    print("PASS" if ok else "FAIL", "(log: %s)" % os.path.join(d, "tern.log"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
