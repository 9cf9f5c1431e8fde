"""systemd's notify protocol (issue 14), spoken to a unix datagram socket
this test opens (a path, and an abstract '@' name): READY=1 with a STATUS
line once listeners and store are up, WATCHDOG=1 at half of WATCHDOG_USEC,
RELOADING=1 / READY=1 around SIGHUP, STOPPING=1 at shutdown; and the
optional hardware watchdog device, here a FIFO the test reads."""

import os
import signal
import socket
import stat
import threading
import time
import uuid

import pytest

import tern_harness as h

pytestmark = pytest.mark.tern_only


class NotifySocket:
    """A bound AF_UNIX datagram socket collecting (monotonic time, text)."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self.msgs = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.msgs.append((time.monotonic(), data.decode()))

    def texts(self):
        return [t for _, t in list(self.msgs)]

    def wait_for(self, key, timeout=10.0):
        return h.wait_until(lambda: next((m for m in self.texts() if key in m.split("\n")), None),
                            timeout=timeout, msg="notify %s" % key)

    def close(self):
        self._stop = True
        self._t.join(2)
        self.sock.close()


@pytest.fixture
def notify(tmp_path, monkeypatch):
    made = []

    def make(abstract=False, watchdog_usec=None, watchdog_pid=None):
        if abstract:
            name = "@tern-test-%s" % uuid.uuid4().hex
            ns = NotifySocket("\0" + name[1:])
        else:
            name = str(tmp_path / "notify.sock")
            ns = NotifySocket(name)
        made.append(ns)
        monkeypatch.setenv("NOTIFY_SOCKET", name)
        if watchdog_usec is not None:
            monkeypatch.setenv("WATCHDOG_USEC", str(watchdog_usec))
        if watchdog_pid is not None:
            monkeypatch.setenv("WATCHDOG_PID", str(watchdog_pid))
        return ns

    yield make
    for ns in made:
        ns.close()


def test_ready_status_reload_stopping_on_a_path_socket(broker, notify):
    ns = notify()
    b = broker(persistence=True)
    ready = ns.wait_for("READY=1")
    assert "STATUS=running: 0 clients connected" in ready
    texts = ns.texts()
    # Startup stages come before READY, in order.
    assert texts.index("STATUS=opening the store") < texts.index(ready)
    assert "STATUS=opening listeners and bridges" in texts
    # No watchdog asked for: none sent.
    assert not any("WATCHDOG=1" in t for t in texts)
    b.signal(signal.SIGHUP)
    ns.wait_for("RELOADING=1")
    h.wait_until(lambda: sum("READY=1" in t for t in ns.texts()) == 2, msg="READY after reload")
    b.stop()
    stopping = ns.wait_for("STOPPING=1")
    assert ns.texts().index(stopping) == len(ns.texts()) - 1


def test_watchdog_at_half_the_interval_on_an_abstract_socket(broker, notify):
    ns = notify(abstract=True, watchdog_usec=400000)  # WATCHDOG=1 every 200 ms
    b = broker()
    ns.wait_for("READY=1")
    t0 = time.monotonic()
    time.sleep(2.0)
    pings = [t for t, m in list(ns.msgs) if m == "WATCHDOG=1" and t >= t0]
    # 10 expected in 2 s; a loaded machine may delay a timer, never skip one.
    assert 7 <= len(pings) <= 12, len(pings)
    gaps = [b2 - a for a, b2 in zip(pings, pings[1:])]
    assert max(gaps) < 0.4, gaps  # always inside WATCHDOG_USEC
    b.stop()
    ns.wait_for("STOPPING=1")
    n = len([m for _, m in list(ns.msgs) if m == "WATCHDOG=1"])
    time.sleep(0.5)
    assert len([m for _, m in list(ns.msgs) if m == "WATCHDOG=1"]) == n  # none after stop


def test_watchdog_for_another_pid_is_not_ours(broker, notify):
    ns = notify(watchdog_usec=200000, watchdog_pid=1)
    b = broker()
    ns.wait_for("READY=1")
    time.sleep(0.6)
    assert not any(m == "WATCHDOG=1" for m in ns.texts())
    b.stop()


def test_stuck_loop_stops_the_watchdog(broker, notify):
    """SIGSTOP stands in for a stuck loop: the pings stop, so systemd
    (WatchdogSec=) would restart the service."""
    ns = notify(watchdog_usec=200000)
    b = broker()
    ns.wait_for("READY=1")
    b.signal(signal.SIGSTOP)
    time.sleep(0.3)
    n = len(ns.msgs)
    time.sleep(1.0)
    assert len(ns.msgs) == n
    b.signal(signal.SIGCONT)
    h.wait_until(lambda: len(ns.msgs) > n, msg="pings again after SIGCONT")
    b.stop()


def test_hardware_watchdog_kicked_and_magic_closed(broker, tmp_path):
    fifo = str(tmp_path / "watchdog")
    os.mkfifo(fifo)
    # The reader must exist before tern opens the FIFO for writing.
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        b = broker("watchdog_device %s\nwatchdog_timeout 2" % fifo)
        b.wait_log(r"watchdog_device .* did not take a timeout of 2 s")  # a FIFO has no ioctl
        b.wait_log(r"watchdog_device .* armed: timeout 2 s, kicked every 666 ms")
        got = b""
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                got += os.read(rfd, 100)
            except BlockingIOError:
                pass
            time.sleep(0.05)
        assert 3 <= got.count(b"k") <= 6, got
        b.stop()
        time.sleep(0.2)
        tail = b""
        try:
            tail = os.read(rfd, 100)
        except BlockingIOError:
            pass
        assert tail.endswith(b"V"), tail  # magic close: a clean stop disarms it
    finally:
        os.close(rfd)


def test_missing_watchdog_device_stops_tern(tmp_path):
    conf = tmp_path / "t.conf"
    conf.write_text("listener %d 127.0.0.1\npersistence false\nwatchdog_device %s\n"
                    % (h.free_port(), tmp_path / "nope"))
    import subprocess
    r = subprocess.run([h.broker_bin(), "-c", str(conf)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert b"watchdog_device" in r.stdout and b"No such file" in r.stdout


UNIT = os.path.join(h.HERE, "..", "..", "packaging", "tern.service")


def test_shipped_unit_is_valid_and_hardened(tmp_path):
    text = open(UNIT).read()
    for line in ("Type=notify", "WatchdogSec=30s", "User=tern", "StateDirectory=tern",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                 "ExecReload=/bin/kill -HUP $MAINPID", "PrivateTmp=yes"):
        assert line in text, line
    # systemd's own checker, with the unit pointing at the binary under test.
    unit = tmp_path / "tern.service"
    unit.write_text(text.replace("/usr/bin/tern", os.path.abspath(h.broker_bin())))
    import subprocess
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == b"", r.stdout.decode()
