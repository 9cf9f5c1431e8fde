"""pytest fixtures for the integration tests (see tern_harness.py).

Run against Tern:       TERN_BIN=build/gateway/tern python3 -m pytest -q
Run against mosquitto:  TERN_TEST_BROKER=mosquitto python3 -m pytest -q

Markers:
  tern_only          Tern-specific behaviour; skipped under mosquitto.
  mosquitto_differs  mosquitto 2.0.11 deviates from MQTT 3.1.1 here (the test's
                     docstring says how); the test follows the spec and is
                     skipped under mosquitto.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tern_harness as h  # noqa: E402
import upstream as up  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "tern_only: Tern-specific behaviour, skipped for mosquitto")
    config.addinivalue_line("markers",
                            "mosquitto_differs: mosquitto deviates from the spec here; "
                            "skipped for mosquitto")


def pytest_collection_modifyitems(config, items):
    if not h.IS_MOSQUITTO:
        return
    skip_tern = pytest.mark.skip(reason="tern_only: Tern-specific behaviour")
    skip_diff = pytest.mark.skip(reason="mosquitto_differs: mosquitto deviates from the spec")
    for item in items:
        if "tern_only" in item.keywords:
            item.add_marker(skip_tern)
        elif "mosquitto_differs" in item.keywords:
            item.add_marker(skip_diff)


def pytest_report_header(config):
    return "broker under test: %s (%s)" % (h.BROKER_KIND, h.broker_bin())


@pytest.fixture
def broker(tmp_path):
    """Factory: broker(conf_extra="", persistence=False, name=..., ...) -> Broker.

    Every broker is stopped at teardown (SIGTERM, 5 s, SIGKILL) and the test
    fails if one exited uncleanly or its log holds a sanitizer report.
    """
    made = []
    counter = [0]

    def make(conf_extra="", **kw):
        counter[0] += 1
        kw.setdefault("name", "broker%d" % counter[0])
        b = h.Broker(tmp_path, conf_extra, **kw)
        made.append(b)
        return b

    yield make
    problems = []
    for b in made:
        try:
            b.stop()
        except Exception as e:  # keep stopping the others
            problems.append("%s: stop failed: %r" % (b.dir, e))
        for p in b.problems():
            problems.append("%s: %s" % (b.dir, p))
    if problems:
        logs = "\n".join("--- %s ---\n%s" % (b.log_path, b.log()[-4000:]) for b in made)
        pytest.fail("broker problems: %s\n%s" % ("; ".join(problems), logs), pytrace=False)


def _client_factory(cls):
    """(make, made): make(port_or_broker, ...) -> cls(port, ...), remembered
    in made so that the fixture closes every one at teardown."""
    made = []

    def make(target, *args, **kw):
        port = target.port if isinstance(target, h.Broker) else target
        c = cls(port, *args, **kw)
        made.append(c)
        return c

    return make, made


@pytest.fixture
def raw(broker):
    """Factory: raw(port_or_broker, timeout=5) -> RawClient, closed at teardown."""
    make, made = _client_factory(h.RawClient)
    yield make
    for c in made:
        c.close()


@pytest.fixture
def paho(broker):
    """Factory: paho(port_or_broker, client_id=None, clean_session=True, ...)."""
    make, made = _client_factory(h.PahoClient)
    yield make
    for c in made:
        c.close()


@pytest.fixture
def sub(broker):
    """Factory: sub(port_or_broker, topics, qos=0, ...) -> SubProc (subscribed)."""
    make_proc, made = _client_factory(h.SubProc)

    def make(target, topics, wait_subscribed=True, **kw):
        s = make_proc(target, topics, **kw)
        if wait_subscribed:
            s.wait_subscribed()
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def upstream(tmp_path):
    """Factory: upstream(start=True, persistence=False, tls=None, ...) ->
    upstream.Upstream, a real mosquitto standing for the cloud broker a
    bridge connects to; every one is stopped at teardown."""
    made = []

    def make(start=True, **kw):
        kw.setdefault("name", "upstream%d" % (len(made) + 1))
        u = up.Upstream(tmp_path, **kw)
        made.append(u)
        if start:
            u.start()
        return u

    yield make
    for u in made:
        u.stop()
