"""Command line, configuration file, listeners and SIGHUP reload."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

import tern_harness as h


def _run(args, timeout=5):
    return subprocess.run([h.broker_bin()] + args, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


@pytest.mark.tern_only
def test_help(tmp_path):
    r = _run(["--help"])
    assert r.returncode == 0
    out = (r.stdout + r.stderr).decode()
    assert "-c" in out and "--check-config" in out


@pytest.mark.tern_only
def test_version():
    r = _run(["--version"])
    assert r.returncode == 0
    assert re.search(r"tern\D*\d+\.\d+\.\d+", r.stdout.decode() + r.stderr.decode())


@pytest.mark.tern_only
def test_unknown_option_names_file_and_line(tmp_path):
    port = h.free_port()
    conf = _write(tmp_path / "bad.conf",
                  "listener %d 127.0.0.1\nallow_anonymous true\nno_such_option 1\n" % port)
    r = _run(["-c", conf])
    assert r.returncode != 0
    err = r.stderr.decode() + r.stdout.decode()
    assert "bad.conf:3" in err, err
    assert "no_such_option" in err, err
    assert not h.port_accepts(port)


@pytest.mark.tern_only
@pytest.mark.parametrize("line", ["max_inflight_messages many", "listener notaport",
                                  "allow_anonymous maybe", "max_queued_messages -5"])
def test_bad_values_name_file_and_line(tmp_path, line):
    conf = _write(tmp_path / "bad.conf", "# comment\n\n%s\n" % line)
    r = _run(["--check-config", "-c", conf])
    assert r.returncode != 0
    err = r.stderr.decode() + r.stdout.decode()
    assert "bad.conf:3" in err, err


def test_unknown_option_fails_to_start(tmp_path):
    """Both brokers refuse to start on an unknown option."""
    port = h.free_port()
    conf = _write(tmp_path / "bad.conf",
                  "listener %d 127.0.0.1\nallow_anonymous true\nno_such_option 1\n" % port)
    r = _run(["-c", conf])
    assert r.returncode != 0


def test_missing_config_file_fails(tmp_path):
    r = _run(["-c", str(tmp_path / "does-not-exist.conf")])
    assert r.returncode != 0


@pytest.mark.tern_only
def test_check_config_good_does_not_listen(tmp_path):
    port = h.free_port()
    conf = _write(tmp_path / "good.conf",
                  "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                  "max_inflight_messages 10\nmax_queued_messages 100\n" % port)
    r = _run(["--check-config", "-c", conf])
    assert r.returncode == 0, r.stderr.decode()
    assert not h.port_accepts(port)


@pytest.mark.tern_only
def test_check_config_bad_fails(tmp_path):
    conf = _write(tmp_path / "bad.conf", "listener 1 127.0.0.1\nbogus_option yes\n")
    r = _run(["--check-config", "-c", conf])
    assert r.returncode != 0
    assert "bad.conf:2" in (r.stderr + r.stdout).decode()


def test_port_option(tmp_path, raw):
    """`BIN -p PORT` with no config listens on 127.0.0.1:PORT."""
    port = h.free_port()
    proc = subprocess.Popen([h.broker_bin(), "-p", str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(tmp_path))
    try:
        h.wait_until(lambda: proc.poll() is not None or h.port_accepts(port), 10,
                     msg="-p listener")
        assert proc.poll() is None, proc.stderr.read().decode()
        c = raw(port)
        c.connect()
        c.subscribe("p/t", qos=1)
        c.publish("p/t", b"x", qos=1, pid=1)
        assert c.recv_publish().payload == b"x"
        c.disconnect()
    finally:
        proc.terminate()
        try:
            rc = proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            rc = None
        proc.stderr.close()
    assert rc == 0


def test_ipv4_and_ipv6_listeners(broker, raw):
    """Two listeners, 127.0.0.1 and ::1: both accept, messages cross between them."""
    p6 = h.free_port(socket.AF_INET6, "::1")
    br = broker(listeners=[(p6, "::1")])
    c4 = raw(br)
    c4.connect()
    c4.subscribe("dual/t", qos=1)
    c6 = raw(p6, host="::1", family=socket.AF_INET6)
    c6.connect()
    c6.subscribe("dual/t", qos=1)
    c6.publish("dual/t", b"from6", qos=1, pid=1)
    assert c4.recv_publish().payload == b"from6"
    assert c6.recv_publish().payload == b"from6"


def _connack_rc(port, cid="reload"):
    c = h.RawClient(port)
    try:
        c.send(h.connect_packet(cid))
        return c.recv_packet().rc
    finally:
        c.close()


def test_sighup_allow_anonymous_false(broker, raw):
    """SIGHUP re-reads the config: allow_anonymous false -> new anonymous
    connections get CONNACK 5, without a restart."""
    br = broker()
    pid_before = br.proc.pid
    assert _connack_rc(br.port) == 0
    br.allow_anonymous = False
    br.write_config()
    br.signal(signal.SIGHUP)
    h.wait_until(lambda: _connack_rc(br.port) == 5, 5, msg="CONNACK 5 after reload")
    assert br.running() and br.proc.pid == pid_before
    # and back
    br.allow_anonymous = True
    br.write_config()
    br.signal(signal.SIGHUP)
    h.wait_until(lambda: _connack_rc(br.port) == 0, 5, msg="CONNACK 0 after reload")


def test_sighup_bad_config_keeps_running(broker, raw):
    """A reload with a broken config must not take the broker down."""
    br = broker()
    c = raw(br)
    c.connect()
    with open(br.conf_path, "a") as f:
        f.write("this_is_not_an_option 1\n")
    br.signal(signal.SIGHUP)
    time.sleep(0.3)
    assert br.running()
    assert c.is_open(0.2)
    assert _connack_rc(br.port, "after-bad-reload") == 0


@pytest.mark.tern_only
def test_sighup_max_queued_messages(broker, raw):
    """SIGHUP applies a new max_queued_messages to offline queues.

    (mosquitto 2.0.11 re-reads the value but keeps queueing with the old one.)
    """
    br = broker("max_queued_messages 100")
    c = raw(br)
    c.connect("mq-reload", clean=False)
    c.subscribe("mqr/t", qos=1)
    c.disconnect()
    br.write_config("max_queued_messages 3")
    br.signal(signal.SIGHUP)
    br.wait_log(r"(?i)reload", timeout=3)
    time.sleep(0.2)
    p = raw(br)
    p.connect()
    for i in range(10):
        p.publish("mqr/t", b"%d" % i, qos=1, pid=i + 1)
    c = raw(br)
    c.connect("mq-reload", clean=False)
    got = []
    while True:
        try:
            got.append(c.recv_publish(timeout=0.5).payload)
        except AssertionError:
            break
    assert got == [b"0", b"1", b"2"]


def test_sigterm_exits_zero(broker):
    br = broker()
    assert br.stop() == 0


def test_sigint_exits_zero(broker):
    br = broker()
    br.signal(signal.SIGINT)
    assert br.proc.wait(5) == 0
    br.stop()
