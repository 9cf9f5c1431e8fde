"""persistence_quota and its two policies (the durable-storage issue):
refuse (no PUBACK for a message that needs the store, MQTT 3.1.1 has no
negative acknowledgement) and drop_oldest (the session's oldest queued
message makes room). Both are counted in $SYS and logged once per episode.
"""

import pytest

import tern_harness as h
from tern_harness import PUBACK, publish_packet

pytestmark = pytest.mark.tern_only

PAYLOAD = b"x" * 4000


def _flood(br, raw, n):
    """Publish n QoS 1 messages one by one; return how many were PUBACKed
    (stops at the first one that is not)."""
    p = raw(br)
    p.connect("q-pub")
    for i in range(n):
        p.send(publish_packet("q/t", b"%06d" % i + PAYLOAD, qos=1, pid=i % 60000 + 1))
        try:
            p.expect(PUBACK, pid=i % 60000 + 1, timeout=1.0)
        except AssertionError:
            return i
    return n


def _sys_value(br, topic, at_least=1):
    """The retained $SYS value, read again (sys_interval 1) until it
    reaches at_least or 5 s pass."""
    value = None
    def reached():
        nonlocal value
        got = h.mqtt_sub_collect(br.port, topic, 1, wait=2)
        value = int(got[0][1]) if got else None
        return value is not None and value >= at_least
    try:
        h.wait_until(reached, timeout=5.0, interval=0.5, msg=topic)
    except AssertionError:
        pass
    return value


def test_quota_refuse_withholds_puback(broker, raw):
    br = broker(persistence=True, conf_extra="persistence_quota 1M\nmax_queued_messages 0\n"
                                             "sys_interval 1")
    h.offline_subscriber(br, raw, "q-refuse", "q/#")
    acked = _flood(br, raw, 2000)
    assert 50 < acked < 2000, acked  # ~1 MiB of 4 KB messages, then refused
    br.wait_log("refusing new durable messages")
    assert "not acknowledged: store quota reached" in br.log()
    assert _sys_value(br, "$SYS/broker/store/refused") >= 1
    # Everything that was acknowledged is there, in order.
    c = raw(br)
    c.connect("q-refuse", clean=False)
    got = []
    for _ in range(acked):
        got.append(int(c.recv_publish(timeout=5).payload[:6]))
    assert got == list(range(acked))


def test_quota_drop_oldest_keeps_newest(broker, raw):
    br = broker(persistence=True, conf_extra="persistence_quota 1M\n"
                                             "persistence_quota_policy drop_oldest\n"
                                             "max_queued_messages 0\nsys_interval 1")
    h.offline_subscriber(br, raw, "q-drop", "q/#")
    n = 600
    assert _flood(br, raw, n) == n  # never refused
    br.wait_log("dropping the oldest queued messages")
    assert _sys_value(br, "$SYS/broker/store/dropped") >= 1
    c = raw(br)
    c.connect("q-drop", clean=False)
    got = []
    while True:
        try:
            got.append(int(c.recv_publish(timeout=1.0).payload[:6]))
        except AssertionError:
            break
    assert got and got[-1] == n - 1, got[-5:]  # the newest survived
    assert got[0] > 0  # the oldest were dropped
    assert got == sorted(got)
