#!/usr/bin/python3
"""dtls_burst.py - does a burst of MQTT-SN over DTLS handshakes delay the
clients already connected? (issue 12; the handshake CPU budget in
mqttsn/sn_dtls.c.)

One MQTT client (paho) publishes QoS 0 to itself every 2 ms and records the
round trip, first alone, then while N DTLS devices (the mbedTLS test client,
ECDHE-PSK) handshake at once, connect and publish. Prints p50 / p99 / max
of both phases and how long the burst took.

    tests/bench/dtls_burst.py BUILD_DIR [N]    (N defaults to 64)

Caveat: the N client processes run on the same machine and do their own
ECDHE at the same moment, so on a 2-core box the round trip also measures
the CPU they take from the MQTT client; run the devices from another host
to see Tern alone.
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

KEY = "00112233445566778899aabbccddeeff"


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def main():
    build = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    tern = os.path.join(build, "gateway", "tern")
    cli = os.path.join(build, "tests", "integration", "tern_dtls_sn_client")
    d = tempfile.mkdtemp()
    mp, up = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    with open(os.path.join(d, "psk"), "w") as f:
        f.write("dev:%s\n" % KEY)
    conf = os.path.join(d, "t.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "log_dest stderr\nlistener %d 127.0.0.1\nprotocol mqttsn\npsk_hint t\n"
                "psk_file %s/psk\n" % (mp, up, d))
    broker = subprocess.Popen([tern, "-c", conf], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    rtts, lock, sent = [], threading.Lock(), {}
    c = mqtt.Client(client_id="rtt")

    def on_msg(_c, _u, m):
        t = time.monotonic()
        with lock:
            t0 = sent.pop(m.payload, None)
            if t0 is not None:
                rtts.append((t, (t - t0) * 1000.0))

    c.on_message = on_msg
    c.connect("127.0.0.1", mp)
    c.subscribe("rtt", 0)
    c.loop_start()
    time.sleep(0.3)
    stop = threading.Event()

    def pub():
        i = 0
        while not stop.is_set():
            key = b"%d" % i
            with lock:
                sent[key] = time.monotonic()
            c.publish("rtt", key, qos=0)
            i += 1
            time.sleep(0.002)

    th = threading.Thread(target=pub)
    th.start()
    time.sleep(2.0)
    b0 = time.monotonic()
    procs = [subprocess.Popen([cli, "--port", str(up), "--id", "d%d" % i, "--psk-identity", "dev",
                               "--psk", KEY, "--pub", "x/%d" % i, "m", "--qos", "1",
                               "--timeout", "60"], stdout=subprocess.DEVNULL)
             for i in range(n)]
    ok = sum(p.wait() == 0 for p in procs)
    b1 = time.monotonic()
    time.sleep(0.5)
    stop.set()
    th.join()
    c.loop_stop()
    broker.terminate()
    broker.wait()
    base = [r for t, r in rtts if t < b0]
    burst = [r for t, r in rtts if b0 <= t <= b1]
    print("devices: %d of %d connected and published; burst %.2f s" % (ok, n, b1 - b0))
    for name, v in (("alone", base), ("during the burst", burst)):
        print("QoS 0 round trip %-17s n=%5d p50=%.2f ms p99=%.2f ms max=%.2f ms"
              % (name, len(v), pct(v, 0.5), pct(v, 0.99), max(v) if v else float("nan")))


if __name__ == "__main__":
    main()
