#!/usr/bin/env python3
"""sn_serial_bench.py - MQTT-SN publishes through one serial port (a pty
pair, raw framing) at 115200 and 921600 baud, beside the UDP path at the
same message rate (the benchmark, not a test; issue 13).

One MQTT-SN client per scenario publishes QoS 0 messages with a 64-byte
payload into Tern; one MQTT subscriber (paho, TCP) counts them. Over the
serial port the client writes no faster than the line would carry
(baud / 10 octets per second, 8N1: a pty itself has no line rate), so
msg/s is what the line allows; UDP is paced to the same message rate so
the CPU figures compare. tern_us/msg is Tern's CPU time (/proc schedstat) over
the scenario divided by the messages the subscriber received. Downlink: an
MQTT publisher sends QoS 0 to the node at 90% and 200% of what the line
carries; Tern paces its output to the line rate and drops the QoS 0 excess
(msg/s is what reached the node over the time it took).

usage: tests/bench/sn_serial_bench.py --tern build-rel/gateway/tern [--seconds 5]
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import serial_link as sl  # noqa: E402
import sn_client as sn  # noqa: E402
import tern_harness as h  # noqa: E402

PAYLOAD = 64
TICK = 0.005


def cpu_s(pid):
    """CPU time of pid in seconds: schedstat (nanoseconds) when the kernel
    has it, else utime + stime (clock ticks: too coarse at 162 msg/s)."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Counter:
    def __init__(self, port):
        mqtt = h._paho()
        self.counts, self.lock = {}, threading.Lock()
        self.c = mqtt.Client(client_id="bench-sub")
        self.c.on_message = self._on
        self.c.connect("127.0.0.1", port)
        self.c.subscribe("sb/#", 0)
        self.c.loop_start()

    def _on(self, c, u, m):
        with self.lock:
            self.counts[m.topic] = self.counts.get(m.topic, 0) + 1

    def get(self, topic):
        with self.lock:
            return self.counts.get(topic, 0)


def run(name, c, send_frame, rate_msgs, seconds, counter, pid):
    c.connect(duration=600)
    tid = c.register("sb/" + name)["topic_id"]
    frame = sn.frame(sn.PUBLISH, bytes([sn.flags(qos=0)]) + struct.pack(">HH", tid, 0) +
                     b"p" * PAYLOAD)
    cpu0, t0, sent = cpu_s(pid), time.monotonic(), 0
    while True:
        now = time.monotonic() - t0
        if now >= seconds:
            break
        due = int(now * rate_msgs) - sent
        if due > 0:
            send_frame(frame * due)
            sent += due
        time.sleep(TICK)
    deadline = time.monotonic() + 5
    while counter.get("sb/" + name) < sent and time.monotonic() < deadline:
        time.sleep(0.02)
    got = counter.get("sb/" + name)
    cpu = cpu_s(pid) - cpu0
    print("%-14s %8d %8d %8.0f %10.1f" % (name, sent, got, got / seconds,
                                          cpu * 1e6 / max(got, 1)), flush=True)
    return got / seconds


def run_down(name, link, rate_msgs, seconds, tcp, pid):
    """MQTT publisher -> Tern -> the node on the serial port, QoS 0."""
    c = sn.SNClient(0, client_id="dn-" + name[4:], sock=link.sock())
    c.connect(duration=600)
    topic = "sd/" + name
    c.subscribe(topic, qos=0)
    mqtt = h._paho()
    p = mqtt.Client(client_id="bench-pub-" + name)
    p.connect("127.0.0.1", tcp)
    p.loop_start()
    payload = b"p" * PAYLOAD
    cpu0, t0, sent = cpu_s(pid), time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        due = int((time.monotonic() - t0) * rate_msgs) - sent
        for _ in range(max(due, 0)):
            p.publish(topic, payload, 0)
        sent += max(due, 0)
        time.sleep(TICK)
    got, last = 0, None
    while True:
        m = c.recv_any(1.0)
        if m is None:
            break
        if m["type"] == sn.PUBLISH:
            got += 1
            last = time.monotonic()
    cpu = cpu_s(pid) - cpu0
    p.loop_stop()
    p.disconnect()
    span = (last or time.monotonic()) - t0
    print("%-14s %8d %8d %8.0f %10.1f" % (name, sent, got, got / span, cpu * 1e6 / max(got, 1)),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tern", required=True)
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sn_serial_bench.")
    links = {b: sl.SerialLink(work, "tty%d" % b, "raw") for b in (115200, 921600)}
    tcp, udp = h.free_port(), sn.free_udp_port()
    conf = os.path.join(work, "tern.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "log_type error\nlistener %d 127.0.0.1\nprotocol mqttsn\n" % (tcp, udp))
        for b, link in links.items():
            f.write("mqttsn_serial %s\nmqttsn_serial_baud %d\n" % (link.path, b))
    tern = subprocess.Popen([a.tern, "-c", conf], stdin=subprocess.DEVNULL)
    try:
        h.wait_until(lambda: h.port_accepts(tcp), timeout=10, msg="tern up")
        time.sleep(0.5)
        counter = Counter(tcp)
        frame_octets = len(sn.frame(sn.PUBLISH, b"\x00" * (5 + PAYLOAD)))
        print("tern %s, payload %d bytes, %d-octet frames, %.0f s per scenario, load %.2f"
              % (a.tern, PAYLOAD, frame_octets, a.seconds, os.getloadavg()[0]))
        print("%-14s %8s %8s %8s %10s" % ("scenario", "sent", "received", "msg/s",
                                          "tern_us/msg"))
        rates = {}
        for b, link in links.items():
            c = sn.SNClient(0, client_id="bench-%d" % b, sock=link.sock())
            rate = b / 10.0 / frame_octets
            rates[b] = run("serial%d" % b, c, link.write, rate, a.seconds, counter, tern.pid)
        for b in (115200, 921600):
            u = sn.SNClient(udp, client_id="bench-udp-%d" % b)
            run("udp@%d/s" % round(rates[b]), u, lambda d, u=u: [
                u.sock.sendto(d[i:i + frame_octets], u.addr)
                for i in range(0, len(d), frame_octets)], rates[b], a.seconds, counter,
                tern.pid)
            u.close()
        print("downlink (MQTT -> node), offered rate as a share of the line's:")
        for b, link in links.items():
            for share in (0.9, 2.0):
                run_down("down%d@%d%%" % (b, share * 100), link, rates[b] * share, a.seconds,
                         tcp, tern.pid)
    finally:
        tern.terminate()
        tern.wait(10)
        for link in links.values():
            link.close()


if __name__ == "__main__":
    main()
