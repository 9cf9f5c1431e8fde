#!/usr/bin/env python3
"""Fleet under faults (issue 16):

    /usr/bin/python3 tests/fleet/fleet.py [--gateways 10] [--seconds 120]
        [--tern build/gateway/tern] [--rate 10] [--seed 1] [--keep]

Starts a 3-node NATS JetStream cluster with its MQTT gateway on loopback
(each node its own store and ports) and N tern gateways, each with its own
LMDB store, an MQTT listener with MQTT sensors and an MQTT-SN UDP listener
with MQTT-SN sensors, bridged on default bridge settings (plus a short
back-off and keepalive) to the three nodes through TCP proxies this script
runs: gateway i lists the nodes starting at node (i mod 3), so gateways
spread over the cluster and fail over between nodes. Every sensor
publishes QoS 1 readings (sequence number + send time) and counts what its
gateway acknowledged (MQTT PUBACK, MQTT-SN PUBACK with return code 0).

While traffic flows, a seeded schedule of faults:
  - SIGKILL of cluster node 2 or 3, restarted 6 s later (node 1 carries
    the collector's session and stays up; JetStream keeps quorum with one
    node down);
  - a gateway's uplink cut through its proxies: blackhole for 12 s (only
    the keepalive notices) or reset (RST) for 6 s;
  - SIGKILL of a gateway, restarted 2 s later (same store).
Then all faults end and the backlog drains. A collector subscribed to
fleet/# (QoS 1, persistent session on node 1) records every arrival.

Per gateway it prints: acknowledged, arrived (acknowledged ones), missing,
duplicates, order violations (per sensor: a reading arriving for the first
time after a later one), replay rate (the bridge's own $SYS replay/rate,
highest seen), the highest backlog, and the lag from send to arrival (p50,
p99, max). Exit status 1 if anything acknowledged is missing, 3 if a
gateway crashed or logged a sanitizer report, 2 on a setup failure.
"""

import argparse
import os
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import engines  # noqa: E402
import sn_client as sn  # noqa: E402
import tern_harness as h  # noqa: E402
from tcp_proxy import BLACKHOLE, PASS, RESET, TcpProxy  # noqa: E402

TOPIC_ROOT = "fleet"


def log(msg):
    print("[%7.1f] %s" % (time.monotonic() - T0, msg), flush=True)


T0 = time.monotonic()


# ---- sensors --------------------------------------------------------------

class Sensor(threading.Thread):
    """Publishes `rate` QoS 1 readings per second on sensors/NAME of its
    gateway; acked: sequence numbers the gateway acknowledged."""

    def __init__(self, gw, name, rate):
        super().__init__(daemon=True)
        self.gw, self.name, self.rate = gw, name, rate
        self.acked = []
        self.sent = 0
        self.stop_flag = threading.Event()
        self.seq = 0

    def payload(self):
        return b"%08d %.6f" % (self.seq, time.time())

    def pace(self, started, n):
        wait = started + n / self.rate - time.monotonic()
        if wait > 0:
            self.stop_flag.wait(wait)

    def stop(self):
        self.stop_flag.set()


class MqttSensor(Sensor):
    def run(self):
        started, n = time.monotonic(), 0
        while not self.stop_flag.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=2)
            except OSError:
                self.stop_flag.wait(0.2)
                continue
            try:
                s.settimeout(3)
                s.sendall(h.connect_packet("%s-%s" % (self.gw.name, self.name), True, 30))
                if _read_packet(s)[0] >> 4 != h.CONNACK:
                    raise OSError("no CONNACK")
                pid = 0
                while not self.stop_flag.is_set():
                    pid = pid % 65535 + 1
                    seq = self.seq
                    s.sendall(h.publish_packet("sensors/" + self.name, self.payload(), qos=1,
                                               pid=pid))
                    self.seq += 1
                    self.sent += 1
                    first, body = _read_packet(s)
                    if first >> 4 == h.PUBACK and struct.unpack("!H", body[:2])[0] == pid:
                        self.acked.append(seq)
                    n += 1
                    self.pace(started, n)
            except (OSError, ValueError):
                pass   # the gateway went away: what was not acknowledged is not counted
            finally:
                s.close()


