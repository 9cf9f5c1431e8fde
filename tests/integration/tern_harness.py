"""Integration-test harness: start a broker, drive it with real and raw clients.

The broker under test is Tern (env TERN_BIN, default ../../build/gateway/tern
relative to this directory) or, with TERN_TEST_BROKER=mosquitto, the system
mosquitto, which is the reference the tests are validated against.

Everything here is bounded in time: every wait has a deadline, every
subprocess has a timeout and every socket is closed at teardown.
"""

import os
import queue
import re
import resource
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))

BROKER_KIND = "mosquitto" if os.environ.get("TERN_TEST_BROKER") == "mosquitto" else "tern"
IS_MOSQUITTO = BROKER_KIND == "mosquitto"
MOSQUITTO_BIN = "/usr/sbin/mosquitto"
MOSQUITTO_PUB = "mosquitto_pub"
MOSQUITTO_SUB = "mosquitto_sub"


def broker_bin():
    """Path of the broker binary under test."""
    if IS_MOSQUITTO:
        return MOSQUITTO_BIN
    return os.environ.get("TERN_BIN") or os.path.normpath(
        os.path.join(HERE, "..", "..", "build", "gateway", "tern"))


# Extra seconds allowed beyond 1.5 x keepalive before a broker notices an idle
# client. The spec asks for 1.5 x keepalive [MQTT-3.1.2-24]; mosquitto 2.0.11
# only checks keepalives every few seconds (seen: 5.9 s for keepalive 1).
KEEPALIVE_SLACK = 6.0 if IS_MOSQUITTO else 1.0

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer", "ThreadSanitizer")


