"""MQTT-SN serial links misbehaving (issue 13): a dongle pulled out and
plugged back (a new pty behind the same symlink), a noisy line (random
octets between frames, flipped bits inside them), a slow 9600 baud line,
and mqtt-sn-tools' raw framing."""

import random
import struct
import time

import pytest

import serial_link as sl
import sn_client as sn
import tern_harness as h
from test_mqttsn_serial import XBEE_A, client, links, serial_block, serial_broker  # noqa: F401

pytestmark = pytest.mark.tern_only


def lines(b, pattern):
    import re
    return len(re.findall(pattern, b.log()))


def test_hotplug_logs_once_reopens_and_delivers_what_was_queued(broker, links, sub):
    link = links(framing="slip")
    b = serial_broker(broker, [serial_block(link)], persistence=True)
    c = client(link, "hp-node")
    c.connect(clean=False, duration=60)
    c.subscribe("hp/down", qos=1)
    link.unplug()
    b.wait_log(r"port=\S+ lost: ")
    # queued while the dongle is away: the session keeps it
    h.mqtt_pub(b.port, "hp/down", "queued-1", qos=1)
    h.mqtt_pub(b.port, "hp/down", "queued-2", qos=1)
    time.sleep(1.5)   # several failed re-opens: still one line
    assert lines(b, r"port=\S+ lost: ") == 1
    assert lines(b, r"port=\S+ cannot open") == 0
    link.plug()
    h.wait_until(lambda: lines(b, r"port=\S+ open \(") == 2, timeout=10,
                 msg="the port re-opened behind the same symlink")
    c.connect(clean=False, duration=60)   # the node restarts its link too
    got = [c.receive_publish(timeout=15)[1] for _ in range(2)]
    assert sorted(got) == [b"queued-1", b"queued-2"]
    c.ping()
    s = sub(b, "$SYS/broker/mqttsn/serial/+/losses", wait=30)
    assert s.wait_messages(1, timeout=15)[0][1] == "1"


def test_missing_device_at_start_is_retried(broker, links, tmp_path):
    link = links(framing="raw")
    link.unplug()   # not there when Tern starts
    b = broker(serial_block(link))
    b.wait_log(r"port=\S+ cannot open: .*retrying")
    link.plug()
    b.wait_log(r"port=\S+ open \(", timeout=10)
    c = client(link, "late-node")
    c.connect()
    c.ping()


def noise(rng, n, lo=0, hi=256):
    return bytes(rng.randrange(lo, hi) for _ in range(n))


@pytest.mark.parametrize("framing", ["slip", "xbee"])
def test_noisy_line_loses_only_damaged_frames(broker, links, sub, framing):
    rng = random.Random(1305)
    link = links(framing=framing, api=2)
    b = serial_broker(broker, [serial_block(link)])
    s = sub(b, "noisy/#", qos=0, wait=30)
    addr = XBEE_A if framing == "xbee" else None
    c = client(link, "noisy-" + framing, xbee_addr=addr)
    c.connect(duration=300)
    tid = c.register("noisy/" + framing)["topic_id"]
    intact = []
    for i in range(40):
        msg = sn.frame(sn.PUBLISH, bytes([sn.flags(qos=0)]) + struct.pack(">HH", tid, 0) +
                       ("m%02d" % i).encode())
        f = bytearray(link.frame(msg, addr))
        damaged = i % 4 == 1
        if damaged:
            k = rng.randrange(1, len(f) - 1)   # inside the frame, not its first octet
            f[k] ^= 1 << rng.randrange(8)
        else:
            intact.append("m%02d" % i)
        link.write(noise(rng, rng.randrange(0, 12)) + bytes(f))
    c.ping()   # the session survived
    got = [m[1] for m in s.wait_messages(len(intact), timeout=10)]
    time.sleep(0.3)
    got = [m[1] for m in s.msgs]
    assert sorted(got) == intact
    name = link.path.lstrip("/").replace("/", "_")
    crc = sub(b, "$SYS/broker/mqttsn/serial/%s/errors/crc" % name, wait=30)
    assert int(crc.wait_messages(1, timeout=15)[0][1]) >= 10 - 2   # most damage is a CRC error


def test_raw_resynchronises_after_garbage(broker, links, sub):
    rng = random.Random(42)
    link = links(framing="raw")
    b = serial_broker(broker, [serial_block(link)])
    s = sub(b, "raw/#", qos=0, wait=30)
    c = client(link, "raw-resync")
    c.connect(duration=300)
    tid = c.register("raw/t")["topic_id"]

    def pub(text):
        return sn.frame(sn.PUBLISH, bytes([sn.flags(qos=0)]) + struct.pack(">HH", tid, 0) +
                        text.encode())

    # octets that cannot start a message (length 0) resync at once
    link.write(b"\x00\x00\x00" + pub("a") + b"\x00" + pub("b"))
    # a reserved type is one whole (dropped) message: nothing else is lost
    link.write(b"\x03\x03\xaa" + pub("c"))
    # false length starts (high octets claim more than follows): the line
    # goes quiet, Tern drops them and takes what follows
    link.write(noise(rng, 60, 0x80, 0x100))
    time.sleep(0.6)
    link.write(pub("d") + pub("e"))
    c.ping()
    got = [m[1] for m in s.wait_messages(5, timeout=10)]
    assert got == ["a", "b", "c", "d", "e"]
    b.wait_log(r"datagram dropped: malformed")