class SnSensor(Sensor):
    def run(self):
        started, n = time.monotonic(), 0
        while not self.stop_flag.is_set():
            c = sn.SNClient(self.gw.sn_port, client_id="%s-%s" % (self.gw.name, self.name),
                            timeout=2.0)
            try:
                c.connect(clean=True, duration=30)
                tid = c.register("sensors/" + self.name)["topic_id"]
                while not self.stop_flag.is_set():
                    seq = self.seq
                    mid = c.publish_raw(tid, self.payload(), qos=1)
                    self.seq += 1
                    self.sent += 1
                    ack = c.expect(sn.PUBACK, timeout=2.0)
                    if ack["msg_id"] == mid and ack["rc"] == sn.RC_ACCEPTED:
                        self.acked.append(seq)
                    n += 1
                    self.pace(started, n)
            except (AssertionError, OSError, KeyError):
                self.stop_flag.wait(0.2)   # no answer: gateway down or restarting
            finally:
                c.close()


def _read_packet(sock):
    def exact(k):
        out = b""
        while len(out) < k:
            chunk = sock.recv(k - len(out))
            if not chunk:
                raise OSError("closed")
            out += chunk
        return out
    first = exact(1)[0]
    mult, length = 1, 0
    while True:
        b = exact(1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, exact(length)


# ---- the collector and the $SYS watchers ------------------------------------

class Collector:
    """A persistent QoS 1 subscriber to fleet/# on node 1 (paho reconnects)."""

    def __init__(self, port):
        mqtt = h._paho()
        self.arrivals = {}           # (gw, sensor) -> [(seq, lag_s)]
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.c = mqtt.Client(client_id="fleet-collector", clean_session=False)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.reconnect_delay_set(0.2, 2)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.c.connect("127.0.0.1", port, 30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.c.loop_start()
        if not self.connected.wait(60):
            raise RuntimeError("collector: no CONNACK from NATS")

    def _on_connect(self, c, u, flags, rc):
        if rc == 0:
            c.subscribe(TOPIC_ROOT + "/#", 1)
            self.connected.set()

    def _on_message(self, c, u, m):
        now = time.time()
        parts = m.topic.split("/")          # fleet/GW/sensors/NAME
        try:
            seq_s, sent_s = m.payload.split(b" ", 1)
            seq, lag = int(seq_s), now - float(sent_s)
        except ValueError:
            return
        with self.lock:
            self.arrivals.setdefault((parts[1], parts[-1]), []).append((seq, lag))

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


class SysWatch:
    """Highest replay/rate and backlog/messages a gateway's bridge reports."""

    def __init__(self, gw):
        mqtt = h._paho()
        self.max_rate = 0.0
        self.max_backlog = 0
        self.backlog = None
        self.c = mqtt.Client(client_id="%s-sys" % gw.name)
        self.c.on_connect = lambda c, u, f, rc: c.subscribe("$SYS/broker/bridge/cloud/#", 0)
        self.c.on_message = self._on_message
        self.c.reconnect_delay_set(0.2, 1)
        self.c.connect_async("127.0.0.1", gw.port, 30)
        self.c.loop_start()

    def _on_message(self, c, u, m):
        try:
            v = float(m.payload)
        except ValueError:
            return
        if m.topic.endswith("/replay/rate"):
            self.max_rate = max(self.max_rate, v)
        elif m.topic.endswith("/backlog/messages"):
            self.backlog = v
            self.max_backlog = max(self.max_backlog, v)

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


# ---- the fleet ------------------------------------------------------------

class Gateway:
    def __init__(self, root, i, nodes):
        self.name = "gw%02d" % i
        self.sn_port = sn.free_udp_port()
        self.proxies = []
        for k in range(len(nodes)):
            node = nodes[(i + k) % len(nodes)]
            self.proxies.append(TcpProxy(node.port))
        addrs = " ".join("127.0.0.1:%d" % p.port for p in self.proxies)
        conf = ("sys_interval 1\n"
                "listener %d 127.0.0.1\nprotocol mqttsn\n"
                "connection cloud\naddress %s\nremote_clientid %s\n"
                "remote_prefix %s/%%c/\ntopic sensors/# out 1\n"
                "restart_timeout 1 3\nkeepalive_interval 5\n"
                % (self.sn_port, addrs, self.name, TOPIC_ROOT))
        self.b = h.Broker(root, conf, persistence=True, name=self.name, start=False)
        self.port = self.b.port
        self.kills = 0
        self.cuts = 0

    def start(self):
        self.b.start(timeout=20)

    def kill9(self):
        self.kills += 1
        self.b.kill9()

    def cut(self, mode):
        self.cuts += 1
        for p in self.proxies:
            p.set_mode(mode)

    def heal(self):
        for p in self.proxies:
            p.set_mode(PASS)

    def stop(self):
        try:
            self.b.stop(timeout=10)
        except Exception:
            pass
        for p in self.proxies:
            p.stop()


def schedule(rng, seconds, n_gw):
    """[(at_s, action, arg)]: one fault every few seconds, from 10 % to 85 %
    of the run; node kills never overlap."""
    events = []
    t = seconds * 0.10
    step = max(3.0, seconds * 0.75 / max(6, n_gw + 4))
    kinds = ["node", "blackhole", "reset", "gwkill"]
    node_free_at = 0.0
    k = 0
    while t < seconds * 0.85:
        kind = kinds[k % len(kinds)]
        k += 1
        if kind == "node":
            if t < node_free_at:
                kind = "gwkill"
            else:
                events.append((t, "node", rng.choice([1, 2])))
                node_free_at = t + 10
                t += step
                continue
        events.append((t, kind, rng.randrange(n_gw)))
        t += step * rng.uniform(0.6, 1.0)
    return events


def percentile(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def report(gws, sensors, coll, watches):
    print()
    print("command: %s" % " ".join(sys.argv))
    print("%-5s %6s %6s %7s %5s %5s %8s %7s %8s %8s %8s %5s %4s" % (
        "gw", "acked", "arrvd", "missing", "dups", "order", "replay/s", "backlog",
        "lag p50", "lag p99", "lag max", "kills", "cuts"))
    total_missing = 0
    totals = [0, 0, 0, 0]
    for g, w in zip(gws, watches):
        acked = arrived = missing = dups = order = 0
        lags = []
        for s in sensors[g.name]:
            with coll.lock:
                arr = list(coll.arrivals.get((g.name, s.name), []))
            seen = set()
            high = -1
            for seq, lag in arr:
                if seq in seen:
                    dups += 1
                    continue
                seen.add(seq)
                lags.append(lag)
                if seq < high:
                    order += 1
                high = max(high, seq)
            a = set(s.acked)
            acked += len(a)
            arrived += len(a & seen)
            missing += len(a - seen)
        total_missing += missing
        totals = [totals[0] + acked, totals[1] + arrived, totals[2] + dups, totals[3] + order]
        print("%-5s %6d %6d %7d %5d %5d %8.0f %7d %7.2fs %7.2fs %7.2fs %5d %4d" % (
            g.name, acked, arrived, missing, dups, order, w.max_rate, w.max_backlog,
            percentile(lags, 50), percentile(lags, 99), max(lags) if lags else 0.0,
            g.kills, g.cuts))
    print("all   %6d %6d %7d %5d %5d" % (totals[0], totals[1], total_missing, totals[2],
                                        totals[3]))
    return total_missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gateways", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--rate", type=float, default=10, help="readings/s per sensor")
    ap.add_argument("--mqtt-sensors", type=int, default=2)
    ap.add_argument("--sn-sensors", type=int, default=2)
    ap.add_argument("--drain", type=float, default=90, help="seconds to wait for the backlog")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tern", default=os.environ.get("TERN_BIN") or
                    os.path.join(HERE, "..", "..", "build", "gateway", "tern"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    os.environ["TERN_BIN"] = os.path.abspath(args.tern)
    if not os.path.exists(os.environ["TERN_BIN"]):
        print("tern binary not found: %s" % args.tern, file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="tern-fleet-")
    nodes, gws, sensors, watches, coll = [], [], {}, [], None
    try:
        nodes = engines.nats_cluster(root, 3)
        for n in nodes:
            n.start()
        log("NATS cluster up: MQTT ports %s" % [n.port for n in nodes])
        coll = Collector(nodes[0].port)
        log("collector subscribed on node 1")
        for i in range(args.gateways):
            g = Gateway(root, i, nodes)
            g.start()
            gws.append(g)
            watches.append(SysWatch(g))
        log("%d gateways up" % len(gws))
        for g in gws:
            sensors[g.name] = ([MqttSensor(g, "m%d" % k, args.rate)
                                for k in range(args.mqtt_sensors)] +
                               [SnSensor(g, "s%d" % k, args.rate)
                                for k in range(args.sn_sensors)])
            for s in sensors[g.name]:
                s.start()
        events = schedule(rng, args.seconds, len(gws))
        start = time.monotonic()
        pending = []   # (at, undo)
        for at, kind, arg in events + [(args.seconds, "end", None)]:
            while True:
                now = time.monotonic() - start
                due = [p for p in pending if p[0] <= now]
                for p in due:
                    pending.remove(p)
                    p[1]()
                if now >= at:
                    break
                time.sleep(min(0.1, at - now))
            if kind == "node":
                n = nodes[arg]
                log("SIGKILL NATS node %d" % (arg + 1))
                n.kill9()
                pending.append((at + 6, lambda n=n, k=arg: (log("restart NATS node %d" % (k + 1)),
                                                           n.start())))
            elif kind in ("blackhole", "reset"):
                g = gws[arg]
                log("cut %s uplink: %s" % (g.name, kind))
                g.cut(BLACKHOLE if kind == "blackhole" else RESET)
                pending.append((at + (12 if kind == "blackhole" else 6),
                                lambda g=g: (log("heal %s uplink" % g.name), g.heal())))
            elif kind == "gwkill":
                g = gws[arg]
                if not g.b.running():
                    continue
                log("SIGKILL %s" % g.name)
                g.kill9()
                pending.append((at + 2, lambda g=g: (log("restart %s" % g.name), g.start())))
        for _, undo in sorted(pending, key=lambda p: p[0]):
            undo()
        for g in gws:
            g.heal()
            if not g.b.running():
                g.start()
        for ss in sensors.values():
            for s in ss:
                s.stop()
        for ss in sensors.values():
            for s in ss:
                s.join(10)
        log("traffic stopped; draining the backlogs (up to %.0f s)" % args.drain)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            with coll.lock:
                seen = {k: set(x[0] for x in v) for k, v in coll.arrivals.items()}
            left = sum(len(set(s.acked) - seen.get((g, s.name), set()))
                       for g, ss in sensors.items() for s in ss)
            if left == 0:
                break
            time.sleep(1)
        time.sleep(2)   # late duplicates
        log("drained")
        missing = report(gws, sensors, coll, watches)
        problems = []
        for g in gws:   # a gateway that died on its own, or a sanitizer report
            if g.b.proc is not None and g.b.proc.poll() is not None:
                problems.append("%s exited on its own (status %s)" % (g.name,
                                                                     g.b.proc.returncode))
            g.b.stop(timeout=10)
            problems += ["%s: %s" % (g.name, p) for p in g.b.problems()]
        for p in problems:
            print("problem: %s" % p)
        print("exit: %s" % ("FAIL: %d acknowledged readings missing" % missing if missing
                            else "FAIL: gateway problems" if problems
                            else "ok: nothing acknowledged is missing"))
        return 1 if missing else 3 if problems else 0
    except Exception as e:   # setup failure: say which, stop everything
        log("setup failed: %r" % (e,))
        return 2
    finally:
        for w in watches:
            w.stop()
        if coll:
            coll.stop()
        for ss in sensors.values():
            for s in ss:
                s.stop()
        for g in gws:
            g.stop()
        for n in nodes:
            n.stop()
        if args.keep:
            print("work directory kept: %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
