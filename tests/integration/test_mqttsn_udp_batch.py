"""MQTT-SN over UDP in bursts (issue 15): the listener's receive buffer
(mqttsn_udp_receive_buffer, SO_RCVBUF / SO_RCVBUFFORCE), datagrams read
many per recvmmsg and written many per sendmmsg, in order, small and
large mixed."""

import os
import re
import socket
import struct
import subprocess
import time

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn import sn_broker, snc  # noqa: F401 (fixture)
from test_mqttsn_config import start_fails

pytestmark = pytest.mark.tern_only


def rcvbuf_of(pid, port):
    """The receive buffer limit (ss skmem rb, bytes the kernel allows) of
    the UDP socket bound to port in process pid."""
    out = subprocess.run(["ss", "-Huanmp", "sport = :%d" % port], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=10).stdout.decode()
    m = re.search(r"pid=%d\b.*?\n?.*?skmem:\([^)]*\brb(\d+)" % pid, out, re.S)
    assert m, "no UDP socket of pid %d on port %d in:\n%s" % (pid, port, out)
    return int(m.group(1))


def sysctl(name):
    with open("/proc/sys/net/core/" + name) as f:
        return int(f.read())


def is_net_admin():
    """CAP_NET_ADMIN (bit 12) in our effective set: tern, our child, has it too."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 12 & 1)
    return False


def expected_rb(asked):
    """What Linux books for SO_RCVBUF(FORCE) asked: twice the value, capped
    at rmem_max without CAP_NET_ADMIN."""
    return 2 * (asked if is_net_admin() else min(asked, sysctl("rmem_max")))


@pytest.mark.parametrize("conf,asked", [("", 4 << 20),
                                        ("mqttsn_udp_receive_buffer 1M", 1 << 20),
                                        ("mqttsn_udp_receive_buffer 300000", 300000)])
def test_receive_buffer_size(broker, conf, asked):
    b, port = sn_broker(broker, conf)
    assert rcvbuf_of(b.proc.pid, port) == expected_rb(asked)


def test_receive_buffer_zero_keeps_the_kernel_default(broker):
    b, port = sn_broker(broker, "mqttsn_udp_receive_buffer 0")
    assert rcvbuf_of(b.proc.pid, port) == sysctl("rmem_default")


def test_receive_buffer_out_of_range_is_refused(tmp_path):
    log = start_fails(tmp_path, "mqttsn_udp_receive_buffer 2G")
    assert "mqttsn_udp_receive_buffer" in log and "1073741824" in log


def test_burst_of_small_and_large_publishes_arrives_in_order(broker, snc, sub):
    """3,000 QoS 0 PUBLISHes sent as fast as Python sends (many per recvmmsg),
    with a 5,000-byte one (three-octet length, §5.2.1) every 500th: every
    one arrives, in order, intact."""
    b, port = sn_broker(broker)
    s = sub(b, "burst/t", qos=0)
    c = snc(port, client_id="sn-burst")
    c.connect()
    tid = c.register("burst/t")["topic_id"]
    n = 3000
    expect = []
    for i in range(n):
        body = ("%05d" % i) + ("L" * 4995 if i % 500 == 250 else "")
        expect.append(body)
        data = body.encode()
        msg = bytes([sn.flags(qos=0)]) + struct.pack(">HH", tid, 0) + data
        if len(msg) + 2 <= 255:
            c.send_raw(bytes([len(msg) + 2, sn.PUBLISH]) + msg)
        else:
            c.send_raw(b"\x01" + struct.pack(">H", len(msg) + 4) + bytes([sn.PUBLISH]) + msg)
    got = s.wait_messages(n, timeout=30)
    assert [p for _, p, _, _ in got] == expect


def test_downlink_burst_with_large_messages_keeps_order(broker, snc, tmp_path):
    """One MQTT publisher sends 400 QoS 0 messages in one stream to an
    MQTT-SN subscriber: the gateway queues them for sendmmsg; every 50th
    is 700 bytes (over a queue slot, sent on its own after what is
    queued). The client gets all 400 in order."""
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-down")
    c.connect()
    assert c.subscribe("down/t", qos=0)["rc"] == 0
    # One first: the gateway REGISTERs the topic and the REGACK proves our
    # address (anti-amplification, sn_amp.c), so the burst is not held back.
    h.mqtt_pub(b.port, "down/t", "first")
    assert c.receive_publish(timeout=5)[1] == b"first"
    rx = c.sock
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    lines = [("%04d" % i) + ("B" * 696 if i % 50 == 7 else "") for i in range(400)]
    path = os.path.join(str(tmp_path), "lines.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(path, "rb") as f:
        subprocess.run([h.MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(b.port), "-t", "down/t",
                        "-q", "0", "-l"], stdin=f, timeout=20, check=True)
    got = []
    deadline = time.monotonic() + 20
    while len(got) < len(lines) and time.monotonic() < deadline:
        _, data, _, _ = c.receive_publish(timeout=5)
        got.append(data.decode())
    assert got == lines
