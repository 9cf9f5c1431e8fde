"""A real mosquitto as the upstream broker of bridge tests, and test PKI.

The upstream is always the system mosquitto (Debian package), whatever
broker is under test: it stands for the cloud broker a gateway bridges to.
It listens on 127.0.0.1 on a port the test picked, optionally with TLS, and
is stopped at teardown by the `upstream` fixture (conftest.py).
"""

import os
import signal
import subprocess

import tern_harness as h

MOSQUITTO = "/usr/sbin/mosquitto"


class Upstream:
    def __init__(self, tmp_path, name="upstream", port=None, persistence=False, tls=None,
                 extra=""):
        self.dir = os.path.join(str(tmp_path), name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or h.free_port()
        self.conf_path = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.persistence = persistence
        self.tls = tls  # dict: cafile, certfile, keyfile, require_certificate
        self.extra = extra
        self.proc = None
        self._log = None
        self.write_config()

    def write_config(self):
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true",
                 "log_dest stderr", "log_type all", "max_queued_messages 0",
                 "max_inflight_messages 0"]
        if self.tls:
            lines += ["cafile %s" % self.tls["cafile"], "certfile %s" % self.tls["certfile"],
                      "keyfile %s" % self.tls["keyfile"]]
            if self.tls.get("require_certificate"):
                lines.append("require_certificate true")
        if self.persistence:
            lines += ["persistence true", "persistence_location %s/" % self.dir,
                      "autosave_interval 1"]
        if os.geteuid() == 0:
            lines.append("user root")
        if self.extra:
            lines.append(self.extra)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10.0):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf_path], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        h.wait_until(lambda: self.proc.poll() is not None or h.port_accepts(self.port),
                     timeout, msg="upstream mosquitto on port %d" % self.port)
        if self.proc.poll() is not None:
            raise AssertionError("upstream mosquitto exited: %s" % self.log())
        return self

    def stop(self):
        """SIGTERM (mosquitto saves its persistence file on the way out)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        self._log.close()
        self._log = None

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def make_pki(directory):
    """A test CA with a server certificate (localhost, 127.0.0.1) and a
    client certificate, plus an unrelated second CA. EC P-256 keys: quick to
    make, and mbedTLS and mosquitto both take them."""
    os.makedirs(directory, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "otherca"):
        _openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
                 "-subj", "/CN=Tern test %s" % ca, cwd=directory)
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, ext in (("server", "server.ext"), ("client", None)):
        _openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj",
                 "/CN=%s" % ("localhost" if name == "server" else "tern-bridge"), cwd=directory)
        args = ["x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2"]
        if ext:
            args += ["-extfile", ext]
        _openssl(*args, cwd=directory)
    return {n: os.path.join(directory, n) for n in
            ("ca.crt", "otherca.crt", "server.crt", "server.key", "client.crt", "client.key")}
