"""The embedded default is the whole gateway (issue 14): with no
configuration tern serves MQTT on loopback (as before), MQTT-SN on UDP
127.0.0.1:1884 and its metrics on http://127.0.0.1:9883. Those two ports
are fixed, so they are best effort: when another process (or a parallel
test) holds one, tern says so and runs without it. The test never
depends on getting them: it asserts on whichever outcome it sees."""

import re
import socket
import subprocess
import time

import pytest

import sn_client as sn
import tern_harness as h

pytestmark = pytest.mark.tern_only


def start_default(tmp_path, port):
    log = open(tmp_path / "tern.log", "wb")
    proc = subprocess.Popen([h.broker_bin(), "-p", str(port), "-v"], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, cwd=str(tmp_path))
    return proc, log


def stop(proc, log):
    proc.terminate()
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        rc = None
    log.close()
    return rc


def read(tmp_path):
    return (tmp_path / "tern.log").read_text(errors="replace")


def test_default_serves_mqtt_mqttsn_and_metrics(tmp_path):
    port = h.free_port()
    proc, log = start_default(tmp_path, port)
    try:
        h.wait_until(lambda: proc.poll() is not None or h.port_accepts(port), 10,
                     msg="MQTT on -p port")
        assert proc.poll() is None, read(tmp_path)
        h.wait_until(lambda: "running" in read(tmp_path), 10, msg="running")
        text = read(tmp_path)
        http_up = "serving /metrics" in text and "127.0.0.1:9883" in text
        http_off = "the default metrics listener stays off" in text
        sn_off = "the default MQTT-SN listener (UDP 127.0.0.1:1884) stays off" in text
        assert http_up != http_off, text
        if http_up:
            s = socket.create_connection(("127.0.0.1", 9883), timeout=5)
            s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            assert data.startswith(b"HTTP/1.1 200 ")
            # It is this tern's endpoint: it lists our MQTT port.
            assert ("127.0.0.1:%d" % port).encode() in data
        if not sn_off:
            c = sn.SNClient(1884, client_id="default-sn", timeout=2.0)
            try:
                assert c.connect()["rc"] == sn.RC_ACCEPTED
                c.disconnect()
            finally:
                c.close()
    finally:
        assert stop(proc, log) == 0, read(tmp_path)


def test_taken_default_ports_are_warnings_not_failures(tmp_path):
    """Hold 1884/udp and 9883/tcp ourselves (when free): tern still starts."""
    held = []
    try:
        for kind, p in ((socket.SOCK_DGRAM, 1884), (socket.SOCK_STREAM, 9883)):
            s = socket.socket(socket.AF_INET, kind)
            if kind == socket.SOCK_STREAM:
                # TIME_WAIT from an earlier test must not keep us from binding.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", p))
                if kind == socket.SOCK_STREAM:
                    s.listen(1)
                held.append(s)
            except OSError:
                s.close()  # somebody else holds it: just as good for this test
        port = h.free_port()
        proc, log = start_default(tmp_path, port)
        try:
            h.wait_until(lambda: proc.poll() is not None or h.port_accepts(port), 10,
                         msg="MQTT on -p port")
            assert proc.poll() is None, read(tmp_path)
            h.wait_until(lambda: "stays off" in read(tmp_path) and "running" in read(tmp_path),
                         10, msg="warnings")
            text = read(tmp_path)
            assert "the default metrics listener stays off" in text
            assert "the default MQTT-SN listener (UDP 127.0.0.1:1884) stays off" in text
        finally:
            assert stop(proc, log) == 0, read(tmp_path)
    finally:
        for s in held:
            s.close()
