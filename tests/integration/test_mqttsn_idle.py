"""An MQTT-SN client that CONNECTs with keep-alive duration 0 (no
keep-alive) is still supervised (issue 11): after mqttsn_idle_timeout
without a message the gateway takes it as lost, publishes its will, and
ends its session (clean) or keeps it (persistent), as for a keep-alive
timeout."""

import re
import time

import pytest

import sn_client as sn
import tern_harness as h
from test_mqttsn import sn_broker, snc  # noqa: F401

pytestmark = pytest.mark.tern_only


def test_duration_zero_client_lost_after_idle_timeout(broker, snc, sub):
    b, port = sn_broker(broker, "mqttsn_idle_timeout 2\n")
    s = sub(b, "wills/#", qos=1)
    c = snc(port, client_id="sn-idle")
    c.connect(duration=0, will=("wills/sn-idle", "vanished", 1, False))
    busy = snc(port, client_id="sn-busy")
    busy.connect(duration=0)
    t0 = time.monotonic()
    for _ in range(6):  # busy keeps talking: never idle for 2 s
        time.sleep(0.5)
        busy.ping()
    msgs = s.wait_messages(1, timeout=5)
    assert msgs[0][:3] == ("wills/sn-idle", "vanished", 1)
    assert time.monotonic() - t0 >= 1.8
    b.wait_log(r'client="sn-idle" peer=\S+ lost: keep-alive duration 0 and no message for 2 s '
               r"\(mqttsn_idle_timeout\)")
    busy.ping()  # still connected
    assert not re.search(r'client="sn-busy" .*lost', b.log())
    # The lost client is gone: its messages are from a peer not connected.
    c.send(sn.PINGREQ)
    c.expect_nothing(0.5)


def test_duration_zero_persistent_session_kept(broker, snc):
    b, port = sn_broker(broker, "mqttsn_idle_timeout 1\n")
    c = snc(port, client_id="sn-idle-keep")
    c.connect(clean=False, duration=0)
    c.subscribe("idle/keep", qos=1)
    b.wait_log(r'client="sn-idle-keep" .*lost: keep-alive duration 0', timeout=5)
    h.mqtt_pub(b.port, "idle/keep", "kept", qos=1)
    c2 = snc(port, client_id="sn-idle-keep")
    c2.connect(clean=False, duration=60)
    assert c2.receive_publish()[:2] == ("idle/keep", b"kept")
