"""Shared steps of the bridge tests and the fleet script: the bridge block,
a pipelined QoS 1 publisher that knows which messages the gateway
acknowledged, a collector on the upstream, and the accounting of
acknowledged against arrived; for the tests against an upstream mosquitto
(test_bridge.py, test_bridge_replay_acks.py) a paho publisher, the cloud
subscriber's persistent session and the check that a backlog arrived
whole and in order."""

import re
import socket
import struct
import threading
import time

import tern_harness as h


def bridge_conf(port, topics, extra="", clientid="tern-gw", name="up"):
    """A bridge block on default settings (try_private, notifications, ...)
    except a short back-off so that the tests do not wait for 30 s."""
    lines = ["connection %s" % name, "address 127.0.0.1:%d" % port, "restart_timeout 1 2",
             "keepalive_interval 10", "remote_clientid %s" % clientid]
    lines += ["topic %s" % t for t in topics]
    return "\n".join(lines) + "\n" + extra


def wait_connected(gw, n=1, timeout=30):
    """Until the gateway's log shows n bridge connections."""
    h.wait_until(lambda: len(re.findall(r"bridge: \S+: connected to", gw.log())) >= n,
                 timeout, interval=0.1, msg="bridge connection #%d" % n)


def _read_exact(sock, n, deadline):
    out = b""
    while len(out) < n:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise h.Closed()
        out += chunk
    return out


def _read_packet(sock, deadline):
    first = _read_exact(sock, 1, deadline)[0]
    mult, length = 1, 0
    while True:
        b = _read_exact(sock, 1, deadline)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, _read_exact(sock, length, deadline)


