"""MQTT 5 session expiry at one-second resolution (issue 10: "a session
with Session Expiry Interval 1 s (or 5 s) is still resumed with Session
Present 1 seconds after the interval passed; only a sweep every 60 s
removes it").

MQTT 5.0 section 3.1.2.11.2: the session ends Session Expiry Interval
seconds after the Network Connection is closed; [MQTT-3.2.2-3]: Session
Present 0 when the server has no session for the client id. Paho's
test_session_expiry fails on the old behaviour. mosquitto 2.0.11 passes
this file (TERN_TEST_BROKER=mosquitto).
"""

import time

import svc_helpers as sh
import tern_harness as h

TOPIC = "exp/t"


def open_session(br, cid, expiry_s, subscribe=True):
    """Clean Start 0 with Session Expiry Interval expiry_s; subscribes to
    TOPIC at QoS 1 and DISCONNECTs (reason 0) at once. Returns the
    monotonic time of the DISCONNECT."""
    c, ack = sh.v5_client(br.port, cid, clean=False, props=sh.session_expiry_prop(expiry_s))
    try:
        if subscribe:
            c.send(sh.v5_subscribe_packet(1, [(TOPIC, 1)]))
            assert sh.v5_suback_reasons(c.expect(h.SUBACK)) == [1]
        c.send(h.disconnect_packet())
        c.expect_closed(timeout=5)
        return time.monotonic()
    finally:
        c.close()


def sleep_until(t):
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


def reconnect(br, cid, expiry_s):
    return sh.v5_client(br.port, cid, clean=False, props=sh.session_expiry_prop(expiry_s))


def test_session_expired_after_interval_not_resumed(broker):
    """Session Expiry Interval 1: reconnecting 2.5 s after the DISCONNECT
    with Clean Start 0 gets Session Present 0."""
    br = broker()
    gone = open_session(br, "exp-1s", 1)
    sleep_until(gone + 2.5)
    c, ack = reconnect(br, "exp-1s", 1)
    c.close()
    assert ack.session_present == 0, "session resumed 2.5 s after a 1 s expiry interval"


def test_session_within_interval_resumed(broker):
    """Session Expiry Interval 5: reconnecting 3 s after the DISCONNECT
    with Clean Start 0 gets Session Present 1 (the control: the expiry
    must not be early)."""
    br = broker()
    gone = open_session(br, "exp-5s", 5)
    sleep_until(gone + 3.0)
    c, ack = reconnect(br, "exp-5s", 5)
    c.close()
    assert ack.session_present == 1, "session gone 3 s into a 5 s expiry interval"


def test_session_5s_interval_expired_at_7s(broker):
    """Session Expiry Interval 5: reconnecting 7 s after the DISCONNECT
    with Clean Start 0 gets Session Present 0."""
    br = broker()
    gone = open_session(br, "exp-5s-late", 5)
    sleep_until(gone + 7.0)
    c, ack = reconnect(br, "exp-5s-late", 0)
    c.close()
    assert ack.session_present == 0, "session resumed 7 s after a 5 s expiry interval"


def test_expired_session_subscription_queues_nothing(broker, raw):
    """Session Expiry Interval 1, subscribed to exp/t at QoS 1: 2.5 s after
    the DISCONNECT (expired) a QoS 1 message is published to exp/t. A
    CONNECT with Clean Start 0 then finds no session and nothing queued:
    the expired session's subscription took nothing."""
    br = broker()
    gone = open_session(br, "exp-q", 1)
    sleep_until(gone + 2.5)
    p = raw(br)
    p.connect("exp-pub")
    p.publish(TOPIC, b"after-expiry", qos=1, pid=1)
    p.disconnect()
    c, ack = reconnect(br, "exp-q", 1)
    try:
        try:
            pkt = c.expect(h.PUBLISH, timeout=1.0)
        except AssertionError:
            pkt = None
        assert pkt is None, "queued for the expired session: %r" % pkt
        assert ack.session_present == 0
    finally:
        c.close()
