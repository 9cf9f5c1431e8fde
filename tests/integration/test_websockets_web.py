"""MQTT.js over WebSockets (issue 12): under node, and in a real browser
(headless Chromium loading tests/web/page.html with MQTT.js's browser
bundle). Both run tests/web/roundtrip.js: subscribe, say ready, receive
the test's QoS 1 message, report what was received (with MQTT 5, also
the user properties of a message to itself). The test asserts the
report, which comes back over MQTT to a TCP subscriber, so what the
client received is checked byte for byte.

Needs node with tests/web/node_modules (`npm ci --prefix tests/web`;
`bash .ci/tern.sh test` runs it) and the Debian package chromium."""

import base64
import hashlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import uuid

import pytest

import tern_harness as h
import ws_helpers as w

pytestmark = pytest.mark.tern_only

WEB = os.path.normpath(os.path.join(h.HERE, "..", "web"))


def need_web():
    assert shutil.which("node"), "node missing (nodejs; bash .ci/tern.sh test installs it)"
    assert os.path.isdir(os.path.join(WEB, "node_modules", "mqtt")), (
        "MQTT.js missing: run npm ci --prefix tests/web (bash .ci/tern.sh test does)")


def roundtrip(b, launch, timeout=60):
    """Run one client (launch(url, id) -> Popen) against b; return its report."""
    rid = uuid.uuid4().hex[:10]
    url = "%s://127.0.0.1:%d/mqtt" % (b.scheme, b.ws_port)
    tcp = h.PahoClient(b.port)
    proc = None
    try:
        tcp.subscribe("web/report/%s/#" % rid, 1)
        proc = launch(url, rid)
        try:
            m = tcp.get(timeout=timeout)
        except AssertionError:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            raise AssertionError("no report from the client; its output:\n%s\n%s"
                                 % (out[-3000:], err[-3000:]))
        assert m.topic.endswith("/ready"), (m.topic, m.payload)
        nonce = "hello-" + uuid.uuid4().hex
        tcp.publish("web/in/%s" % rid, nonce.encode(), 1)
        m = tcp.get(timeout=20)
        assert m.topic == "web/report/%s/got" % rid, (m.topic, m.payload)
        report = json.loads(m.payload)
        assert report["payload"] == nonce
        assert report["topic"] == "web/in/%s" % rid
        assert report["qos"] == 1
        # The client ends with DISCONNECT and a WebSocket close.
        b.wait_log(r'client="mqttjs-%s" peer=127\.0\.0\.1:\d+ disconnected: DISCONNECT' % rid,
                   timeout=15)
        return report
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        tcp.close()


def check_v5(report, version):
    if version == 5:
        assert report["self_props"]["userProperties"] == {"from": "mqttjs"}
        assert report["self_props"]["contentType"] == "text/plain"


@pytest.mark.parametrize("scheme", w.SCHEMES)
@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_node(broker, scheme, version):
    need_web()
    b = w.ws_broker(broker, scheme)

    def launch(url, rid):
        # wss: the test CA is trusted, nothing else is (no verification off).
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=os.path.join(w.pki(), "ca.pem"))
        return subprocess.Popen(["node", os.path.join(WEB, "node_client.js"), url,
                                 str(version), rid], cwd=WEB, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    check_v5(roundtrip(b, launch), version)


def spki_hash(cert):
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate."""
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", cert], check=True,
                         stdout=subprocess.PIPE, timeout=10).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, stdout=subprocess.PIPE, timeout=10).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    raise AssertionError("chromium missing (Debian package chromium; bash .ci/tern.sh test "
                         "installs it)")


@pytest.mark.parametrize("scheme", w.SCHEMES)
@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_in_headless_chromium(broker, scheme, version, tmp_path):
    need_web()
    binp = chromium()
    b = w.ws_broker(broker, scheme)
    profile = tempfile.mkdtemp(dir=str(tmp_path), prefix="chromium-")

    def launch(url, rid):
        page = "file://%s/page.html?url=%s&v=%d&id=%s" % (WEB, url, version, rid)
        args = [binp, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--user-data-dir=" + profile]
        if scheme == "wss":
            # Trust exactly the test server's key (Chromium has no flag for
            # an extra CA; this pins the certificate's SPKI instead).
            args.append("--ignore-certificate-errors-spki-list=" + spki_hash(
                os.path.join(w.pki(), "server.pem")))
        env = dict(os.environ, HOME=profile)
        return subprocess.Popen(args + [page], env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    check_v5(roundtrip(b, launch, timeout=90), version)
