"""bridge_attempt_unsubscribe: the bridge unsubscribes upstream only from
the filters an earlier run subscribed and no `in` line asks for any more,
never from an out topic (mosquitto's way: every out-only filter at every
connection, which on ejabberd cut the cloud's own subscribers off; see
test_bridge_ejabberd.py). Upstream: a real mosquitto with a persistent
session for the bridge."""

import time

import bridge_checks as bc
import tern_harness as h


def test_a_filter_an_earlier_run_subscribed_is_unsubscribed_once(broker, upstream):
    u = upstream(name="cloud", persistence=True)
    gw = broker(bc.bridge_conf(u.port, ["old/# in 1", "keep/# in 1"],
                               "cleansession false\n", clientid="u-gw"), persistence=True)
    bc.wait_connected(gw)
    assert "remote unsubscribe" not in gw.log()
    gw.stop()
    # The next run no longer brings old/# in; out lines are never
    # unsubscribed.
    gw.write_config(bc.bridge_conf(u.port, ["keep/# in 1", "new/# out 1"],
                                   "cleansession false\n", clientid="u-gw"))
    gw.start()
    bc.wait_connected(gw, 2)
    log = gw.log()
    assert log.count('remote unsubscribe "old/#"') == 1, log[-3000:]
    assert 'remote unsubscribe "new/#"' not in log
    assert 'remote unsubscribe "keep/#"' not in log
    app = h.PahoClient(gw.port, client_id="u-app")
    cloud = h.PahoClient(u.port, client_id="u-cloud")
    try:
        app.subscribe("#", 1)
        time.sleep(0.5)
        cloud.publish("old/x", b"stale", qos=1)
        cloud.publish("keep/x", b"kept", qos=1)
        m = app.get(10)
        assert (m.topic, m.payload) == ("keep/x", b"kept")
        app.no_message(1.0)
        assert "matches no in line" not in gw.log()   # old/# is gone upstream
    finally:
        app.close()
        cloud.close()
    # Recorded once: a third run has nothing to unsubscribe.
    gw.restart()
    bc.wait_connected(gw, 3)
    assert gw.log().count("remote unsubscribe") == 1
