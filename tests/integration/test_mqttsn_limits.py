"""Bad input and limits on the MQTT-SN gateway: every dropped datagram is
counted ($SYS/broker/connections/protocol_errors) and logged at a bounded
pace; a full topic-id registry refuses with congestion and logs once; MQTT-SN
clients count in $SYS like MQTT ones and are named mqttsn in the log."""

import re
import struct
import time

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn import sn_broker, snc  # noqa: F401 (fixture)

pytestmark = pytest.mark.tern_only


def sys_value(paho, topic, pred, timeout=5):
    """Wait for a $SYS value (int) with pred(value) true; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            m = paho.get(timeout=max(deadline - time.monotonic(), 0.01))
        except AssertionError:
            break
        if m.topic == topic:
            last = int(m.payload)
            if pred(last):
                return last
    raise AssertionError("%s: last value %r" % (topic, last))


def test_sys_counts_mqttsn_clients_and_bad_datagrams(broker, snc, paho):
    b, port = sn_broker(broker, "sys_interval 1")
    p = paho(b)
    p.subscribe("$SYS/broker/clients/connected")
    p.subscribe("$SYS/broker/connections/protocol_errors")
    a = snc(port, client_id="sn-sys-a")
    c = snc(port, client_id="sn-sys-c")
    a.connect()
    c.connect()
    b.wait_log(r'new client connected from 127\.0\.0\.1:\d+ as "sn-sys-c" \(mqttsn, ')
    sys_value(p, "$SYS/broker/clients/connected", lambda v: v == 3)  # 2 MQTT-SN + paho
    before = sys_value(p, "$SYS/broker/connections/protocol_errors", lambda v: True)
    bad = [b"\x02", b"\x03\x03\x00", b"\x02\xfd", b"\x04\x0d\x00\x01"]  # short, reserved, unknown
    for d in bad:
        a.send_raw(d)
    snc(port).send(sn.PINGREQ)  # a peer that is not connected
    sys_value(p, "$SYS/broker/connections/protocol_errors", lambda v: v >= before + 5)
    a.ping()
    c.disconnect()
    sys_value(p, "$SYS/broker/clients/connected", lambda v: v == 2)


def test_flood_from_unconnected_peer_is_logged_at_a_bounded_pace(broker, snc):
    b, port = sn_broker(broker)
    x = snc(port)
    for i in range(150):  # fewer than a default UDP receive buffer holds
        x.publish_raw(1, "x", qos=1, msg_id=i + 1)  # not connected: dropped
    h.wait_until(lambda: "datagram dropped" in b.log(), msg="the drop logged")
    time.sleep(0.5)  # the kernel may drop what the socket cannot hold: let tern drain
    ok = snc(port, client_id="sn-after-flood")
    ok.connect()
    ok.ping()
    b.wait_log(r"datagram dropped: message from a peer that is not connected")
    lines = [l for l in b.log().splitlines() if "datagram dropped" in l]
    assert 1 <= len(lines) <= 2, lines


def test_topic_id_registry_full_refused_with_congestion_logged_once(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-many-topics")
    c.connect()
    ids = []
    for i in range(1000):  # SN_TOPICS_MAX
        r = c.register("many/%d" % i)
        assert r["rc"] == sn.RC_ACCEPTED and 1 <= r["topic_id"] <= 0xFFFE
        ids.append(r["topic_id"])
    assert len(set(ids)) == 1000  # distinct, random (not 1, 2, 3 ...)
    assert sum(1 for a, b in zip(ids, ids[1:]) if b == a + 1) < 10
    for i in range(3):
        r = c.register("many/extra/%d" % i)
        assert (r["rc"], r["topic_id"]) == (sn.RC_CONGESTION, 0)
    assert c.register("many/7")["topic_id"] == ids[7]  # known names still answer
    b.wait_log(r'client="sn-many-topics" REGISTER refused for "many/extra/0": topic-id '
               r"registry full")
    assert len(re.findall("registry full", b.log())) == 1