def test_slow_line_is_paced_and_qos0_dropped_when_full(broker, links, sub):
    link = links(framing="raw")
    b = serial_broker(broker, [serial_block(link, "mqttsn_serial_baud 9600\n")])
    c = client(link, "slow-node", timeout=20)
    c.connect(duration=300)
    c.subscribe("slow/q0", qos=0)
    c.subscribe("slow/q1", qos=1)
    p = h.PahoClient(b.port)
    payload = "x" * 100
    t0 = time.monotonic()
    for i in range(150):   # about 16 kB: 17 s of line time at 9600 baud
        p.publish("slow/q0", payload, qos=0)
    for i in range(5):
        p.publish("slow/q1", "q1-%d" % i, qos=1)
    got_q0, got_q1 = 0, []
    deadline = time.monotonic() + 60
    while len(got_q1) < 5 and time.monotonic() < deadline:
        m = c.recv_any(1.0)
        if m is None or m["type"] != sn.PUBLISH:
            continue
        if m["qos"] == 1:
            c.send(sn.PUBACK, struct.pack(">HHB", m["topic_id"], m["msg_id"], 0))
            if m["data"].decode() not in got_q1:
                got_q1.append(m["data"].decode())
        else:
            got_q0 += 1
    elapsed = time.monotonic() - t0
    print("slow line: %d QoS 0 of 150 in %.1f s" % (got_q0, elapsed))
    p.close()
    assert sorted(got_q1) == ["q1-%d" % i for i in range(5)]   # QoS 1 waited, none lost
    assert 0 < got_q0 < 150                                     # QoS 0 dropped when full
    # paced: what arrived cannot have crossed the line faster than 960 octets/s
    octets = got_q0 * 107 + 5 * 12
    assert elapsed >= octets / 960.0 * 0.8, (elapsed, octets)
    b.wait_log(r"output queue full .*QoS 0 PUBLISH dropped")


def test_mqtt_sn_tools_serial_bridge_framing(broker, links, sub):
    """mqtt-sn-tools' mqtt-sn-serial-bridge writes each packet as its own
    octets, one-octet Length first, back to back, and reads a Length octet
    then Length - 1 more. Speak exactly that (the bridge itself is not
    packaged for Debian): several packets in one write, replies read the
    bridge's way."""
    link = links(framing="raw")
    b = serial_broker(broker, [serial_block(link)])
    s = sub(b, "tools/#", qos=0)
    sock = link.sock()
    connect = sn.frame(sn.CONNECT, bytes([sn.flags(clean=True), 1]) + struct.pack(">H", 30) +
                       b"tools-bridge")
    register = sn.frame(sn.REGISTER, struct.pack(">HH", 0, 1) + b"tools/t")
    sock.sendto(connect + register, None)
    connack = sn.parse(sock.recvfrom(0)[0])
    assert connack["type"] == sn.CONNACK and connack["rc"] == 0
    regack = sn.parse(sock.recvfrom(0)[0])
    assert regack["type"] == sn.REGACK and regack["rc"] == 0
    for m in (connack, regack):
        assert m["raw"][0] == len(m["raw"])   # the bridge's reader: one-octet Length
    pub = sn.frame(sn.PUBLISH, bytes([sn.flags(qos=0)]) + struct.pack(">HH", regack["topic_id"], 0)
                   + b"via-bridge")
    sock.sendto(pub + sn.frame(sn.PINGREQ), None)
    assert sn.parse(sock.recvfrom(0)[0])["type"] == sn.PINGRESP
    assert s.wait_messages(1)[0][:2] == ("tools/t", "via-bridge")


def test_peer_paced_at_9600_baud(broker, links, sub):
    """The node's side of a 9600 baud line: one octet about every
    millisecond. Nothing times out mid-frame, every message arrives."""
    link = links(framing="raw")
    b = serial_broker(broker, [serial_block(link, "mqttsn_serial_baud 9600\n")])
    s = sub(b, "paced/#", qos=1, wait=30)
    c = client(link, "paced-node", timeout=10)
    c.connect(duration=300)
    tid = c.register("paced/t")["topic_id"]
    msgs = [sn.frame(sn.PUBLISH, bytes([sn.flags(qos=0)]) + struct.pack(">HH", tid, 0) +
                     ("slow-%d-" % i).encode() + b"z" * 40) for i in range(5)]
    for m in msgs:
        for octet in m:
            link.write(bytes([octet]))
            time.sleep(1 / 960)
    got = sorted(m[1] for m in s.wait_messages(5, timeout=10))
    assert got == sorted("slow-%d-%s" % (i, "z" * 40) for i in range(5))
    assert "datagram dropped" not in b.log()


def test_unplugged_node_keepalive_expires_and_will_is_published(broker, links, sub):
    """Hot-plug does not end sessions: their keep-alive does, and the will
    goes out then (MQTT-SN 1.2 section 6.3 and 6.14)."""
    link = links(framing="xbee", api=2)
    b = serial_broker(broker, [serial_block(link)])
    s = sub(b, "wills/#", qos=1, wait=30)
    c = client(link, "will-node", xbee_addr=XBEE_A)
    c.connect(duration=2, will=("wills/will-node", b"gone", 1, False))
    link.unplug()
    b.wait_log(r"port=\S+ lost: ")
    assert s.msgs == []   # not at the unplug
    assert s.wait_messages(1, timeout=10)[0][:2] == ("wills/will-node", "gone")
    b.wait_log(r'client="will-node" .*lost: no message for 1\.5 x 2 s')
