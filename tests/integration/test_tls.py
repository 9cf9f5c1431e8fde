"""TLS listeners (gateway/stream/stream_tls.c, gateway/mqtt/lsn_tls.c) with
real clients: mosquitto_pub/sub with --cafile, --cert/--key, --psk; paho over
TLS; python's ssl module where a test needs to see the server certificate
or hold a handshake half done. Certificates are made at run time with the
openssl CLI (tls_certs.py). Every refusal must leave a log line saying why.
"""

import os
import shutil
import signal
import socket
import ssl
import time

import pytest

import tern_harness as h
import tls_certs

pytestmark = pytest.mark.tern_only

PSK_KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return tls_certs.make_pki(str(tmp_path_factory.mktemp("pki")))


def p(pki, name):
    return os.path.join(pki, name)


def tls_conf(pki, extra=""):
    return "certfile %s\nkeyfile %s\n%s" % (p(pki, "server.pem"), p(pki, "server.key"), extra)


def mtls_conf(pki, extra=""):
    return tls_conf(pki, "cafile %s\nrequire_certificate true\n%s" % (p(pki, "ca.pem"), extra))


def client_args(pki, cert=None, ca="ca.pem"):
    args = ["--cafile", p(pki, ca)]
    if cert:
        args += ["--cert", p(pki, cert + ".pem"), "--key", p(pki, cert + ".key")]
    return args


def pub(b, topic, msg, extra, check=True, qos=0):
    # -h localhost: the server certificate names localhost and 127.0.0.1
    return h.mqtt_pub(b.port, topic, msg, qos=qos, extra=extra, check=check, host="localhost")


def test_tls_mosquitto_pub_sub_with_cafile(broker, pki):
    b = broker(tls_conf(pki))
    sub = h.SubProc(b.port, "t/#", host="localhost", extra=client_args(pki))
    try:
        sub.wait_subscribed()
        pub(b, "t/1", "over tls", client_args(pki), qos=1)
        msgs = sub.wait_messages(1)
        assert msgs[0][:2] == ("t/1", "over tls")
    finally:
        sub.close()
    assert "listening on 127.0.0.1:%d (mqtt over TLS)" % b.port in b.log()


def test_tls_paho_round_trip(broker, pki):
    b = broker(tls_conf(pki))
    c = h.PahoClient(b.port, host="localhost", tls={"ca_certs": p(pki, "ca.pem")})
    try:
        c.subscribe("paho/t", qos=1)
        c.publish("paho/t", b"x" * 50000, qos=1)  # several records
        m = c.get()
        assert m.payload == b"x" * 50000
    finally:
        c.close()


def test_tls_wrong_ca_refused_with_log_line(broker, pki):
    b = broker(tls_conf(pki))
    r = pub(b, "t", "x", client_args(pki, ca="other-ca.pem"), check=False)
    assert r.returncode != 0
    b.wait_log(r"TLS handshake failed: .*alert 48: unknown_ca")


def test_mtls_client_certificate_accepted(broker, pki):
    b = broker(mtls_conf(pki))
    r = pub(b, "t", "x", client_args(pki, "alice"))
    assert r.returncode == 0


def test_mtls_missing_certificate_refused(broker, pki):
    b = broker(mtls_conf(pki))
    r = pub(b, "t", "x", client_args(pki), check=False)
    assert r.returncode != 0
    b.wait_log(r"TLS handshake failed: .*No client certification received")


def test_mtls_expired_certificate_refused(broker, pki):
    b = broker(mtls_conf(pki))
    r = pub(b, "t", "x", client_args(pki, "expired"), check=False)
    assert r.returncode != 0
    b.wait_log(r"certificate verify failed: The certificate validity has expired")


def test_mtls_revoked_certificate_refused_by_crl(broker, pki):
    b = broker(mtls_conf(pki, "crlfile %s\n" % p(pki, "crl.pem")))
    r = pub(b, "t", "x", client_args(pki, "revoked"), check=False)
    assert r.returncode != 0
    b.wait_log(r"certificate verify failed: The certificate has been revoked \(is on a CRL\)")
    # the CRL does not touch the others
    assert pub(b, "t", "x", client_args(pki, "alice")).returncode == 0