def wait_until(cond, timeout=5.0, interval=0.02, msg="condition"):
    """Poll cond() until it returns a truthy value; return it or raise."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, msg))
        time.sleep(interval)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port that was free a moment ago (bind port 0, read, close)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_accepts(port, host="127.0.0.1", family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --------------------------------------------------------------------------
# Broker process
# --------------------------------------------------------------------------

class Broker:
    """One broker process with its own config file, log file and data dir.

    Construct through the `broker` fixture (conftest.py), which stops every
    broker at teardown and fails the test if one crashed.
    """

    def __init__(self, tmp_path, conf_extra="", persistence=False, port=None,
                 name="broker", listeners=None, write_default_listener=True,
                 start=True, allow_anonymous=True, nofile=None):
        self.dir = os.path.join(str(tmp_path), name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.data_dir = os.path.join(self.dir, "data")
        self.conf_path = os.path.join(self.dir, "broker.conf")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.persistence = persistence
        self.conf_extra = conf_extra
        self.extra_listeners = listeners or []   # list of (port, host)
        self.write_default_listener = write_default_listener
        self.allow_anonymous = allow_anonymous
        self.nofile = nofile     # RLIMIT_NOFILE (soft = hard) for the process
        self.proc = None
        self._log_file = None
        self.crashes = []        # descriptions of abnormal exits seen
        self.write_config()
        if start:
            self.start()

    # -- config ---------------------------------------------------------
    def config_text(self):
        lines = []
        if self.write_default_listener:
            lines.append("listener %d %s" % (self.port, self.host))
        for p, h in self.extra_listeners:
            lines.append("listener %d %s" % (p, h))
        lines.append("allow_anonymous %s" % ("true" if self.allow_anonymous else "false"))
        if self.persistence:
            os.makedirs(self.data_dir, exist_ok=True)
            lines.append("persistence true")
            # mosquitto wants the trailing slash; tern accepts it too.
            lines.append("persistence_location %s/" % self.data_dir)
        else:
            lines.append("persistence false")
        if IS_MOSQUITTO and os.geteuid() == 0:
            # mosquitto started as root drops to user "mosquitto", which can
            # then not re-read the config (SIGHUP) or write the data dir.
            lines.append("user root")
        lines.append("log_dest stderr")
        lines.append("log_type all")
        if self.conf_extra:
            lines.append(self.conf_extra.strip("\n"))
        return "\n".join(lines) + "\n"

    def write_config(self, conf_extra=None):
        if conf_extra is not None:
            self.conf_extra = conf_extra
        with open(self.conf_path, "w") as f:
            f.write(self.config_text())

    # -- lifecycle ------------------------------------------------------
    def start(self, timeout=10.0):
        binp = broker_bin()
        if not os.path.exists(binp):
            raise AssertionError("broker binary not found: %s (set TERN_BIN or "
                                 "TERN_TEST_BROKER=mosquitto)" % binp)
        self._log_file = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        preexec = None
        if self.nofile:
            n = self.nofile
            preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))  # noqa: E731
        self.proc = subprocess.Popen([binp, "-c", self.conf_path],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=self._log_file,
                                     env=env, cwd=self.dir, preexec_fn=preexec)
        deadline = time.monotonic() + timeout
        ports = [(self.port, self.host)] if self.write_default_listener else []
        ports += list(self.extra_listeners)
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("broker exited with %s during startup; log:\n%s"
                                     % (self.proc.returncode, self.log()))
            if all(port_accepts(p, h, socket.AF_INET6 if ":" in h else socket.AF_INET)
                   for p, h in ports):
                return self
            if time.monotonic() >= deadline:
                self.kill9()
                raise AssertionError("broker did not accept TCP within %.0fs; log:\n%s"
                                     % (timeout, self.log()))
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM, wait, SIGKILL. Records a crash if the exit was not clean."""
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
                self.crashes.append("did not exit within %.0fs of SIGTERM" % timeout)
        rc = p.returncode
        if rc != 0 and not getattr(self, "_killed", False):
            self.crashes.append("exit status %s after SIGTERM" % rc)
        self._killed = False
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        return rc

    def kill9(self):
        """SIGKILL the broker (simulated power loss); not counted as a crash."""
        if self.proc is None:
            return
        self._killed = True
        self.proc.kill()
        self.proc.wait(5)
        self.proc = None
        self._killed = False
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def restart(self):
        """Stop (SIGTERM) and start again on the same port, config and data dir."""
        self.stop()
        return self.start()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=5.0):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout, msg="log /%s/" % pattern)

    def problems(self):
        """Crash/sanitizer findings; empty list if the broker behaved."""
        out = list(self.crashes)
        text = self.log()
        for m in SANITIZER_MARKERS:
            if m in text:
                out.append("sanitizer report (%s) in log" % m)
        return out


# --------------------------------------------------------------------------
# mosquitto_pub / mosquitto_sub
# --------------------------------------------------------------------------

def mqtt_pub(port, topic, message="", qos=0, retain=False, extra=(), timeout=10,
             check=True, host="127.0.0.1", null_message=False):
    """Run mosquitto_pub once; returns the CompletedProcess."""
    args = [MOSQUITTO_PUB, "-h", host, "-p", str(port), "-t", topic, "-q", str(qos)]
    if null_message:
        args += ["-n"]
    else:
        args += ["-m", message]
    if retain:
        args.append("-r")
    args += list(extra)
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("mosquitto_pub failed rc=%d: %s" %
                             (r.returncode, r.stderr.decode(errors="replace")))
    return r


def mqtt_sub_collect(port, topic, count, qos=0, wait=5, extra=(), host="127.0.0.1"):
    """`mosquitto_sub -C N -W wait -v`; returns list of (topic, payload) lines.

    Only safe when the messages are already there (retained) or arrive later
    by other means; use SubProc when you need to know the subscription is live.
    """
    args = [MOSQUITTO_SUB, "-h", host, "-p", str(port), "-t", topic, "-q", str(qos),
            "-C", str(count), "-W", str(wait), "-v"] + list(extra)
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=wait + 5)
    out = []
    for line in r.stdout.decode(errors="replace").splitlines():
        t, _, p = line.partition(" ")
        out.append((t, p))
    return out


