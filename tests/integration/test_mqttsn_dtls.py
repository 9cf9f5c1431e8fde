"""MQTT-SN over DTLS 1.2 (issue 12; mqttsn/sn_dtls.c, gateway/stream/
stream_dtls.c): the TLS options on a `protocol mqttsn` listener.

The MQTT-SN side is tests/integration/dtls_sn_client.c, an mbedTLS DTLS
client with its own MQTT-SN encoding (TERN_DTLS_CLIENT); the MQTT side is
mosquitto_pub / mosquitto_sub. openssl s_client -dtls1_2 -psk checks the
handshake with a second implementation. Certificates are made at run time
(tls_certs.py). Every refusal must leave a log line saying why.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import sn_client as sn
import svc_helpers as sh
import tern_harness as h
import tls_certs
from test_ops_http import get, metric

pytestmark = pytest.mark.tern_only

KEY1 = "00112233445566778899aabbccddeeff"
KEY2 = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"


def client_bin():
    path = os.environ.get("TERN_DTLS_CLIENT")
    if not path:
        build = os.environ.get("TERN_BUILD_DIR", os.path.join(sh.here("..", ".."), "build"))
        path = os.path.join(build, "tests", "integration", "tern_dtls_sn_client")
    if not os.path.exists(path):
        pytest.skip("tern_dtls_sn_client not built (%s)" % path)
    return path


def run_client(port, *args, timeout=20):
    """Run the DTLS client to its end; returns (exit code, stdout)."""
    r = subprocess.run([client_bin(), "--port", str(port)] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace")


def psk_args(identity="dev1", key=KEY1):
    return ["--psk-identity", identity, "--psk", key]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return tls_certs.make_pki(str(tmp_path_factory.mktemp("pki")))


def dtls_broker(broker, tmp_path, tls, extra="", allow_anonymous=True, http=False):
    """A broker with an MQTT-SN over DTLS listener (TLS options tls).
    Returns (broker, UDP port, http port or None)."""
    port = sn.free_udp_port()
    hp = h.free_port() if http else None
    conf = sh.sn_listener(port, tls)
    if hp:
        conf += "\nlistener %d 127.0.0.1\nprotocol http\n" % hp
    b = broker(conf + "\n" + extra, allow_anonymous=allow_anonymous)
    b.wait_log("MQTT-SN over DTLS 1.2")
    if hp:
        h.wait_until(lambda: h.port_accepts(hp), msg="http listener %d" % hp)
    return b, port, hp


def psk_tls(tmp_path):
    f = sh.write_file(tmp_path / "psk.txt", "# per-device keys\ndev1:%s\ndev2:%s\n" % (KEY1, KEY2))
    return "psk_hint tern\npsk_file %s\n" % f


def test_dtls_psk_publish_reaches_mqtt_subscriber(broker, tmp_path):
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path))
    sub = h.SubProc(b.port, "sensors/#", qos=1)
    try:
        sub.wait_subscribed()
        rc, out = run_client(port, "--id", "th-01", "--pub", "sensors/t", "21.5", "--qos", "1",
                             *psk_args())
        assert rc == 0, out
        assert "connack 0" in out and "puback 0" in out
        assert sub.wait_messages(1)[0][:2] == ("sensors/t", "21.5")
    finally:
        sub.close()
    b.wait_log('DTLS session established identity="dev1"')
    b.wait_log('new client connected from')
    assert '"th-01" (mqttsn, c1, k60, u)' in b.log()  # u: it has a username


def test_dtls_psk_subscribe_gets_mqtt_publish(broker, tmp_path):
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path))
    p = subprocess.Popen([client_bin(), "--port", str(port), "--id", "act-1", "--sub", "cmd/#",
                          "--qos", "1", "--count", "2"] + psk_args("dev2", KEY2),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        h.wait_until(lambda: 'subscribed "cmd/#"' in b.log(), timeout=10, msg="subscription")
        h.mqtt_pub(b.port, "cmd/valve", "open", qos=1)
        h.mqtt_pub(b.port, "cmd/fan", "off", qos=0)
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = out.decode(errors="replace")
    assert p.returncode == 0, out
    assert "msg cmd/valve open" in out and "msg cmd/fan off" in out


def test_dtls_wrong_psk_refused_with_log_line(broker, tmp_path):
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path))
    rc, out = run_client(port, "--id", "x", *psk_args("dev1", KEY2))
    assert rc == 2 and "handshake failed" in out, out
    b.wait_log('DTLS session refused: DTLS handshake failed: wrong PSK for identity "dev1"')
    assert "new client connected" not in b.log()


def test_dtls_unknown_identity_refused(broker, tmp_path):
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path))
    rc, out = run_client(port, "--id", "x", *psk_args("intruder", KEY1))
    assert rc == 2 and "handshake failed" in out, out
    b.wait_log('unknown PSK identity "intruder"')
    assert "new client connected" not in b.log()


def test_dtls_certificate_connect_identity_is_cn(broker, tmp_path, pki):
    p = lambda n: os.path.join(pki, n)  # noqa: E731
    tls = ("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n"
           "use_identity_as_username true\n" % (p("ca.pem"), p("server.pem"), p("server.key")))
    b, port, _ = dtls_broker(broker, tmp_path, tls)
    sub = h.SubProc(b.port, "c/#")
    try:
        sub.wait_subscribed()
        rc, out = run_client(port, "--id", "cert-1", "--cafile", p("ca.pem"), "--cert",
                             p("alice.pem"), "--key", p("alice.key"), "--pub", "c/x", "hi",
                             "--qos", "1")
        assert rc == 0, out
        assert sub.wait_messages(1)[0][:2] == ("c/x", "hi")
    finally:
        sub.close()
    b.wait_log('DTLS session established identity="alice"')
    # Without a client certificate: refused, with the reason in the log.
    rc, out = run_client(port, "--id", "cert-2", "--cafile", p("ca.pem"))
    assert rc == 2, out
    h.wait_until(lambda: b.log().count("DTLS session refused") >= 1, msg="refusal line")


def test_dtls_anonymous_certificate_client_refused_without_allow_anonymous(broker, tmp_path, pki):
    """Server certificate only: the client is not identified, so it is
    anonymous and allow_anonymous false refuses its CONNECT."""
    p = lambda n: os.path.join(pki, n)  # noqa: E731
    tls = "certfile %s\nkeyfile %s\n" % (p("server.pem"), p("server.key"))
    b, port, _ = dtls_broker(broker, tmp_path, tls, allow_anonymous=False)
    rc, out = run_client(port, "--id", "anon-1", "--cafile", p("ca.pem"))
    assert rc == 3 and "handshake ok" in out and "connack 3" in out, out
    b.wait_log("allow_anonymous false")


def test_dtls_psk_identity_is_the_username_for_acl(broker, tmp_path):
    """allow_anonymous false and an ACL user block: the PSK identity is
    the username, so dev1 may write dev1/# only."""
    pw = sh.make_password_file(tmp_path / "passwd", {"watch": "w-pw"})
    acl = sh.write_file(tmp_path / "acl", "user dev1\ntopic write dev1/#\n\n"
                        "user watch\ntopic read #\n")
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path),
                             "password_file %s\nacl_file %s\n" % (pw, acl),
                             allow_anonymous=False)
    sub = h.SubProc(b.port, "#", qos=1, extra=["-u", "watch", "-P", "w-pw"])
    try:
        sub.wait_subscribed()
        rc, out = run_client(port, "--id", "d1", "--pub", "other/x", "forbidden", "--qos", "1",
                             *psk_args())
        assert rc == 0 and "connack 0" in out, out
        rc, out = run_client(port, "--id", "d1", "--pub", "dev1/t", "allowed", "--qos", "1",
                             *psk_args())
        assert rc == 0 and "puback 0" in out, out
        msgs = sub.wait_messages(1)
        time.sleep(0.3)
        assert [m[:2] for m in sub.msgs] == [("dev1/t", "allowed")], msgs
    finally:
        sub.close()


