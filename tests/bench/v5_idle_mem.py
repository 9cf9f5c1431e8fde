#!/usr/bin/env python3
"""v5_idle_mem.py - memory of an idle MQTT 5 connection to Tern.

usage: tests/bench/v5_idle_mem.py BUILD_DIR [N]   (default N = 3000)

Starts BUILD_DIR/gateway/tern (plain listener, no persistence,
sys_interval 1), reads $SYS/broker/heap/current (bytes Tern allocated,
by malloc_usable_size) and VmRSS, connects N MQTT 5 clients (each:
CONNECT without properties, SUBSCRIBE to its own topic, then idle), reads
both again and prints the growth per connection. run_bench.sh's idle
scenario measures MQTT 3.1.1 connections; this is its MQTT 5 twin. The
open-file limit must allow N + 64 descriptors.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import tern_harness as h  # noqa: E402


def main():
    tern = os.path.join(sys.argv[1], "gateway", "tern")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    with tempfile.TemporaryDirectory() as d:
        port = h.free_port()
        with open(os.path.join(d, "t.conf"), "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "sys_interval 1\nlog_type error\n" % port)
        p = subprocess.Popen([tern, "-c", os.path.join(d, "t.conf")], stdin=subprocess.DEVNULL)
        socks = []
        try:
            time.sleep(0.5)

            def heap():
                out = subprocess.run(["mosquitto_sub", "-p", str(port), "-t",
                                      "$SYS/broker/heap/current", "-C", "1", "-W", "5"],
                                     check=True, capture_output=True, timeout=10).stdout
                return int(out.split()[0])

            def rss():
                with open("/proc/%d/status" % p.pid) as f:
                    return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

            def one(i):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                body = (h.enc_str("MQTT") + bytes([5, 0x02]) + (600).to_bytes(2, "big") + b"\x00"
                        + h.enc_str("v5idle-%d" % i))
                s.sendall(bytes([0x10, len(body)]) + body)
                topic = h.enc_str("v5/idle/%d" % i)
                sub = b"\x00\x01\x00" + topic + b"\x00"  # packet id 1, no properties, QoS 0
                s.sendall(bytes([0x82, len(sub)]) + sub)
                got = b""
                while len(got) < 2 or len(got) < 2 + got[1]:  # the CONNACK at least
                    chunk = s.recv(64)
                    assert chunk, "connection closed"
                    got += chunk
                assert got[0] == 0x20 and got[3] == 0, got
                return s

            h0, r0 = heap(), rss()
            socks += [one(i) for i in range(n)]
            time.sleep(2.5)  # the SUBACKs, and a fresh $SYS value
            h1, r1 = heap(), rss()
            print("tern, %d idle MQTT 5 connections: heap %d B and VmRSS %d B per connection"
                  % (n, (h1 - h0) // n, (r1 - r0) * 1024 // n))
        finally:
            for s in socks:
                s.close()
            p.terminate()
            p.wait(5)


if __name__ == "__main__":
    main()
