"""Durable MQTT-SN state: for a clean-session-0 client the topic ids it
knows and its sleep survive a restart of tern (kill -9 or SIGTERM), so a
sleeping sensor that wakes after the gateway restarted gets what was
published for it, with the topic ids it already has."""

import pytest

import sn_client as sn
import tern_harness as h
from svc_helpers import wait_gwinfo
from test_mqttsn import snc  # noqa: F401 (fixture)
from test_mqttsn_durable import sn_persistent_broker

pytestmark = pytest.mark.tern_only


def sleeping_client_with_ids(b, port, snc, client_id):
    c = snc(port, client_id=client_id)
    c.connect(clean=False)
    named = c.subscribe("rs/name", qos=1)["topic_id"]
    c.subscribe("rs/wild/#", qos=1)
    h.mqtt_pub(b.port, "rs/wild/x", "first", qos=1)
    reg = c.expect(sn.REGISTER, auto_regack=False)  # the gateway names the topic
    c.topics[reg["topic_id"]] = reg["topic"]
    c.send(sn.REGACK, sn.struct.pack(">HHB", reg["topic_id"], reg["msg_id"], 0))
    assert c.receive_publish()[:2] == ("rs/wild/x", b"first")
    own = c.register("rs/own")["topic_id"]
    c.sleep(300)
    return c, named, reg["topic_id"], own


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_sleeping_client_wakes_after_restart_with_its_topic_ids(broker, snc, sub, how):
    b, port = sn_persistent_broker(broker)
    c, named, wild, own = sleeping_client_with_ids(b, port, snc, "sn-rs-" + how)
    h.mqtt_pub(b.port, "rs/name", "before", qos=1)  # buffered for the sleeper
    c.expect_nothing(0.3)
    if how == "kill9":
        b.kill9()
        b.start()
    else:
        b.restart()
    wait_gwinfo(port)
    h.mqtt_pub(b.port, "rs/name", "after", qos=1)
    h.mqtt_pub(b.port, "rs/wild/x", "after-wild", qos=2)
    before = dict(c.topics)
    got = c.wake()
    # Restored without a proven address: one REGISTER is the challenge
    # (anti-amplification) and it names a stored id; no id is new.
    assert c.registers_seen <= 1
    assert c.topics == before  # every topic id survived
    assert [(t, p, m["topic_id"]) for t, p, _, m in got] == [
        ("rs/name", b"before", named), ("rs/name", b"after", named),
        ("rs/wild/x", b"after-wild", wild)]
    b.wait_log(r'client="sn-rs-%s" .*asleep before the restart: back with 3 topic ids' % how)
    # Its own REGISTERed id still publishes; then CONNECT makes it active.
    s = sub(b, "rs/own", qos=1)
    assert c.publish(own, "mine", qos=1)["rc"] == sn.RC_ACCEPTED
    assert s.wait_messages(1)[0][:2] == ("rs/own", "mine")
    c.connect(clean=False)
    h.mqtt_pub(b.port, "rs/name", "active", qos=1)
    name, data, _, m = c.receive_publish()
    assert (name, data, m["topic_id"]) == ("rs/name", b"active", named)


def test_resumed_session_keeps_topic_ids_across_restart(broker, snc, sub):
    """CONNECT with clean session 0 after a restart: the ids stay valid."""
    b, port = sn_persistent_broker(broker)
    c = snc(port, client_id="sn-rs-ids")
    c.connect(clean=False)
    c.register("rs/first")
    tid = c.register("rs/ids")["topic_id"]
    b.restart()
    wait_gwinfo(port)
    c.connect(clean=False)
    s = sub(b, "rs/ids", qos=1)
    ack = c.publish(tid, "kept id", qos=1)  # no REGISTER after the restart
    assert (ack["topic_id"], ack["rc"]) == (tid, sn.RC_ACCEPTED)
    assert s.wait_messages(1)[0][:2] == ("rs/ids", "kept id")
    assert c.register("rs/ids")["topic_id"] == tid


def test_clean_session_client_is_not_restored(broker, snc):
    b, port = sn_persistent_broker(broker)
    c = snc(port, client_id="sn-rs-clean")
    c.connect(clean=True)
    c.subscribe("rs/clean", qos=1)
    c.sleep(300)
    b.kill9()
    b.start()
    wait_gwinfo(port)
    c.send(sn.PINGREQ, b"sn-rs-clean")
    c.expect_nothing(0.5)  # nothing to wake: dropped as from an unknown peer


def test_client_lost_while_asleep_is_not_revived_by_a_restart(broker, snc):
    b, port = sn_persistent_broker(broker)
    c = snc(port, client_id="sn-rs-lost")
    c.connect(clean=False)
    c.register("rs/lost")
    c.sleep(1)
    b.wait_log(r'client="sn-rs-lost" .*lost: asleep with no PINGREQ', timeout=1.5 + 4)
    b.restart()
    wait_gwinfo(port)
    c.send(sn.PINGREQ, b"sn-rs-lost")
    c.expect_nothing(0.5)