def test_identity_as_username_applies_acl_user_blocks(broker, pki, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite alice/#\n\nuser bob\ntopic read #\n")
    b = broker(mtls_conf(pki, "use_identity_as_username true\nacl_file %s\n" % acl),
               allow_anonymous=False)
    sub = h.SubProc(b.port, "#", host="localhost", extra=client_args(pki, "bob"))
    try:
        sub.wait_subscribed()
        # alice's own topic: allowed, even though she claims to be bob
        pub(b, "alice/a", "mine", client_args(pki, "alice") + ["-u", "bob", "-P", "x"])
        # another topic: denied (3.1.1 drops it silently)
        pub(b, "bob/a", "not mine", client_args(pki, "alice"))
        pub(b, "alice/end", "end", client_args(pki, "alice"))
        msgs = sub.wait_messages(2)
        time.sleep(0.2)
        assert [m[:2] for m in sub.msgs] == [("alice/a", "mine"), ("alice/end", "end")]
    finally:
        sub.close()


def test_subject_as_username(broker, pki, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("user CN=alice\ntopic readwrite #\n")
    b = broker(mtls_conf(pki, "use_subject_as_username true\nacl_file %s\n" % acl),
               allow_anonymous=False)
    c = h.PahoClient(b.port, host="localhost",
                     tls={"ca_certs": p(pki, "ca.pem"), "certfile": p(pki, "alice.pem"),
                          "keyfile": p(pki, "alice.key")})
    try:
        c.subscribe("s/t")
        c.publish("s/t", b"subject", qos=1)
        assert c.get().payload == b"subject"
    finally:
        c.close()
    # bob's subject has no ACL rule: connected, but nothing allowed
    c = h.PahoClient(b.port, host="localhost",
                     tls={"ca_certs": p(pki, "ca.pem"), "certfile": p(pki, "bob.pem"),
                          "keyfile": p(pki, "bob.key")})
    try:
        c.subscribe("s/t")
        c.publish("s/t", b"x", qos=0)
        c.no_message(0.4)
    finally:
        c.close()


def psk_broker(broker, tmp_path, extra=""):
    f = tmp_path / "psk.txt"
    f.write_text("# device keys\ndev1:%s\ndev2:%s\n" % (PSK_KEY, "ff" * 16))
    return broker("psk_hint tern\npsk_file %s\n%s" % (f, extra), allow_anonymous=False)


def test_psk_mosquitto_clients(broker, tmp_path):
    b = psk_broker(broker, tmp_path)
    psk = ["--psk", PSK_KEY, "--psk-identity", "dev1"]
    sub = h.SubProc(b.port, "psk/#", extra=psk)
    try:
        sub.wait_subscribed()
        h.mqtt_pub(b.port, "psk/a", "keyed", qos=1, extra=psk)
        assert sub.wait_messages(1)[0][:2] == ("psk/a", "keyed")
    finally:
        sub.close()


def test_psk_wrong_key_and_unknown_identity_refused(broker, tmp_path):
    b = psk_broker(broker, tmp_path)
    r = h.mqtt_pub(b.port, "t", "x", extra=["--psk", "ab" * 16, "--psk-identity", "dev1"],
                   check=False)
    assert r.returncode != 0
    b.wait_log(r'TLS handshake failed: .*wrong PSK for identity "dev1"')
    r = h.mqtt_pub(b.port, "t", "x", extra=["--psk", PSK_KEY, "--psk-identity", "nobody"],
                   check=False)
    assert r.returncode != 0
    b.wait_log(r"TLS handshake failed: SSL - Unknown identity received")


def test_psk_identity_is_the_acl_username(broker, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("user dev1\ntopic readwrite dev1/#\n\nuser dev2\ntopic read #\n")
    b = psk_broker(broker, tmp_path, "acl_file %s\n" % acl)
    sub = h.SubProc(b.port, "#", extra=["--psk", "ff" * 16, "--psk-identity", "dev2"])
    try:
        sub.wait_subscribed()
        d1 = ["--psk", PSK_KEY, "--psk-identity", "dev1"]
        h.mqtt_pub(b.port, "dev2/x", "denied", extra=d1 + ["-u", "dev2"])
        h.mqtt_pub(b.port, "dev1/x", "allowed", extra=d1)
        sub.wait_messages(1)
        time.sleep(0.2)
        assert [m[:2] for m in sub.msgs] == [("dev1/x", "allowed")]
    finally:
        sub.close()


def server_cert_der(port):
    """The certificate a new TLS client sees."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def pem_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_rotation_on_sighup_keeps_clients(broker, pki, tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    shutil.copy(p(pki, "server.pem"), cert)
    shutil.copy(p(pki, "server.key"), key)
    b = broker("certfile %s\nkeyfile %s\n" % (cert, key))
    c = h.PahoClient(b.port, host="localhost", tls={"ca_certs": p(pki, "ca.pem")})
    try:
        c.subscribe("rot/t", qos=1)
        assert server_cert_der(b.port) == pem_der(p(pki, "server.pem"))
        # a broken new file: the old certificate stays, with a reason
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        b.signal(signal.SIGHUP)
        b.wait_log(r"TLS files not reloaded, keeping the running ones: certfile %s" % cert)
        assert server_cert_der(b.port) == pem_der(p(pki, "server.pem"))
        # the rotated pair: new clients see it, the connected one goes on
        shutil.copy(p(pki, "server2.pem"), cert)
        shutil.copy(p(pki, "server2.key"), key)
        b.signal(signal.SIGHUP)
        b.wait_log(r"TLS certificates, keys, CRL and PSKs re-read")
        assert server_cert_der(b.port) == pem_der(p(pki, "server2.pem"))
        c.publish("rot/t", b"still here", qos=1)
        assert c.get().payload == b"still here"
        c2 = h.PahoClient(b.port, host="localhost", tls={"ca_certs": p(pki, "ca.pem")})
        c2.publish("rot/t", b"new client", qos=1)
        assert c.get().payload == b"new client"
        c2.close()
    finally:
        c.close()


def test_stalled_handshakes_do_not_delay_others(broker, pki):
    b = broker(tls_conf(pki))
    stalled = []
    try:
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
            # a ClientHello record header promising 512 bytes, then silence
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            stalled.append(s)
        c = h.PahoClient(b.port, host="localhost", tls={"ca_certs": p(pki, "ca.pem")})
        try:
            c.subscribe("rt/t")
            worst = 0.0
            for i in range(20):
                t0 = time.monotonic()
                c.publish("rt/t", b"%d" % i)
                assert c.get().payload == b"%d" % i
                worst = max(worst, time.monotonic() - t0)
            assert worst < 0.2, "round trip took %.3fs with stalled handshakes" % worst
        finally:
            c.close()
    finally:
        for s in stalled:
            s.close()


def test_missing_certfile_stops_startup_naming_it(tmp_path, pki):
    conf = tmp_path / "t.conf"
    conf.write_text("persistence false\nlistener %d 127.0.0.1\ncertfile %s/nope.pem\nkeyfile %s\n"
                    % (h.free_port(), tmp_path, p(pki, "server.key")))
    import subprocess
    r = subprocess.run([h.broker_bin(), "-c", str(conf)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10,
                       cwd=str(tmp_path))
    assert r.returncode != 0
    assert ("certfile %s/nope.pem: No such file or directory" % tmp_path) in r.stdout.decode()


def test_ciphers_option(broker, pki, tmp_path):
    b = broker(tls_conf(pki, "ciphers TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"))
    ctx = ssl.create_default_context(cafile=p(pki, "ca.pem"))
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            assert t.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"


def test_bridge_psk_to_a_psk_listener(broker, tmp_path):
    """bridge_identity / bridge_psk: the uplink speaks TLS-PSK (no CA), and
    the upstream's ACL sees the PSK identity as the username."""
    acl = tmp_path / "acl"
    acl.write_text("user dev1\ntopic readwrite gw/#\n")
    up = psk_broker(broker, tmp_path, "acl_file %s\n" % acl)
    watcher_key = ["--psk", PSK_KEY, "--psk-identity", "dev1"]
    sub = h.SubProc(up.port, "gw/#", qos=1, extra=watcher_key)
    try:
        sub.wait_subscribed()
        tern = broker("connection up\naddress 127.0.0.1:%d\nrestart_timeout 1\n"
                      "topic # out 1 \"\" gw/\nbridge_identity dev1\nbridge_psk %s\n"
                      % (up.port, PSK_KEY))
        tern.wait_log(r"bridge: up: connected to", 15)
        h.mqtt_pub(tern.port, "t1", "via psk", qos=1)
        assert sub.wait_messages(1, timeout=10)[0][:2] == ("gw/t1", "via psk")
    finally:
        sub.close()
    assert "TLS-ECDHE-PSK" in up.log() or "TLS-PSK" in up.log()


def test_concurrent_handshakes_all_complete(broker, pki):
    """60 handshakes at once, all on the handshake worker: each one comes
    back to the loop and gets its CONNACK (no stall until the CONNECT
    timeout), and a connected client's round trip goes on meanwhile."""
    import threading
    b = broker(tls_conf(pki))
    ctx = ssl.create_default_context(cafile=p(pki, "ca.pem"))
    ok = []
    errors = []
    barrier = threading.Barrier(60)

    def one():
        try:
            s = socket.create_connection(("127.0.0.1", b.port), timeout=8)
            barrier.wait(5)
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(h.connect_packet("hs-%d" % threading.get_ident()))
                ok.append(t.recv(4)[:1] == b"\x20")  # CONNACK
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    c = h.PahoClient(b.port, host="localhost", tls={"ca_certs": p(pki, "ca.pem")})
    try:
        c.subscribe("hs/t")
        threads = [threading.Thread(target=one) for _ in range(60)]
        for t in threads:
            t.start()
        for i in range(10):
            c.publish("hs/t", b"%d" % i)
            assert c.get(5).payload == b"%d" % i
        for t in threads:
            t.join(15)
    finally:
        c.close()
    assert not errors, errors[:3]
    assert len(ok) == 60 and all(ok)


def test_check_config_reads_tls_files(tmp_path, pki):
    import subprocess
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    good = tmp_path / "good.conf"
    good.write_text("listener %d 127.0.0.1\n%s" % (h.free_port(), tls_conf(pki)))
    bad = tmp_path / "bad.conf"
    bad.write_text("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n"
                   % (h.free_port(), garbage, p(pki, "server.key")))
    for conf, rc in ((good, 0), (bad, 1)):
        r = subprocess.run([h.broker_bin(), "-c", str(conf), "--check-config"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10, cwd=str(tmp_path))
        assert r.returncode == rc, r.stdout.decode()
    out = r.stdout.decode()
    assert "bad.conf:1: TLS: certfile %s: X509 - " % garbage in out, out