def test_dtls_forwarder_session_carries_its_nodes(broker, tmp_path):
    """A forwarder (MQTT-SN 1.2 section 5.5) over DTLS: its nodes' messages
    come encapsulated through its session and the answers go back the same
    way, wrapped for the node."""
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path) + "mqttsn_forwarder 127.0.0.1\n")
    sub = h.SubProc(b.port, "fw/#", qos=1)
    try:
        sub.wait_subscribed()
        rc, out = run_client(port, "--id", "node-1", "--node", "0a0b", "--pub", "fw/t", "via",
                             "--qos", "1", *psk_args())
        assert rc == 0 and "puback 0" in out, out
        assert sub.wait_messages(1)[0][:2] == ("fw/t", "via")
    finally:
        sub.close()
    b.wait_log("/node=0a0b")


def test_dtls_new_device_on_the_same_address_ends_the_old_session(broker, tmp_path):
    """dev1 leaves without a word; dev2 then handshakes from the same
    address and port (RFC 6347 4.2.8, client port reuse). dev1's session
    ends and its client is dropped: dev2's datagrams never act for it."""
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path))
    lp = sn.free_udp_port()
    rc, out = run_client(port, "--id", "c-same", "--local-port", str(lp), "--abrupt",
                         *psk_args())
    assert rc == 0 and "connack 0" in out, out
    rc, out = run_client(port, "--id", "c-other", "--local-port", str(lp), "--pub", "o/t", "x",
                         "--qos", "1", *psk_args("dev2", KEY2))
    assert rc == 0 and "puback 0" in out, out
    b.wait_log('client="c-same" peer=127.0.0.1:%d disconnected: DTLS session ended' % lp)
    b.wait_log('DTLS session established identity="dev2"')