class SubProc:
    """A background mosquitto_sub with -d, so we can see its SUBACK.

    Messages are printed with -F as MSG<TAB>qos<TAB>retain<TAB>topic<TAB>payload.
    """

    def __init__(self, port, topics, qos=0, wait=10, extra=(), host="127.0.0.1",
                 client_id=None, count=None):
        if isinstance(topics, str):
            topics = [topics]
        # stdbuf: mosquitto_sub block-buffers stdout on a pipe (debug lines too).
        args = ["stdbuf", "-oL", MOSQUITTO_SUB, "-h", host, "-p", str(port), "-q", str(qos), "-d",
                "-W", str(wait), "-F", "MSG\t%q\t%r\t%t\t%p"]
        for t in topics:
            args += ["-t", t]
        if client_id:
            args += ["-i", client_id]
        if count:
            args += ["-C", str(count)]
        args += list(extra)
        self.lines = []
        self.msgs = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._t = threading.Thread(target=self._reader, daemon=True)
        self._t.start()

    def _reader(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                if line.startswith("MSG\t"):
                    parts = line.split("\t", 4)
                    self.msgs.append((parts[3], parts[4], int(parts[1]), int(parts[2])))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("mosquitto_sub: timed out waiting for %s; output:\n%s"
                                         % (what, "\n".join(self.lines[-30:])))
                self._cond.wait(min(left, 0.1))

    def wait_subscribed(self, timeout=5):
        self._wait(lambda: any("received SUBACK" in l for l in self.lines), timeout, "SUBACK")
        return self

    def wait_messages(self, n, timeout=5):
        """Wait for n messages; returns list of (topic, payload, qos, retain)."""
        self._wait(lambda: len(self.msgs) >= n, timeout, "%d messages" % n)
        with self._cond:
            return list(self.msgs)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)
        self._t.join(3)
        self.proc.stdout.close()


# --------------------------------------------------------------------------
# paho-mqtt
# --------------------------------------------------------------------------

def _paho():
    import paho.mqtt.client as mqtt
    return mqtt


class PahoClient:
    """paho-mqtt client with loop_start and a queue of received messages."""

    def __init__(self, port, client_id=None, clean_session=True, protocol="3.1.1",
                 keepalive=60, will=None, host="127.0.0.1", connect=True,
                 username=None, password=None, tls=None):
        mqtt = _paho()
        proto = mqtt.MQTTv31 if protocol == "3.1" else mqtt.MQTTv311
        if client_id is None:
            client_id = "paho-" + uuid.uuid4().hex[:10]
        self.client_id = client_id
        self.c = mqtt.Client(client_id=client_id, clean_session=clean_session,
                             protocol=proto)
        if username is not None:
            self.c.username_pw_set(username, password)
        if tls is not None:
            self.c.tls_set(**tls)  # dict of paho's tls_set arguments (ca_certs, certfile, ...)
        if will:
            self.c.will_set(*will) if isinstance(will, tuple) else self.c.will_set(**will)
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = queue.Queue()
        self.unsubacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.c.on_connect = lambda c, u, flags, rc: self.connack.put((flags, rc))
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = lambda c, u, mid, granted: self.subacks.put((mid, granted))
        self.c.on_unsubscribe = lambda c, u, mid: self.unsubacks.put(mid)
        self.c.on_disconnect = lambda c, u, rc: self.disconnects.put(rc)
        self.port, self.host, self.keepalive = port, host, keepalive
        self.session_present = None
        self.rc = None
        if connect:
            self.connect()

    def connect(self, timeout=5, expect_rc=0):
        self.c.connect(self.host, self.port, self.keepalive)
        self.c.loop_start()
        try:
            flags, rc = self.connack.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho: no CONNACK within %ss" % timeout)
        self.session_present = flags.get("session present")
        self.rc = rc
        if expect_rc is not None:
            assert rc == expect_rc, "paho CONNACK rc=%s, expected %s" % (rc, expect_rc)
        return self

    def subscribe(self, topic, qos=0, timeout=5):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == 0
        got_mid, granted = self.subacks.get(timeout=timeout)
        assert got_mid == mid
        return granted

    def unsubscribe(self, topic, timeout=5):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == 0
        assert self.unsubacks.get(timeout=timeout) == mid

    def publish(self, topic, payload, qos=0, retain=False, timeout=5):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(timeout) if _paho_has_timeout() else info.wait_for_publish()
        assert info.is_published(), "paho publish not completed"
        return info

    def get(self, timeout=5):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho %s: no message within %ss" % (self.client_id, timeout))

    def get_n(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                out.append(self.messages.get(timeout=max(left, 0.001)))
            except queue.Empty:
                raise AssertionError("paho %s: got %d of %d messages in %ss"
                                     % (self.client_id, len(out), n, timeout))
        return out

    def no_message(self, timeout=0.5):
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return True
        raise AssertionError("unexpected message on %r: %r" % (m.topic, m.payload))

    def disconnect(self):
        self.c.disconnect()
        self.close()

    def close(self):
        # disconnect() wakes the network thread's select (else loop_stop waits
        # up to 1 s); it is a no-op if already disconnected.
        try:
            self.c.disconnect()
        except Exception:
            pass
        self.c.loop_stop()


def _paho_has_timeout():
    import inspect
    mqtt = _paho()
    try:
        return "timeout" in inspect.signature(mqtt.MQTTMessageInfo.wait_for_publish).parameters
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------
# Raw packets
# --------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
                6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
                10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
                14: "DISCONNECT"}