def publish_acked(port, client_id, topic, seqs, qos=1, window=50, timeout=60,
                  payload_of=lambda s: b"%08d" % s):
    """Publish one message per sequence number on `topic` (payload: the
    number, 8 digits) with up to `window` unacknowledged, and return the
    numbers the broker acknowledged (PUBACK, or PUBCOMP for QoS 2) in the
    order sent. Stops early, without raising, if the connection dies."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    acked = []
    try:
        sock.sendall(h.connect_packet(client_id, True, 60))
        deadline = time.monotonic() + timeout
        first, body = _read_packet(sock, deadline)
        assert first >> 4 == h.CONNACK and body[1] == 0, (first, body)
        pending = {}                     # pid -> seq
        pid = 0
        it = iter(seqs)
        done = False
        while (not done or pending) and time.monotonic() < deadline:
            while not done and len(pending) < window:
                try:
                    s = next(it)
                except StopIteration:
                    done = True
                    break
                pid = pid % 65535 + 1
                pending[pid] = s
                sock.sendall(h.publish_packet(topic, payload_of(s), qos=qos, pid=pid))
            if not pending:
                break
            first, body = _read_packet(sock, deadline)
            t = first >> 4
            p = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else 0
            if t == h.PUBACK and qos == 1 and p in pending:
                acked.append(pending.pop(p))
            elif t == h.PUBREC and qos == 2:
                sock.sendall(h.ack_packet(h.PUBREL, p))
            elif t == h.PUBCOMP and qos == 2 and p in pending:
                acked.append(pending.pop(p))
    except (OSError, h.Closed):
        pass
    finally:
        try:
            sock.sendall(h.disconnect_packet())
        except OSError:
            pass
        sock.close()
    return acked


class Collector:
    """A paho subscriber on the upstream that records every payload it
    gets, in arrival order (payloads are sequence numbers)."""

    def __init__(self, port, topic, qos=1, client_id=None, username=None, password=None):
        self.c = h.PahoClient(port, client_id=client_id, username=username, password=password)
        self.c.subscribe(topic, qos)
        self.got = []

    def drain(self, want=None, timeout=30.0, quiet_s=2.0):
        """Collect until `want` (a set of payload ints) all arrived, then
        for quiet_s more (late duplicates), or until timeout."""
        deadline = time.monotonic() + timeout
        quiet_until = None
        while time.monotonic() < deadline:
            try:
                m = self.c.messages.get(timeout=0.2)
                self.got.append(m)
            except Exception:
                pass
            if want is not None and quiet_until is None and \
                    want <= set(seq_of(m) for m in self.got):
                quiet_until = time.monotonic() + quiet_s
            if quiet_until is not None and time.monotonic() >= quiet_until:
                break
        return self.got

    def close(self):
        self.c.close()


def seq_of(m):
    try:
        return int(m.payload[:8])
    except ValueError:
        return -1


def account(acked, arrived):
    """acked: sequence numbers the gateway acknowledged; arrived: the
    numbers as they reached the upstream subscriber. Returns a dict with
    missing, duplicates and order violations (a number arriving, for the
    first time, after a higher one)."""
    seen = set()
    dups = 0
    order = 0
    high = -1
    for s in arrived:
        if s in seen:
            dups += 1
            continue
        seen.add(s)
        if s < high:
            order += 1
        high = max(high, s)
    missing = sorted(set(acked) - seen)
    return {"acked": len(acked), "arrived": len(seen), "missing": missing,
            "duplicates": dups, "order_violations": order}


class SysWatch:
    """Latest values of $SYS/broker/bridge/NAME/# on a gateway."""

    def __init__(self, gw, name="up"):
        self.c = h.PahoClient(gw.port)
        self.c.subscribe("$SYS/broker/bridge/%s/#" % name, 0)
        self.figs = {}
        self._lock = threading.Lock()

    def wait(self, key, pred, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.c.messages.get(timeout=0.5)
                self.figs[m.topic.split("/", 4)[4]] = m.payload
            except Exception:
                pass
            v = self.figs.get(key)
            if v is not None and pred(v):
                return v
        raise AssertionError("$SYS %s: %r after %ss" % (key, self.figs.get(key), timeout))

    def close(self):
        self.c.close()


def publish_many(port, topic, n, qos=1, prefix=""):
    """Publish n messages "prefix0".."prefix(n-1)" in order; returns when
    every one was acknowledged."""
    c = h.PahoClient(port)
    c.c.max_inflight_messages_set(100)
    infos = [c.c.publish(topic, ("%s%d" % (prefix, i)).encode(), qos) for i in range(n)]
    deadline = time.monotonic() + 120
    for info in infos:
        while not info.is_published():
            assert time.monotonic() < deadline, "publishes not acknowledged in time"
            time.sleep(0.01)
    c.close()


def collect_unique(client, n, timeout):
    """Messages until n distinct payloads arrived; returns payloads in order
    of first arrival."""
    seen, order = set(), []
    deadline = time.monotonic() + timeout
    while len(seen) < n:
        left = deadline - time.monotonic()
        assert left > 0, "got %d of %d distinct messages" % (len(seen), n)
        try:
            m = client.messages.get(timeout=min(left, 1.0))
        except Exception:
            continue
        if m.payload not in seen:
            seen.add(m.payload)
            order.append(m.payload)
    return order


def persistent_cloud_subscriber(u, topic, client_id="cloud-sub"):
    """A QoS 1 subscriber with a persistent session on the upstream, so
    messages that arrive while it is away wait for it."""
    c = h.PahoClient(u.port, client_id=client_id, clean_session=False)
    c.subscribe(topic, 1)
    return c


def upstream_down_with_session(u, topic, client_id="cloud-sub"):
    """The cloud subscriber's persistent session on `topic`, then the
    upstream stopped (it must have persistence on to keep the session):
    the outage a backlog builds up in."""
    persistent_cloud_subscriber(u, topic, client_id).close()
    u.stop()


def expect_replayed_in_order(u, n, timeout, client_id="cloud-sub"):
    """The cloud subscriber back on its session: the payloads "0".."n-1"
    all arrive within timeout, first arrivals in order (a resent one may
    come twice: QoS 1 is at least once)."""
    sub = h.PahoClient(u.port, client_id=client_id, clean_session=False)
    try:
        order = collect_unique(sub, n, timeout)
    finally:
        sub.close()
    want = [str(i).encode() for i in range(n)]
    if order != want:
        at = next(i for i, (a, b) in enumerate(zip(order, want)) if a != b)
        raise AssertionError("replayed out of order: first arrival %d is %r, expected %r"
                             % (at, order[at], want[at]))