def test_dtls_sleeping_client_outlives_its_session_only_for_its_identity(broker, tmp_path):
    """A client asleep (MQTT-SN 1.2 section 6.14) whose DTLS session idles
    out stays asleep; it wakes through a new handshake with its identity
    and gets what was kept. Another identity from the same address and
    port never wakes it: the client is dropped instead."""
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path) + "mqttsn_idle_timeout 1\n")
    lp = str(sn.free_udp_port())
    rc, out = run_client(port, "--id", "sleepy", "--local-port", lp, "--sub", "s/#", "--qos", "1",
                         "--count", "0", "--sleep", "60", *psk_args())
    assert rc == 0 and "asleep" in out, out
    b.wait_log(r"DTLS session closed: idle \(mqttsn_idle_timeout\)", timeout=5)
    assert 'client="sleepy" peer=127.0.0.1:%s disconnected' % lp not in b.log()
    h.mqtt_pub(b.port, "s/a", "kept", qos=1)
    rc, out = run_client(port, "--id", "sleepy", "--local-port", lp, "--wake", *psk_args())
    assert rc == 0 and "msg s/a kept" in out and "pingresp" in out, out
    rc, out = run_client(port, "--id", "sleepy", "--local-port", lp, "--wake", "--timeout", "4",
                         *psk_args("dev2", KEY2))
    assert rc == 4, out
    b.wait_log('client="sleepy" peer=127.0.0.1:%s disconnected: another DTLS identity on its '
               'address' % lp)


def test_dtls_spoofed_client_hello_gets_only_a_cookie(broker, tmp_path):
    """A ClientHello without a cookie from a source that never answers
    (another loopback address) gets one HelloVerifyRequest, smaller than
    itself, and no session is kept: the metrics show cookies sent and no
    session. A plain MQTT-SN datagram gets nothing."""
    b, port, hp = dtls_broker(broker, tmp_path, psk_tls(tmp_path), http=True)
    hello = tmp_path / "hello.bin"
    rc, out = run_client(port, "--hello-out", str(hello), *psk_args())
    assert rc == 0 and "hello written" in out, out
    data = hello.read_bytes()
    assert data[0] == 22 and data[13] == 1  # handshake record, ClientHello
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.%d" % (2 + os.getpid() % 200), 0))
    s.settimeout(1.0)
    try:
        replies = []
        for _ in range(20):
            s.sendto(data, ("127.0.0.1", port))
            replies.append(s.recvfrom(4096)[0])
        for r in replies:
            # RFC 6347 4.2.1: handshake record, epoch 0, HelloVerifyRequest (3)
            assert r[0] == 22 and r[13] == 3, r[:16]
            assert len(r) < len(data)
        with pytest.raises(socket.timeout):
            s.recvfrom(4096)  # nothing but the cookies
        s.sendto(sn.frame(sn.SEARCHGW, b"\x00"), ("127.0.0.1", port))
        with pytest.raises(socket.timeout):
            s.recvfrom(4096)  # no clear-text answer
    finally:
        s.close()
    body = get(hp, "/metrics")[2]
    lab = {"listener": "127.0.0.1:%d" % port}
    assert metric(body, "tern_mqttsn_dtls_cookies_sent_total", lab) >= 20
    assert metric(body, "tern_mqttsn_dtls_sessions", lab) == 0
    assert metric(body, "tern_mqttsn_dtls_handshaking", lab) == 0
    # A real client still gets in, and then one session is counted.
    rc, out = run_client(port, "--id", "after", *psk_args())
    assert rc == 0, out
    body = get(hp, "/metrics")[2]
    assert metric(body, "tern_mqttsn_dtls_established_total", lab) == 1


def test_dtls_caps_and_handshake_timeout(broker, tmp_path):
    """mqttsn_max_clients 2 caps the sessions: two handshakes that stall
    hold both, a third ClientHello with a valid cookie is dropped at the
    cap (logged, counted). The stalled handshakes are given up after the
    retransmission rounds (about 31 s); then a client gets in."""
    b, port, hp = dtls_broker(broker, tmp_path, psk_tls(tmp_path) + "mqttsn_max_clients 2\n",
                              http=True)
    lab = {"listener": "127.0.0.1:%d" % port}
    for _ in range(2):
        rc, out = run_client(port, "--stall", *psk_args())
        assert rc == 0 and "stalled" in out, out
    body = get(hp, "/metrics")[2]
    assert metric(body, "tern_mqttsn_dtls_handshaking", lab) == 2
    rc, out = run_client(port, "--id", "third", "--timeout", "12", *psk_args())
    assert rc == 2, out
    b.wait_log("ClientHello dropped: at the cap of mqttsn_max_clients")
    assert metric(get(hp, "/metrics")[2], "tern_mqttsn_dtls_refused_total", lab) >= 1
    h.wait_until(lambda: b.log().count("DTLS handshake failed: timed out") == 2, timeout=45,
                 interval=0.5, msg="stalled handshakes given up")
    body = get(hp, "/metrics")[2]
    assert metric(body, "tern_mqttsn_dtls_sessions", lab) == 0
    rc, out = run_client(port, "--id", "fourth", *psk_args())
    assert rc == 0, out


