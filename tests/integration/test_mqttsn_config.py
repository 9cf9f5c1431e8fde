"""MQTT-SN listener options: Tretry / Nretry (MQTT-SN 1.2 section 6.13), the
gateway id and periodic ADVERTISE (section 6.1), predefined topic ids from a
file in the Paho gateway's predefinedTopic.conf format, and the list of
client ids allowed to connect."""

import os
import socket
import struct
import subprocess
import time

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn import sn_broker, snc  # noqa: F401 (fixture)

pytestmark = pytest.mark.tern_only


def start_fails(tmp_path, conf):
    """Run tern on conf (an MQTT-SN listener and a TCP one); it must exit
    non-zero by itself. Returns what it logged."""
    path = os.path.join(str(tmp_path), "bad.conf")
    with open(path, "w") as f:
        f.write("listener %d 127.0.0.1\nlistener %d 127.0.0.1\nprotocol mqttsn\n%s\n"
                "allow_anonymous true\npersistence false\n"
                % (h.free_port(), sn.free_udp_port(), conf))
    r = subprocess.run([h.broker_bin(), "-c", path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    assert r.returncode not in (0, -6), "tern exited with %d" % r.returncode
    return r.stdout.decode(errors="replace")


def test_retry_interval_and_retries_from_config(broker, snc, sub):
    b, port = sn_broker(broker, "mqttsn_retry_interval 1\nmqttsn_retries 2")
    s = sub(b, "wills/#", qos=1)
    c = snc(port, client_id="sn-deaf2")
    c.connect(duration=120, will=("wills/sn-deaf2", "lost", 1, False))
    c.subscribe("deaf2/#", qos=1)
    h.mqtt_pub(b.port, "deaf2/t", "x", qos=1)
    times = []
    while len(times) < 3:
        m = c.recv_any(3)
        assert m is not None and m["type"] == sn.REGISTER
        times.append(time.monotonic())
    assert 0.7 <= times[1] - times[0] <= 2.0 and 0.7 <= times[2] - times[1] <= 2.0
    # Two retransmissions unanswered: lost one Tretry later, will published.
    assert s.wait_messages(1, timeout=4)[0][:2] == ("wills/sn-deaf2", "lost")
    assert time.monotonic() - times[0] >= 2.5
    c.expect_nothing(1.5)  # no third retransmission


def test_gateway_id_in_gwinfo_and_periodic_advertise(broker, snc):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(4)
    try:
        b, port = sn_broker(broker, "mqttsn_gateway_id 7\nmqttsn_advertise_interval 1\n"
                            "mqttsn_advertise_address 127.0.0.1:%d" % rx.getsockname()[1])
        assert snc(port).searchgw()["gw_id"] == 7
        seen = []
        while len(seen) < 3:
            data, addr = rx.recvfrom(100)
            seen.append((time.monotonic(), sn.parse(data), addr))
        for _, m, addr in seen:
            assert m["type"] == sn.ADVERTISE and addr[1] == port
            assert m["raw"] == bytes([5, sn.ADVERTISE, 7]) + struct.pack(">H", 1)
        assert 0.6 <= seen[2][0] - seen[1][0] <= 1.8
    finally:
        rx.close()


def test_advertise_address_must_be_numeric(tmp_path):
    log = start_fails(tmp_path, "mqttsn_advertise_interval 5\n"
                      "mqttsn_advertise_address gateway.example:1884")
    assert "mqttsn_advertise_address 'gateway.example:1884': expected a numeric" in log


PREDEF = """\
# Paho MQTT-SN gateway format: ClientID, TopicName, TopicID
*, pre/common, 10
COMMON, pre/also-common, 11
sn-pre, pre/own, 20
sn-pre,pre/shadow,11
other, pre/other, 30
"""


def predef_broker(broker, tmp_path, text=PREDEF):
    path = os.path.join(str(tmp_path), "predefined.conf")
    with open(path, "w") as f:
        f.write(text)
    return sn_broker(broker, "mqttsn_predefined_topics %s" % path)


def test_predefined_topic_ids_publish_both_ways(broker, snc, sub, tmp_path):
    b, port = predef_broker(broker, tmp_path)
    s = sub(b, "pre/#", qos=1)
    c = snc(port, client_id="sn-pre")
    c.connect()
    ack = c.publish(10, "common", qos=1, topic_type=sn.TOPIC_PREDEFINED)
    assert (ack["topic_id"], ack["rc"]) == (10, sn.RC_ACCEPTED)
    c.publish(20, "own", qos=1, topic_type=sn.TOPIC_PREDEFINED)
    c.publish(11, "shadowed", qos=1, topic_type=sn.TOPIC_PREDEFINED)  # its own 11 wins
    ack = c.publish(30, "not mine", qos=1, topic_type=sn.TOPIC_PREDEFINED)
    assert (ack["topic_id"], ack["rc"]) == (30, sn.RC_INVALID_TOPIC_ID)
    assert [(t, p) for t, p, _, _ in s.wait_messages(3)] == [
        ("pre/common", "common"), ("pre/own", "own"), ("pre/shadow", "shadowed")]
    # QoS -1 from a peer that never connected: common ids only.
    q = snc(port)
    q.publish_raw(11, "m1-common", qos=-1, topic_type=sn.TOPIC_PREDEFINED)
    q.publish_raw(20, "m1-own", qos=-1, topic_type=sn.TOPIC_PREDEFINED)
    assert s.wait_messages(4)[3][:2] == ("pre/also-common", "m1-common")
    time.sleep(0.5)
    assert len(s.msgs) == 4


def test_predefined_subscribe_and_delivery_without_register(broker, snc, tmp_path):
    b, port = predef_broker(broker, tmp_path)
    c = snc(port, client_id="sn-pre")
    c.connect()
    ack = c.subscribe_predefined(20, qos=1)
    assert (ack["rc"], ack["topic_id"], ack["qos"]) == (sn.RC_ACCEPTED, 20, 1)
    c.subscribe("pre/+", qos=0)  # wildcard: pre/common comes with its predefined id
    h.mqtt_pub(b.port, "pre/own", "down", qos=1)
    m = c.expect(sn.PUBLISH, auto_regack=False)
    assert (m["topic_type"], m["topic_id"], m["data"], m["qos"]) == (
        sn.TOPIC_PREDEFINED, 20, b"down", 1)
    c.send(sn.PUBACK, struct.pack(">HHB", 20, m["msg_id"], 0))
    h.mqtt_pub(b.port, "pre/common", "c", qos=0)
    m = c.expect(sn.PUBLISH, auto_regack=False)
    assert (m["topic_type"], m["topic_id"], m["data"]) == (sn.TOPIC_PREDEFINED, 10, b"c")
    ack = c.subscribe_predefined(30)  # another client's id
    assert ack["rc"] == sn.RC_INVALID_TOPIC_ID
    c.send(sn.UNSUBSCRIBE, bytes([sn.TOPIC_PREDEFINED]) + struct.pack(">HH", 99, 20))
    assert c.expect(sn.UNSUBACK)["msg_id"] == 99
    h.mqtt_pub(b.port, "pre/own", "gone", qos=1)
    m = c.expect(sn.PUBLISH, auto_regack=False)  # still matches pre/+ at QoS 0
    assert (m["topic_id"], m["qos"]) == (20, 0)


@pytest.mark.parametrize("text,where", [
    ("sn-a, t/a\n", "predefined.conf:1: expected ClientID, TopicName, TopicID"),
    ("# c\n*, t/a, 0\n", "predefined.conf:2: TopicID '0': expected an integer 1..65534"),
    ("*, t/+, 3\n", "predefined.conf:1: TopicName 't/+'"),
    ("*, t/a, 3\n*, t/b, 3\n", "predefined.conf:2: TopicID 3 or TopicName 't/b' given twice"),
])
def test_bad_predefined_topic_file_stops_tern_with_file_and_line(tmp_path, text, where):
    path = os.path.join(str(tmp_path), "predefined.conf")
    with open(path, "w") as f:
        f.write(text)
    log = start_fails(tmp_path, "mqttsn_predefined_topics %s" % path)
    assert where in log


def test_allowed_clients_list(broker, snc):
    b, port = sn_broker(broker, "mqttsn_allowed_clients sn-ok1 sn-ok2")
    assert snc(port, client_id="sn-ok2").connect()["rc"] == sn.RC_ACCEPTED
    snc(port, client_id="sn-intruder").connect(expect_rc=sn.RC_NOT_SUPPORTED)
    b.wait_log(r'client="sn-intruder" .*refused: client id not in mqttsn_allowed_clients')


def test_client_allow_file(broker, snc, tmp_path):
    path = os.path.join(str(tmp_path), "clients.txt")
    with open(path, "w") as f:
        f.write("# sensors of hall 2\nsn-hall2-a\n  sn-hall2-b  \n")
    b, port = sn_broker(broker, "mqttsn_client_allow_file %s" % path)
    assert snc(port, client_id="sn-hall2-b").connect()["rc"] == sn.RC_ACCEPTED
    snc(port, client_id="sn-hall3-a").connect(expect_rc=sn.RC_NOT_SUPPORTED)
    b.wait_log(r'client="sn-hall3-a" .*refused')


def test_client_id_too_long_in_allow_list_stops_tern(tmp_path):
    log = start_fails(tmp_path, "mqttsn_allowed_clients ok-1 %s" % ("x" * 24))
    assert "mqttsn_allowed_clients '%s': expected client ids of 1..23" % ("x" * 24) in log


def test_missing_allow_file_stops_tern(tmp_path):
    log = start_fails(tmp_path, "mqttsn_client_allow_file %s/nope.txt" % tmp_path)
    assert "cannot open %s/nope.txt: No such file or directory" % tmp_path in log
