"""MQTT-SN 1.2 sleeping clients (section 6.14): DISCONNECT with a duration,
buffering while asleep, wake-up by PINGREQ or CONNECT, a client lost when it
oversleeps. The MQTT-SN side is tests/integration/sn_client.py, the MQTT side
mosquitto_pub / mosquitto_sub."""

import time

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn import sn_broker, snc  # noqa: F401 (fixture)

pytestmark = pytest.mark.tern_only


def test_sleeping_client_gets_buffered_messages_before_pingresp(broker, snc, sub):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-sleepy")
    c.connect(clean=False, duration=30)
    named = c.subscribe("cmd/named", qos=1)["topic_id"]
    c.subscribe("cmd/wild/+", qos=2)
    assert c.sleep(60)["duration"] is None  # §6.14: the gateway answers DISCONNECT
    b.wait_log(r'client="sn-sleepy" .*asleep for 60 s')
    h.mqtt_pub(b.port, "cmd/named", "one", qos=1)
    h.mqtt_pub(b.port, "cmd/wild/a", "two", qos=2)
    h.mqtt_pub(b.port, "cmd/named", "three", qos=0)
    c.expect_nothing(0.5)  # nothing goes to a sleeping client
    got = c.wake()  # REGISTER for cmd/wild/a, three PUBLISH, then PINGRESP
    assert [(t, p, q) for t, p, q, _ in got] == [
        ("cmd/named", b"one", 1), ("cmd/wild/a", b"two", 2), ("cmd/named", b"three", 0)]
    assert got[0][3]["topic_id"] == named
    # Asleep again: later messages wait for the next PINGREQ.
    h.mqtt_pub(b.port, "cmd/named", "four", qos=1)
    c.expect_nothing(0.5)
    assert [(t, p) for t, p, _, _ in c.wake()] == [("cmd/named", b"four")]
    assert c.wake() == []  # nothing buffered: PINGRESP at once
    # The sleeping client still publishes through the gateway.
    s = sub(b, "up/t", qos=1)
    tid = c.register("up/t")["topic_id"]
    assert c.publish(tid, "from-sleeper", qos=1)["rc"] == sn.RC_ACCEPTED
    assert s.wait_messages(1)[0][:2] == ("up/t", "from-sleeper")


def test_sleep_buffer_full_drops_qos0_first(broker, snc):
    b, port = sn_broker(broker, "max_queued_messages 5")
    c = snc(port, client_id="sn-full")
    c.connect(clean=False)
    c.subscribe("buf/t", qos=1)
    c.sleep(60)
    h.mqtt_pub(b.port, "buf/t", "a", qos=1)
    for i in range(1, 7):
        h.mqtt_pub(b.port, "buf/t", "z%d" % i, qos=0)
    h.mqtt_pub(b.port, "buf/t", "b", qos=1)
    b.wait_log(r'client="sn-full" sleep buffer full \(5 messages\)')
    got = [(d, q) for _, d, q, _ in c.wake()]
    # Five places: each message past them pushed out the oldest QoS 0 one.
    assert got == [(b"a", 1), (b"z4", 0), (b"z5", 0), (b"z6", 0), (b"b", 1)]


def test_client_that_oversleeps_is_lost_and_its_will_published(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "wills/#", qos=1)
    c = snc(port, client_id="sn-oversleep")
    c.connect(clean=True, duration=60, will=("wills/sn-oversleep", "overslept", 1, False))
    t0 = time.monotonic()
    c.sleep(1)
    msgs = s.wait_messages(1, timeout=1.5 + h.KEEPALIVE_SLACK + 2)
    assert msgs[0][:2] == ("wills/sn-oversleep", "overslept")
    assert time.monotonic() - t0 >= 1.2
    b.wait_log(r'client="sn-oversleep" .*lost: asleep with no PINGREQ or CONNECT')
    c.send(sn.PINGREQ, b"sn-oversleep")
    c.expect_nothing(0.5)  # forgotten: no PINGRESP


def test_pingreq_within_duration_keeps_sleeping_client(broker, snc, sub):
    b, port = sn_broker(broker)
    s = sub(b, "wills/#", qos=1)
    c = snc(port, client_id="sn-napper")
    c.connect(duration=60, will=("wills/sn-napper", "gone", 0, False))
    c.sleep(2)
    for _ in range(3):
        time.sleep(1.5)
        assert c.wake() == []
    assert s.msgs == []


def test_connect_wakes_sleeping_client_with_its_buffer_and_topic_ids(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-riser")
    c.connect(clean=False, duration=60)
    tid = c.subscribe("rise/t", qos=1)["topic_id"]
    c.sleep(60)
    h.mqtt_pub(b.port, "rise/t", "while-asleep", qos=1)
    h.mqtt_pub(b.port, "rise/t", "q0-while-asleep", qos=0)
    c.expect_nothing(0.3)
    c.connect(clean=False, duration=60)  # back to active (§6.14)
    name, data, qos, m = c.receive_publish()
    assert (name, data, qos, m["topic_id"]) == ("rise/t", b"while-asleep", 1, tid)
    assert c.receive_publish()[1] == b"q0-while-asleep"
    # Active again: messages flow at once, PINGREQ gets PINGRESP at once.
    h.mqtt_pub(b.port, "rise/t", "active", qos=1)
    assert c.receive_publish()[1] == b"active"
    c.ping()


def test_unacked_message_before_sleep_resent_with_dup_on_wake(broker, snc):
    b, port = sn_broker(broker, "mqttsn_retry_interval 1")
    c = snc(port, client_id="sn-doze")
    c.connect(clean=False, duration=60)
    c.subscribe("doze/t", qos=1)
    h.mqtt_pub(b.port, "doze/t", "early", qos=1)
    first = c.expect(sn.PUBLISH)
    assert not first["dup"]
    c.sleep(60)  # without acknowledging it
    c.expect_nothing(2.5)  # no retransmission to a sleeping client (Tretry 1 s)
    c.send(sn.PINGREQ, b"sn-doze")
    again = c.expect(sn.PUBLISH)
    assert again["dup"] and again["msg_id"] == first["msg_id"] and again["data"] == b"early"
    c.expect_nothing(0.3)  # PINGRESP waits for the PUBACK
    c.send(sn.PUBACK, sn.struct.pack(">HHB", again["topic_id"], again["msg_id"], 0))
    c.expect(sn.PINGRESP)


def test_pingreq_with_another_id_does_not_wake(broker, snc):
    b, port = sn_broker(broker)
    c = snc(port, client_id="sn-owner")
    c.connect(clean=False, duration=60)
    c.subscribe("own/t", qos=0)
    c.sleep(60)
    h.mqtt_pub(b.port, "own/t", "x", qos=0)
    c.send(sn.PINGREQ, b"someone-else")
    c.expect_nothing(0.5)
    b.wait_log(r"PINGREQ with another client's id")
    assert [(t, p) for t, p, _, _ in c.wake()] == [("own/t", b"x")]
