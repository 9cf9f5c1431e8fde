"""$SYS broker statistics, mosquitto topic names and value formats (sys_interval 1)."""

import re
import time

import pytest

import tern_harness as h

INT = re.compile(r"^\d+$")
LOAD = re.compile(r"^\d+\.\d\d$")

INT_TOPICS = [
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
    "$SYS/broker/publish/messages/received",
    "$SYS/broker/publish/messages/sent",
]
LOAD_TOPICS = ["$SYS/broker/load/%s/%s" % (k, w)
               for k in ("messages/received", "messages/sent", "bytes/received",
                         "bytes/sent", "connections")
               for w in ("1min", "5min", "15min")]


class SysWatcher:
    def __init__(self, raw, br, flt="$SYS/#"):
        self.c = raw(br)
        self.c.connect("sys-watcher")
        self.c.subscribe(flt, qos=0)
        self.values = {}
        self.retained = {}

    def pump(self, timeout=0.2):
        end = time.monotonic() + timeout
        while True:
            try:
                m = self.c.recv_publish(timeout=max(end - time.monotonic(), 0.001))
            except AssertionError:
                return
            self.values[m.topic] = m.payload.decode()
            self.retained.setdefault(m.topic, m.retain)

    def wait(self, topic, pred=lambda v: True, timeout=5):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.values.get(topic)
            if v is not None and pred(v):
                return v
            self.pump(0.1)
        raise AssertionError("%s: no value satisfying the check within %ss (last %r)"
                             % (topic, timeout, self.values.get(topic)))


@pytest.fixture
def sysb(broker, raw):
    br = broker("sys_interval 1")
    return br, SysWatcher(raw, br)


def test_version_and_uptime(sysb):
    br, w = sysb
    v = w.wait("$SYS/broker/version")
    assert re.match(r"^[A-Za-z]+ version \d+\.\d+\.\d+", v), v
    if not h.IS_MOSQUITTO:
        assert v.startswith("tern version ")
    up = w.wait("$SYS/broker/uptime")
    assert re.match(r"^\d+ seconds$", up), up
    first = int(up.split()[0])
    later = w.wait("$SYS/broker/uptime", lambda x: int(x.split()[0]) > first, timeout=3)
    assert int(later.split()[0]) <= first + 4


def test_static_topics_retained_on_subscribe(sysb):
    """A new $SYS subscriber immediately gets the current values, retained."""
    br, w = sysb
    w.wait("$SYS/broker/version")
    w.wait("$SYS/broker/uptime")
    assert w.retained["$SYS/broker/version"] is True


def test_integer_counters_format(sysb):
    br, w = sysb
    for t in INT_TOPICS:
        v = w.wait(t, timeout=3)
        assert INT.match(v), (t, v)


def test_load_averages_format(sysb):
    br, w = sysb
    for t in LOAD_TOPICS:
        v = w.wait(t, timeout=3)
        assert LOAD.match(v), (t, v)


def test_clients_connected_counts(sysb, raw):
    br, w = sysb
    extra = []
    for i in range(3):
        c = raw(br)
        c.connect("sys-c%d" % i)
        extra.append(c)
    # watcher + 3
    w.wait("$SYS/broker/clients/connected", lambda v: int(v) == 4, timeout=4)
    assert int(w.wait("$SYS/broker/clients/total")) >= 4
    extra[0].disconnect()
    extra[1].close()
    w.wait("$SYS/broker/clients/connected", lambda v: int(v) == 2, timeout=4)


def test_message_and_byte_counters_grow(sysb, raw):
    br, w = sysb
    base = {t: int(w.wait(t, timeout=3)) for t in (
        "$SYS/broker/messages/received", "$SYS/broker/bytes/received",
        "$SYS/broker/publish/messages/received")}
    p = raw(br)
    p.connect()
    s = raw(br)
    s.connect()
    s.subscribe("cnt/t", qos=1)
    for i in range(10):
        p.publish("cnt/t", b"x" * 100, qos=1, pid=i + 1)
        s.recv_publish()
    w.wait("$SYS/broker/messages/received",
           lambda v: int(v) >= base["$SYS/broker/messages/received"] + 10, timeout=4)
    w.wait("$SYS/broker/bytes/received",
           lambda v: int(v) >= base["$SYS/broker/bytes/received"] + 1000, timeout=4)
    w.wait("$SYS/broker/publish/messages/received",
           lambda v: int(v) >= base["$SYS/broker/publish/messages/received"] + 10, timeout=4)
    w.wait("$SYS/broker/messages/sent", lambda v: int(v) >= 10, timeout=4)
    w.wait("$SYS/broker/bytes/sent", lambda v: int(v) >= 1000, timeout=4)


def test_subscription_and_retained_counts(sysb, raw):
    br, w = sysb
    subs0 = int(w.wait("$SYS/broker/subscriptions/count", timeout=3))
    ret0 = int(w.wait("$SYS/broker/retained messages/count", timeout=3))
    c = raw(br)
    c.connect()
    c.subscribe([("sc/a", 0), ("sc/b", 1), ("sc/#", 2)])
    c.publish("sc/r1", b"r", qos=1, pid=1, retain=True)
    c.publish("sc/r2", b"r", qos=1, pid=2, retain=True)
    w.wait("$SYS/broker/subscriptions/count", lambda v: int(v) >= subs0 + 3, timeout=4)
    w.wait("$SYS/broker/retained messages/count", lambda v: int(v) >= ret0 + 2, timeout=4)


def test_sys_with_mosquitto_sub(broker):
    br = broker("sys_interval 1")
    got = h.mqtt_sub_collect(br.port, "$SYS/broker/version", 1, wait=5)
    assert len(got) == 1 and " version " in got[0][1]


def test_no_sys_when_disabled(broker, raw):
    """sys_interval 0 disables periodic $SYS updates: uptime does not change."""
    br = broker("sys_interval 0")
    c = raw(br)
    c.connect()
    c.subscribe("$SYS/broker/uptime", qos=0)
    seen = []
    end = time.monotonic() + 2.2
    while time.monotonic() < end:
        try:
            seen.append(c.recv_publish(timeout=max(end - time.monotonic(), 0.001)).payload)
        except AssertionError:
            break
    assert len(set(seen)) <= 1, seen
