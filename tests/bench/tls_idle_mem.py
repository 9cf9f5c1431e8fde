#!/usr/bin/env python3
"""tls_idle_mem.py - resident memory of an idle TLS connection to Tern.

usage: tests/bench/tls_idle_mem.py BUILD_DIR [N]   (default N = 400)

Starts BUILD_DIR/gateway/tern with a TLS listener (a throwaway EC P-256
CA and server certificate made with openssl), connects 20 TLS clients to
warm the heap, reads VmRSS, connects N more (each: CONNECT, SUBSCRIBE to
its own topic, one PUBLISH of 100 bytes it receives back, then idle) and
prints the RSS added per connection.
"""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import tern_harness as h  # noqa: E402


def make_certs(d):
    def run(*a):
        subprocess.run(a, cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ca")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")


def main():
    tern = os.path.join(sys.argv[1], "gateway", "tern")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    with tempfile.TemporaryDirectory() as d:
        make_certs(d)
        port = h.free_port()
        with open(os.path.join(d, "t.conf"), "w") as f:
            f.write("listener %d 127.0.0.1\ncertfile %s/server.pem\nkeyfile %s/server.key\n"
                    "allow_anonymous true\npersistence false\nlog_type error\n" % (port, d, d))
        p = subprocess.Popen([tern, "-c", os.path.join(d, "t.conf")], stdin=subprocess.DEVNULL)
        socks = []
        try:
            time.sleep(0.5)
            ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))

            def rss():
                with open("/proc/%d/status" % p.pid) as f:
                    return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

            def one(i):
                s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                    server_hostname="localhost")
                s.sendall(h.connect_packet("idle-%d" % i))
                assert s.recv(4)[:1] == b"\x20"
                topic = b"idle/%d" % i
                tl = len(topic).to_bytes(2, "big")
                s.sendall(b"\x82" + bytes([5 + len(topic)]) + b"\x00\x01" + tl + topic + b"\x00")
                s.recv(5)
                s.sendall(b"\x30" + bytes([102 + len(topic)]) + tl + topic + b"x" * 100)
                s.recv(200)
                return s

            socks += [one(i) for i in range(20)]
            time.sleep(0.3)
            r0 = rss()
            socks += [one(i) for i in range(20, 20 + n)]
            time.sleep(0.5)
            r1 = rss()
            print("tern RSS %d KiB with 20 TLS clients, %d KiB with %d more: %.1f KiB per idle "
                  "TLS connection" % (r0, r1, n, (r1 - r0) / n))
        finally:
            for s in socks:
                s.close()
            p.terminate()
            p.wait(5)


if __name__ == "__main__":
    main()