def enc_varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def enc_str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + enc_varint(len(body)) + body


def connect_packet(client_id="", clean=True, keepalive=60, proto_name="MQTT", level=4,
                   will=None, username=None, password=None, flags=None):
    """CONNECT. will = (topic, payload, qos, retain). flags overrides the byte."""
    f = 0
    if clean:
        f |= 0x02
    payload = enc_str(client_id)
    if will:
        wt, wp, wq, wr = will
        f |= 0x04 | (wq << 3) | (0x20 if wr else 0)
        payload += enc_str(wt) + enc_str(wp)
    if username is not None:
        f |= 0x80
        payload += enc_str(username)
    if password is not None:
        f |= 0x40
        payload += enc_str(password)
    if flags is not None:
        f = flags
    body = enc_str(proto_name) + bytes([level, f]) + struct.pack("!H", keepalive) + payload
    return packet(CONNECT, 0, body)


def publish_packet(topic, payload=b"", qos=0, pid=None, retain=False, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    body = enc_str(topic)
    if qos > 0:
        body += struct.pack("!H", pid if pid is not None else 1)
    return packet(PUBLISH, flags, body + payload)


def subscribe_packet(pid, filters, flags=0x02):
    """filters: list of (topic_filter, qos) or a single filter string."""
    if isinstance(filters, (str, bytes)):
        filters = [(filters, 0)]
    body = struct.pack("!H", pid)
    for t, q in filters:
        body += enc_str(t) + bytes([q])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe_packet(pid, filters, flags=0x02):
    if isinstance(filters, (str, bytes)):
        filters = [filters]
    body = struct.pack("!H", pid)
    for t in filters:
        body += enc_str(t)
    return packet(UNSUBSCRIBE, flags, body)


def ack_packet(ptype, pid):
    return packet(ptype, 0x02 if ptype == PUBREL else 0, struct.pack("!H", pid))


def pingreq_packet():
    return b"\xc0\x00"


def disconnect_packet():
    return b"\xe0\x00"


def remaining_length(buf):
    """The remaining length of the packet at the front of buf: (length,
    where the body starts), or None while the length is incomplete. Raises
    ValueError on a length longer than four bytes (MQTT 3.1.1 section
    2.2.3): the peer is broken, close the connection."""
    mult, length, i = 1, 0, 1
    while True:
        if i >= len(buf):
            return None
        b = buf[i]
        length += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            return length, i
        if i > 4:
            raise ValueError("remaining length longer than 4 bytes")


def split_packets(buf):
    """The whole MQTT packets at the front of buf, for a reader that gets a
    stream in chunks: ([(first byte, body), ...], the bytes left over).
    ValueError as remaining_length."""
    out = []
    while True:
        rl = remaining_length(buf)
        if rl is None or len(buf) < rl[1] + rl[0]:
            return out, buf
        length, i = rl
        out.append((buf[0], buf[i:i + length]))
        buf = buf[i + length:]


class Packet:
    def __init__(self, first, body):
        self.first = first
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = body

    @property
    def name(self):
        return PACKET_NAMES.get(self.type, "type%d" % self.type)

    def raw(self):
        return bytes([self.first]) + enc_varint(len(self.body)) + self.body

    # PUBLISH fields
    @property
    def qos(self):
        return (self.flags >> 1) & 3

    @property
    def dup(self):
        return bool(self.flags & 0x08)

    @property
    def retain(self):
        return bool(self.flags & 0x01)

    @property
    def topic(self):
        n = struct.unpack("!H", self.body[:2])[0]
        return self.body[2:2 + n].decode("utf-8", "replace")

    @property
    def pid(self):
        if self.type == PUBLISH:
            n = struct.unpack("!H", self.body[:2])[0]
            return struct.unpack("!H", self.body[2 + n:4 + n])[0] if self.qos else None
        return struct.unpack("!H", self.body[:2])[0]

    @property
    def payload(self):
        n = struct.unpack("!H", self.body[:2])[0]
        return self.body[2 + n + (2 if self.qos else 0):]

    # CONNACK / SUBACK fields
    @property
    def session_present(self):
        return self.body[0] & 1

    @property
    def rc(self):
        return self.body[1]

    @property
    def granted(self):
        return list(self.body[2:])

    def __repr__(self):
        if self.type == PUBLISH:
            return "<PUBLISH q%d%s%s %r pid=%s %d bytes>" % (
                self.qos, " dup" if self.dup else "", " retain" if self.retain else "",
                self.topic, self.pid, len(self.payload))
        return "<%s flags=%x body=%s>" % (self.name, self.flags, self.body.hex())


class Closed(Exception):
    pass


class RawClient:
    """A plain TCP client that sends exact bytes and parses packets back."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.pending = []
        self.closed = False
        self.default_timeout = timeout

    def send(self, data, ignore_errors=False):
        try:
            self.sock.sendall(data)
        except OSError:
            if not ignore_errors:
                raise

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError
            except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
                chunk = b""
            if not chunk:
                self.closed = True
                raise Closed
            self.buf += chunk

    def recv_packet(self, timeout=None):
        """Next packet (stashed ones first), or raise Closed / TimeoutError."""
        if self.pending:
            return self.pending.pop(0)
        return self._read_packet(timeout)

    def _read_packet(self, timeout=None):
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        self._fill(2, deadline)
        while True:
            try:
                rl = remaining_length(self.buf)
            except ValueError:
                raise AssertionError("broker sent a bad remaining length")
            if rl is not None:
                break
            self._fill(len(self.buf) + 1, deadline)
        length, i = rl
        self._fill(i + length, deadline)
        pkt = Packet(self.buf[0], self.buf[i:i + length])
        self.buf = self.buf[i + length:]
        return pkt

    def expect(self, ptype, timeout=None, pid=None):
        """Next packet of type ptype (and pid if given).

        Packets of other types arriving first are stashed and returned by
        later recv_packet/expect calls, in order: a client publishing to its
        own subscription may see the PUBLISH before its PUBACK.
        """
        for i, p in enumerate(self.pending):
            if p.type == ptype and (pid is None or p.pid == pid):
                return self.pending.pop(i)
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        while True:
            try:
                p = self._read_packet(max(deadline - time.monotonic(), 0.001))
            except Closed:
                raise AssertionError("connection closed while expecting %s (stashed %r)"
                                     % (PACKET_NAMES[ptype], self.pending))
            except TimeoutError:
                raise AssertionError("timed out expecting %s (stashed %r)"
                                     % (PACKET_NAMES[ptype], self.pending))
            if p.type == ptype and (pid is None or p.pid == pid):
                return p
            self.pending.append(p)

    def expect_closed(self, timeout=5.0):
        """Assert the broker closes the connection; return packets seen before."""
        seen, self.pending = self.pending, []
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen.append(self._read_packet(max(deadline - time.monotonic(), 0.001)))
            except Closed:
                return seen
            except TimeoutError:
                raise AssertionError("connection still open after %.1fs (got %r)"
                                     % (timeout, seen))

    def is_open(self, timeout=0.3):
        """True if nothing arrives and the connection stays open for timeout."""
        if self.pending:
            return True
        try:
            p = self._read_packet(timeout)
        except TimeoutError:
            return True
        except Closed:
            return False
        self.pending.append(p)
        return True

    def no_packet(self, timeout=0.5):
        try:
            p = self.recv_packet(timeout)
        except TimeoutError:
            return True
        except Closed:
            raise AssertionError("connection closed unexpectedly")
        raise AssertionError("unexpected packet %r" % p)

    # conveniences --------------------------------------------------------
    def connect(self, client_id=None, clean=True, keepalive=60, expect_rc=0, **kw):
        if client_id is None:
            client_id = "raw-" + uuid.uuid4().hex[:10]
        self.client_id = client_id
        self.send(connect_packet(client_id, clean, keepalive, **kw))
        ack = self.expect(CONNACK)
        if expect_rc is not None:
            assert ack.rc == expect_rc, "CONNACK rc=%d, expected %d" % (ack.rc, expect_rc)
        return ack

    def subscribe(self, filters, pid=1, qos=0):
        if isinstance(filters, str):
            filters = [(filters, qos)]
        self.send(subscribe_packet(pid, filters))
        ack = self.expect(SUBACK)
        assert ack.pid == pid
        return ack.granted

    def publish(self, topic, payload=b"", qos=0, pid=None, retain=False, dup=False):
        """Publish and complete the QoS handshake as the sender."""
        if qos and pid is None:
            pid = 1
        self.send(publish_packet(topic, payload, qos, pid, retain, dup))
        if qos == 1:
            self.expect(PUBACK, pid=pid)
        elif qos == 2:
            self.expect(PUBREC, pid=pid)
            self.send(ack_packet(PUBREL, pid))
            self.expect(PUBCOMP, pid=pid)

    def recv_publish(self, timeout=None, ack=True):
        p = self.expect(PUBLISH, timeout)
        if ack and p.qos == 1:
            self.send(ack_packet(PUBACK, p.pid))
        elif ack and p.qos == 2:
            self.send(ack_packet(PUBREC, p.pid))
            self.expect(PUBREL, pid=p.pid)
            self.send(ack_packet(PUBCOMP, p.pid))
        return p

    def drain(self, timeout=0.7, ack=True):
        """Every PUBLISH (acknowledged, unless ack is False) until none came
        for timeout seconds or the connection closed: what a persistent
        session had queued, in arrival order."""
        out = []
        while True:
            try:
                out.append(self.recv_publish(timeout=timeout, ack=ack))
            except AssertionError:
                return out

    def disconnect(self):
        self.send(disconnect_packet(), ignore_errors=True)
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def offline_subscriber(br, raw, client_id, topic_filter, qos=1):
    """A persistent session (clean session 0) subscribed to topic_filter,
    then disconnected: the broker queues what matches for it. raw is the
    conftest fixture (it closes the client at teardown)."""
    c = raw(br)
    c.connect(client_id, clean=False)
    c.subscribe(topic_filter, qos=qos)
    c.disconnect()


def unique(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])
