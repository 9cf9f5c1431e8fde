"""The topic-id registry of a durable MQTT-SN session is stored one record
per id (issue 11, REGISTER amplification): before, each new id rewrote the
whole registry in the store, so 2 MB of REGISTERs caused hundreds of MB of
disk writes. The ids still survive a restart and a take-over."""

import struct
import time

import pytest

import sn_client as sn
import tern_harness as h
from svc_helpers import wait_gwinfo
from test_mqttsn import snc  # noqa: F401 (fixture)
from test_mqttsn_durable import sn_persistent_broker

pytestmark = pytest.mark.tern_only
NAME_LEN = 1000


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes"):
                return int(line.split()[1])
    raise AssertionError("no write_bytes in /proc/%d/io" % pid)


def sync_rounds(b, c, sync, n, register):
    """n rounds of [REGISTER of a new 1000-byte name,] a retained QoS 1
    PUBLISH; returns (bytes Tern wrote to disk, REGISTER bytes sent). The
    retained message is acknowledged after its commit, so each round is one
    commit whatever the store's grouping."""
    before = write_bytes(b.proc.pid)
    sent = 0
    for i in range(n):
        if register:  # back to back with the PUBLISH: read in the same loop turn
            name = ("reg/%d/" % i).ljust(NAME_LEN, "x")
            d = sn.frame(sn.REGISTER, struct.pack(">HH", 0, c.msg_id()) + name.encode())
            sent += len(d)
            c.send_raw(d)
        c.publish_raw(sync, "s", qos=1, retain=True)
        if register:
            assert c.expect(sn.REGACK)["rc"] == sn.RC_ACCEPTED
        assert c.expect(sn.PUBACK)["rc"] == sn.RC_ACCEPTED
    return write_bytes(b.proc.pid) - before, sent


def test_registers_write_one_record_each(broker, snc):
    b, port = sn_persistent_broker(broker)
    c = snc(port, client_id="sn-many-ids", timeout=10)
    c.connect(clean=False)
    sync = c.register("sync/r")["topic_id"]
    time.sleep(0.3)
    base, _ = sync_rounds(b, c, sync, 300, register=False)
    total, sent = sync_rounds(b, c, sync, 300, register=True)
    print("commits alone", base, "with REGISTERs", total, "REGISTER bytes", sent)
    # One small record per id: 16x to 45x the REGISTER bytes here (LMDB
    # writes whole pages). Rewriting the whole registry each time cost about
    # 210x (and grows with the square of the number of ids).
    assert total - base < 80 * sent, (total, base, sent)


def test_ids_survive_restart_and_take_over(broker, snc, sub):
    b, port = sn_persistent_broker(broker)
    c = snc(port, client_id="sn-keep-ids")
    c.connect(clean=False)
    ids = [c.register("keep/%d" % i)["topic_id"] for i in range(3)]
    time.sleep(0.3)  # a REGACK does not wait for the commit: let it land
    b.kill9()
    b.start()
    wait_gwinfo(port)
    s = sub(b, "keep/#", qos=1)
    c.connect(clean=False)
    for i, tid in enumerate(ids):
        assert c.publish(tid, "after-restart-%d" % i, qos=1)["rc"] == sn.RC_ACCEPTED
    # The same client id from another address takes the session over: it
    # keeps the ids (they come from the session, not the old client).
    t = snc(port, client_id="sn-keep-ids")
    t.connect(clean=False)
    assert t.publish(ids[1], "taken-over", qos=1)["rc"] == sn.RC_ACCEPTED
    got = s.wait_messages(4)
    assert [m[:2] for m in got] == [("keep/0", "after-restart-0"), ("keep/1", "after-restart-1"),
                                    ("keep/2", "after-restart-2"), ("keep/1", "taken-over")]


def test_forgotten_id_stays_forgotten_after_restart(broker, snc):
    b, port = sn_persistent_broker(broker)
    c = snc(port, client_id="sn-forget")
    c.connect(clean=False)
    tid = c.subscribe("forget/t", qos=1)["topic_id"]
    h.mqtt_pub(b.port, "forget/t", "one", qos=1)
    m = c.expect(sn.PUBLISH)  # after the REGISTER that proves the address
    assert m["topic_id"] == tid
    # The client says it does not know the id: the gateway forgets it.
    c.send(sn.PUBACK, struct.pack(">HHB", tid, m["msg_id"], sn.RC_INVALID_TOPIC_ID))
    c.ping()
    time.sleep(0.3)  # let the commit land
    b.kill9()
    b.start()
    wait_gwinfo(port)
    c.connect(clean=False)
    assert c.publish(tid, "stale", qos=1)["rc"] == sn.RC_INVALID_TOPIC_ID