def test_dtls_psk_file_reread_on_sighup_sessions_stay(broker, tmp_path):
    """SIGHUP re-reads psk_file: a new device gets in, a removed one no
    longer does, an open session stays up; a broken file keeps the
    running keys and says why."""
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path))
    p = subprocess.Popen([client_bin(), "--port", str(port), "--id", "stay", "--sub", "r/#",
                          "--count", "1", "--timeout", "30"] + psk_args("dev2", KEY2),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        h.wait_until(lambda: 'subscribed "r/#"' in b.log(), timeout=10, msg="subscription")
        rc, out = run_client(port, "--id", "new", *psk_args("dev3", KEY1))
        assert rc == 2, out  # not known yet
        sh.write_file(tmp_path / "psk.txt", "dev3:%s\n" % KEY1)
        b.signal(signal.SIGHUP)
        b.wait_log("DTLS certificates, keys, CRL and PSKs re-read")
        rc, out = run_client(port, "--id", "new", "--pub", "r/x", "after", *psk_args("dev3", KEY1))
        assert rc == 0, out
        out, _ = p.communicate(timeout=15)  # dev2's session outlived the reload
        assert p.returncode == 0 and "msg r/x after" in out.decode(), out
        rc, out = run_client(port, "--id", "old", *psk_args("dev2", KEY2))
        assert rc == 2, out  # removed from the file
        sh.write_file(tmp_path / "psk.txt", "dev3 no colon here\n")
        b.signal(signal.SIGHUP)
        b.wait_log("SIGHUP: DTLS files not reloaded, keeping the running ones")
        rc, out = run_client(port, "--id", "new", *psk_args("dev3", KEY1))
        assert rc == 0, out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_dtls_handshake_burst_all_get_in(broker, tmp_path):
    """24 devices handshake at once: the handshake CPU budget may put some
    off (they retransmit), but every one connects and publishes."""
    b, port, hp = dtls_broker(broker, tmp_path, psk_tls(tmp_path), http=True)
    n = 24
    sub = h.SubProc(b.port, "burst/#", qos=1)
    procs = []
    try:
        sub.wait_subscribed()
        for i in range(n):
            procs.append(subprocess.Popen(
                [client_bin(), "--port", str(port), "--id", "b%02d" % i, "--pub",
                 "burst/%d" % i, "m", "--qos", "1", "--timeout", "30"] + psk_args(),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        for pr in procs:
            out, _ = pr.communicate(timeout=40)
            assert pr.returncode == 0, out.decode(errors="replace")
        assert len(sub.wait_messages(n, timeout=10)) == n
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        sub.close()
    body = get(hp, "/metrics")[2]
    lab = {"listener": "127.0.0.1:%d" % port}
    assert metric(body, "tern_mqttsn_dtls_established_total", lab) == n
    deferred = metric(body, "tern_mqttsn_dtls_handshake_deferred_total", lab)
    assert deferred is not None
    print("handshake datagrams put off by the budget: %d" % deferred)


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl")
def test_openssl_s_client_dtls_psk_handshake(broker, tmp_path):
    """A second DTLS implementation completes the PSK handshake."""
    b, port, _ = dtls_broker(broker, tmp_path, psk_tls(tmp_path))
    p = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:%d" % port,
                          "-psk_identity", "dev2", "-psk", KEY2, "-quiet"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        b.wait_log('DTLS session established identity="dev2"', timeout=10)
    finally:
        p.kill()
        p.communicate(timeout=5)


def test_dtls_listener_refuses_missing_psk_file(tmp_path):
    """A psk_file that cannot be read stops startup with the path."""
    port = sn.free_udp_port()
    conf = tmp_path / "t.conf"
    conf.write_text("listener %d 127.0.0.1\nprotocol mqttsn\npsk_hint t\npsk_file %s\n"
                    % (port, tmp_path / "missing.txt"))
    r = subprocess.run([h.broker_bin(), "-c", str(conf)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20,
                       cwd=tmp_path)   # its default store (./tern-data) goes there
    assert r.returncode != 0
    assert "missing.txt" in r.stdout.decode(errors="replace")
