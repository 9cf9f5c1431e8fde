"""The operations listener (issue 14): `listener PORT ADDR` + `protocol http`
serves /metrics (Prometheus text format 0.0.4, checked with promtool),
/healthz, /readyz and /api/v1/status; bad requests get 4xx and harm
nothing; optional basic authentication against the password_file.

Every server binds 127.0.0.1 on ports picked here; raw sockets send the
requests byte for byte, so what the test sends is what the parser sees."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import sn_client as sn
import tern_harness as h

pytestmark = pytest.mark.tern_only

PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def http(port, raw, timeout=10.0):
    """Send raw bytes, read until the server closes; returns (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
    assert m, "no status line in %r" % data[:200]
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    assert int(headers["content-length"]) == len(body) or raw.startswith(b"HEAD")
    return int(m.group(1)), headers, body


def get(port, path, extra=b""):
    return http(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n")


def ops_broker(broker, extra="", http_extra="", persistence=True):
    hp = h.free_port()
    conf = "listener %d 127.0.0.1\nprotocol http\n%s\n%s" % (hp, http_extra, extra)
    b = broker(conf, persistence=persistence)
    h.wait_until(lambda: h.port_accepts(hp), msg="http listener %d" % hp)
    return b, hp


def metric(body, name, labels=None):
    """The value of one sample, or None."""
    text = body.decode() if isinstance(body, bytes) else body
    for ln in text.splitlines():
        if ln.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", ln)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if labels is None or all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def promtool_check(body):
    assert shutil.which("promtool"), "promtool missing (Debian package prometheus)"
    r = subprocess.run(["promtool", "check", "metrics"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    assert r.returncode == 0, r.stdout.decode()
    assert r.stdout.strip() == b"", r.stdout.decode()  # no lint findings either


def test_metrics_valid_prometheus_and_counters_move(broker):
    b, hp = ops_broker(broker)
    st, hd, body = get(hp, "/metrics")
    assert st == 200
    assert hd["content-type"] == PROM_TYPE
    assert hd["connection"] == "close"
    promtool_check(body)
    q1 = {"protocol": "mqtt", "qos": "1"}
    before = metric(body, "tern_messages_received_total", q1)
    assert before == 0
    assert metric(body, "tern_store_enabled") == 1
    # The harness's port probe may still be open here: present, not 0.
    assert metric(body, "tern_connections", {"protocol": "mqtt",
                                             "listener": "127.0.0.1:%d" % b.port}) is not None
    # A persistent subscriber: its QoS 1 messages go through the store.
    sub = subprocess.Popen([h.MOSQUITTO_SUB, "-p", str(b.port), "-t", "ops/#", "-q", "1",
                            "-c", "-i", "ops-sub",
                            "-C", "3", "-W", "20"], stdout=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
    try:
        h.wait_until(lambda: metric(get(hp, "/metrics")[2], "tern_subscriptions") == 1,
                     msg="subscriber subscribed")
        for i in range(3):
            h.mqtt_pub(b.port, "ops/t", "m%d" % i, qos=1)
        out, _ = sub.communicate(timeout=25)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(5)
    assert out.split() == [b"m0", b"m1", b"m2"]
    body = get(hp, "/metrics")[2]
    promtool_check(body)
    assert metric(body, "tern_messages_received_total", q1) == 3
    assert metric(body, "tern_messages_sent_total", q1) == 3
    assert metric(body, "tern_received_payload_bytes_total", q1) == 6
    assert metric(body, "tern_connections_accepted_total") >= 4
    assert metric(body, "tern_store_commit_latency_seconds_count") >= 1
    assert metric(body, "tern_store_batch_operations_count") >= 1
    assert metric(body, "tern_http_requests_total", {"listener": "127.0.0.1:%d" % hp}) >= 3


def test_head_sends_no_body(broker):
    b, hp = ops_broker(broker)
    st, hd, body = http(hp, b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    assert st == 200 and body == b"" and int(hd["content-length"]) > 1000


def test_health_ready_and_status(broker):
    b, hp = ops_broker(broker, persistence=True)
    st, hd, body = get(hp, "/healthz")
    assert (st, body) == (200, b"ok\n")
    assert hd["content-type"].startswith("text/plain")
    st, _, body = get(hp, "/readyz")
    assert (st, body) == (200, b"ready\n")
    st, hd, body = get(hp, "/api/v1/status")
    assert st == 200 and hd["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["ready"] is True and doc["healthy"] is True
    assert {"protocol": "mqtt", "address": "127.0.0.1:%d" % b.port,
            "connections": 0} in doc["listeners"]
    assert doc["http_listeners"][0]["address"] == "127.0.0.1:%d" % hp
    assert doc["store"]["enabled"] is True and doc["store"]["used_bytes"] > 0
    assert doc["clients"]["connected"] == 0
    assert doc["bridges"] == []


def test_healthz_503_after_loop_stall(broker):
    """SIGSTOP freezes the loop for 3 s: the heartbeat fires late, /healthz
    answers 503 with the reason for the next 10 s, then 200 again."""
    b, hp = ops_broker(broker)
    assert get(hp, "/healthz")[0] == 200
    b.signal(signal.SIGSTOP)
    time.sleep(3.0)
    b.signal(signal.SIGCONT)
    st, _, body = h.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(get(hp, "/healthz")),
                               timeout=3, msg="503 after the stall")
    assert body.startswith(b"unhealthy: event loop stalled")
    doc = json.loads(get(hp, "/api/v1/status")[2])
    assert doc["healthy"] is False and "stalled" in doc["unhealthy_reason"]
    assert metric(get(hp, "/metrics")[2], "tern_loop_stalls_total") >= 1
    h.wait_until(lambda: get(hp, "/healthz")[0] == 200, timeout=15, interval=0.5,
                 msg="healthy again after the window")
    b.wait_log(r"event loop stalled")


BAD = [
    (b"POST /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 405),
    (b"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd", 413),
    (b"GET /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    (b"GET /metrics HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    (b"GET /metrics HTTP/1.1\r\n\r\n", 400),                       # no Host
    (b"GET /metrics HTTP/1.1\nHost: t\n\n", 400),                  # bare LF
    (b"GET /metrics HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400),  # obs-fold
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),          # a TLS ClientHello
    (b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n", 404),
    (b"GET /metrics HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
]


def test_bad_requests_get_4xx_and_harm_nothing(broker):
    b, hp = ops_broker(broker)
    for raw, want in BAD:
        st, hd, _ = http(hp, raw)
        assert st == want, (raw[:40], st)
        if want == 405:
            assert hd["allow"] == "GET, HEAD"
    # Still serving, MQTT untouched, every refusal counted.
    h.mqtt_pub(b.port, "still/up", "x", qos=1)
    body = get(hp, "/metrics")[2]
    assert metric(body, "tern_http_bad_requests_total", {"listener": "127.0.0.1:%d" % hp}) == 9
    assert metric(body, "tern_messages_received_total", {"protocol": "mqtt", "qos": "1"}) == 1


def test_slow_request_times_out_with_408(broker):
    b, hp = ops_broker(broker)
    s = socket.create_connection(("127.0.0.1", hp), timeout=10)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHo")
        t0 = time.monotonic()
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        took = time.monotonic() - t0
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert 4.0 < took < 8.0
    assert get(hp, "/healthz")[0] == 200
    assert metric(get(hp, "/metrics")[2], "tern_http_timeouts_total") == 1


def test_too_many_connections_closed_at_accept(broker):
    b, hp = ops_broker(broker, http_extra="max_connections 2")
    # ops_broker's readiness probe (connect, close) may still hold a slot
    # until tern sees its EOF; a whole request answered and closed by tern
    # settles it (CI failed here once: a held connection was refused in
    # the probe's place and the third one answered).
    assert get(hp, "/healthz")[0] == 200
    held = [socket.create_connection(("127.0.0.1", hp), timeout=5) for _ in range(2)]
    try:
        third = socket.create_connection(("127.0.0.1", hp), timeout=5)
        try:
            third.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert third.recv(100) == b""  # closed without an answer
        except ConnectionResetError:
            pass
        finally:
            third.close()
    finally:
        for s in held:
            s.close()
    body = h.wait_until(lambda: (lambda r: r[2] if r[0] == 200 else None)(get(hp, "/metrics")))
    assert metric(body, "tern_http_connections_refused_total") >= 1


def make_passwd(tmp_path):
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "prom", "scrape-me"], check=True,
                   timeout=10, stdin=subprocess.DEVNULL)
    return path


def test_basic_auth_against_password_file(broker, tmp_path):
    pw = make_passwd(tmp_path)
    b, hp = ops_broker(broker, extra="password_file %s\nallow_anonymous true" % pw,
                       http_extra="http_basic_auth true")
    st, hd, _ = get(hp, "/metrics")
    assert st == 401
    assert hd["www-authenticate"].startswith("Basic realm=")
    import base64
    good = base64.b64encode(b"prom:scrape-me")
    bad = base64.b64encode(b"prom:wrong")
    assert get(hp, "/metrics", b"Authorization: Basic " + bad + b"\r\n")[0] == 401
    assert get(hp, "/api/v1/status", b"Authorization: Basic " + bad + b"\r\n")[0] == 401
    assert get(hp, "/metrics", b"Authorization: Basic !!!\r\n")[0] == 401
    assert get(hp, "/metrics", b"Authorization: Bearer " + good + b"\r\n")[0] == 401
    st, _, body = get(hp, "/metrics", b"Authorization: basic " + good + b"\r\n")
    assert st == 200 and metric(body, "tern_build_info") == 1
    assert get(hp, "/api/v1/status", b"Authorization: Basic " + good + b"\r\n")[0] == 200
    # Probes need no credentials.
    assert get(hp, "/healthz")[0] == 200
    assert get(hp, "/readyz")[0] == 200
    b.wait_log(r"ops: listener=127\.0\.0\.1:%d /metrics: missing or wrong credentials" % hp)


def test_basic_auth_needs_password_file(tmp_path):
    conf = tmp_path / "t.conf"
    conf.write_text("listener %d 127.0.0.1\nprotocol http\nhttp_basic_auth true\n"
                    % h.free_port())
    r = subprocess.run([h.broker_bin(), "--check-config", "-c", str(conf)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode != 0
    assert b"http_basic_auth true needs a password_file" in r.stdout


def test_http_and_mqtt_cannot_share_a_port(tmp_path):
    p = h.free_port()
    conf = tmp_path / "t.conf"
    conf.write_text("listener %d 127.0.0.1\nlistener %d 127.0.0.1\nprotocol http\n" % (p, p))
    r = subprocess.run([h.broker_bin(), "--check-config", "-c", str(conf)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    assert r.returncode != 0 and b"conflicts with the listener" in r.stdout


def test_mqttsn_and_bridge_figures(broker):
    """MQTT-SN traffic moves the mqttsn counters; a bridge whose upstream is
    down shows its state and a growing backlog."""
    up = h.free_port()  # nothing listens there
    snp = sn.free_udp_port()
    extra = ("listener %d 127.0.0.1\nprotocol mqttsn\n"
             "connection cloud\naddress 127.0.0.1:%d\nrestart_timeout 30\n"
             "topic sensors/# out 1\n" % (snp, up))
    b, hp = ops_broker(broker, extra=extra)
    c = sn.SNClient(snp, client_id="sn-ops")
    try:
        h.wait_until(lambda: c.send(sn.SEARCHGW, b"\x00") or c.recv_any(0.2),
                     msg="GWINFO")
        assert c.connect()["rc"] == sn.RC_ACCEPTED
        tid = c.register("sensors/t1")["topic_id"]
        assert c.publish(tid, "21.5", qos=1)["rc"] == sn.RC_ACCEPTED
        c.publish(tid, "21.6", qos=0)
        body = h.wait_until(lambda: (lambda x: x if metric(
            x, "tern_bridge_backlog_messages", {"bridge": "cloud"}) == 1 else None)(
            get(hp, "/metrics")[2]), msg="backlog of 1 (QoS 0 is not queued)")
        promtool_check(body)
        lst = {"listener": "127.0.0.1:%d" % snp, "transport": "udp"}
        assert metric(body, "tern_mqttsn_clients", lst) == 1
        assert metric(body, "tern_mqttsn_sleeping_clients", lst) == 0
        assert metric(body, "tern_messages_received_total",
                      {"protocol": "mqttsn", "qos": "1"}) == 1
        assert metric(body, "tern_messages_received_total",
                      {"protocol": "mqttsn", "qos": "0"}) == 1
        assert metric(body, "tern_connections", {"protocol": "mqttsn"}) == 1
        assert metric(body, "tern_bridge_up", {"bridge": "cloud"}) == 0
        assert metric(body, "tern_bridge_state",
                      {"bridge": "cloud", "state": "connected"}) == 0
        assert metric(body, "tern_bridge_backlog_bytes", {"bridge": "cloud"}) == 4
        c.send_raw(b"\x05\x0c")  # malformed: says 5 bytes, has 2
        h.wait_until(lambda: metric(get(hp, "/metrics")[2], "tern_mqttsn_malformed_total",
                                    lst) == 1, msg="malformed datagram counted")
        c.sleep(60)
        h.wait_until(lambda: metric(get(hp, "/metrics")[2], "tern_mqttsn_sleeping_clients",
                                    lst) == 1, msg="sleeper counted")
        doc = json.loads(get(hp, "/api/v1/status")[2])
        br = doc["bridges"][0]
        assert (br["name"], br["backlog_messages"]) == ("cloud", 1)
        assert br["state"] in ("disconnected", "connecting")
        snl = [x for x in doc["listeners"] if x["protocol"] == "mqttsn"][0]
        assert (snl["clients"], snl["sleeping"]) == (1, 1)
    finally:
        c.close()


def test_mqttsn_serial_framing_and_crc_errors_in_metrics(broker, tmp_path):
    """Per MQTT-SN transport: clients, framing and CRC errors of a serial
    port, octets both ways, and the hardening counters (issue 14 asks for
    them; the serial transport came with issue 13)."""
    import serial_link as sl
    import sn_client as sn
    link = sl.SerialLink(tmp_path, "radio", "slip", 2)
    try:
        b, hp = ops_broker(broker, extra="mqttsn_serial %s\nmqttsn_serial_framing slip\n"
                           % link.path)
        b.wait_log(r"port=%s open" % link.path.replace(".", r"\."))
        c = sn.SNClient(0, client_id="m-node", timeout=5, sock=link.sock())
        c.connect()
        c.ping()
        bad = bytearray(sl.slip_encode(sn.frame(sn.PINGREQ)))
        bad[2] ^= 0x40
        link.write(bytes(bad))                       # one CRC error
        link.write(b"\xc0\x02\xdb\x01\x16\xc0")      # one framing error (bad escape)
        c.ping()
        lab = {"transport": "serial"}
        h.wait_until(lambda: metric(get(hp, "/metrics")[2], "tern_mqttsn_crc_errors_total",
                                    lab) == 1, timeout=10, msg="the CRC error counted")
        body = get(hp, "/metrics")[2]
        promtool_check(body)
        assert metric(body, "tern_mqttsn_framing_errors_total", lab) == 1
        assert metric(body, "tern_mqttsn_clients", lab) == 1
        assert metric(body, "tern_mqttsn_serial_received_bytes_total", lab) > 20
        assert metric(body, "tern_mqttsn_serial_sent_bytes_total", lab) > 0
        assert metric(body, "tern_mqttsn_connects_refused_total", lab) == 0
    finally:
        link.close()


def test_basic_auth_failures_back_off_per_address(broker, tmp_path):
    """Guessing the /metrics password: the failed-login back-off of the
    MQTT listeners applies here too. After 3
    free failures an address waits (even a right password is refused
    meanwhile, without a check); another address is not affected."""
    import base64
    pw = make_passwd(tmp_path)
    b, hp = ops_broker(broker, extra="password_file %s\nallow_anonymous true\n"
                       "auth_backoff_max 2" % pw, http_extra="http_basic_auth true")
    good = b"Authorization: Basic " + base64.b64encode(b"prom:scrape-me") + b"\r\n"
    bad = b"Authorization: Basic " + base64.b64encode(b"prom:guess") + b"\r\n"
    for _ in range(4):
        assert get(hp, "/metrics", bad)[0] == 401
    assert get(hp, "/metrics", good)[0] == 401           # waiting: refused unchecked
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", hp))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n" + good + b"\r\n")
    assert s.recv(12) == b"HTTP/1.1 200"
    s.close()
    time.sleep(1.1)
    assert get(hp, "/metrics", good)[0] == 200


def test_basic_auth_check_does_not_stall_the_loop(broker, tmp_path, raw):
    """The /metrics password check ran PBKDF2 on the event loop: one
    scrape with a slow hash stalled every MQTT client for the whole check.
    It now runs on the auth worker and the reply waits for it: while four
    checks run, a client's PING round trips stay far below one check's
    time, and the answers are still right (401 / 200)."""
    import base64
    from test_hostile import pbkdf2_line
    pw = tmp_path / "passwd"
    pw.write_text(pbkdf2_line("prom", "scrape-me", 200000))
    b, hp = ops_broker(broker, extra="password_file %s\nallow_anonymous true\n"
                       "auth_backoff_max 0" % pw, http_extra="http_basic_auth true")
    good = b"Authorization: Basic " + base64.b64encode(b"prom:scrape-me") + b"\r\n"
    t0 = time.monotonic()
    assert get(hp, "/metrics", good)[0] == 200
    one_check = time.monotonic() - t0
    bystander = raw(b, timeout=30)
    bystander.connect("bystander")
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(get(hp, "/metrics", (
        b"Authorization: Basic " + base64.b64encode(b"prom:wrong%d" % i) + b"\r\n"))[0]))
        for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    worst = 0.0
    t_end = time.monotonic() + 2 * one_check
    while time.monotonic() < t_end:
        t1 = time.monotonic()
        bystander.send(h.pingreq_packet())
        bystander.expect(h.PINGRESP, timeout=30)
        worst = max(worst, time.monotonic() - t1)
    for t in threads:
        t.join(60)
    assert results == [401] * 4
    assert worst < one_check / 4, "a ping took %.3f s; one check takes %.3f s" % (
        worst, one_check)
    # The verified value is remembered: no second check for the same scraper.
    t1 = time.monotonic()
    assert get(hp, "/metrics", good)[0] == 200
    assert time.monotonic() - t1 < one_check / 2


def test_basic_auth_request_closed_while_checked(broker, tmp_path):
    """A scraper that sends its request and goes away while the check runs
    leaves nothing behind: the check's answer finds no connection, and the
    next request is served."""
    import base64
    from test_hostile import pbkdf2_line
    pw = tmp_path / "passwd"
    pw.write_text(pbkdf2_line("prom", "scrape-me", 200000))
    b, hp = ops_broker(broker, extra="password_file %s\nallow_anonymous true\n"
                       "auth_backoff_max 0" % pw, http_extra="http_basic_auth true")
    good = b"Authorization: Basic " + base64.b64encode(b"prom:scrape-me") + b"\r\n"
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", hp), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n" + good + b"\r\n")
        s.close()
    time.sleep(1.0)
    assert get(hp, "/metrics", good)[0] == 200
    assert get(hp, "/healthz")[0] == 200


def test_basic_auth_check_slower_than_the_request_timeout_gets_503(broker, tmp_path):
    """Checks run one at a time on the worker: twelve scrapes with a
    million-round hash queue up past the 5 s request timeout. Each one
    still gets an answer (401, or 503 with Retry-After for those whose
    check could not finish in time), none is closed unanswered."""
    import base64
    from test_hostile import pbkdf2_line
    pw = tmp_path / "passwd"
    pw.write_text(pbkdf2_line("prom", "scrape-me", 1000000))
    b, hp = ops_broker(broker, extra="password_file %s\nallow_anonymous true\n"
                       "auth_backoff_max 0" % pw, http_extra="http_basic_auth true")
    results = []

    def scrape(i):
        st, hd, _ = get(hp, "/metrics", b"Authorization: Basic " +
                        base64.b64encode(b"prom:wrong%d" % i) + b"\r\n")
        results.append((st, hd.get("retry-after")))

    threads = [threading.Thread(target=scrape, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 12
    assert all(st == 401 or (st == 503 and ra == "1") for st, ra in results), results
    assert any(st == 503 for st, _ in results), results
    assert get(hp, "/healthz")[0] == 200
