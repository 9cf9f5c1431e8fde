"""MQTT-SN QoS -1 publishes obey the listener's admission rules (issue 10:
"MQTT-SN QoS -1 publishes ignore `allow_anonymous false` and
`mqttsn_allowed_clients`; they are refused only when an `acl_file`
exists").

A QoS -1 PUBLISH (MQTT-SN 1.2 section 6.8, flags 0x60) comes from a peer
that never connected: it has no client id and no username, so it is
anonymous and in no allow list. On a listener with `allow_anonymous false`
or with `mqttsn_allowed_clients` it must not be delivered; on an open
listener (allow_anonymous true, no list) it is (the control). Both topic
forms a QoS -1 publish may use are tried: a predefined topic id
(`mqttsn_predefined_topics`) and a short topic name.
"""

import struct

import pytest

import sn_client as sn
import svc_helpers as sh
from test_mqttsn import snc  # noqa: F401 (fixture)

pytestmark = pytest.mark.tern_only

PREDEF_ID, PREDEF_TOPIC = 10, "sensors/t"
SHORT = "th"
WATCH = {"watch": "w-pw"}
TOPIC_FORMS = ["predefined", "short"]


def qosm1_broker(broker, tmp_path, extra="", allow_anonymous=True):
    """An MQTT-SN listener with a predefined topic, plus a password file
    with user watch (so a watcher can connect when anonymous clients may
    not). Returns (broker, UDP port)."""
    pre = sh.write_file(tmp_path / "predefined.conf", "*, %s, %d\n" % (PREDEF_TOPIC, PREDEF_ID))
    pw = sh.make_password_file(tmp_path / "passwd", WATCH)
    port = sn.free_udp_port()
    br = broker("password_file %s\n%s\nmqttsn_predefined_topics %s\n%s"
                % (pw, sh.sn_listener(port), pre, extra), allow_anonymous=allow_anonymous)
    sh.wait_gwinfo(port)
    return br, port


def watcher(br, raw):
    w = raw(br)
    w.connect("qosm1-watch", username="watch", password=WATCH["watch"])
    assert w.subscribe([(PREDEF_TOPIC, 0), (SHORT, 0)]) == [0, 0]
    return w


def send_qosm1(c, form, data):
    """One QoS -1 PUBLISH datagram (flags 0x60 | topic id type)."""
    if form == "predefined":
        body = bytes([0x60 | sn.TOPIC_PREDEFINED]) + struct.pack(">HH", PREDEF_ID, 0)
    else:
        body = bytes([0x60 | sn.TOPIC_SHORT]) + SHORT.encode() + struct.pack(">H", 0)
    c.send(sn.PUBLISH, body + data)


def topic_of(form):
    return PREDEF_TOPIC if form == "predefined" else SHORT


def not_delivered(br, raw, w, form):
    """Nothing within 0.5 s, then a marker published over MQTT on the same
    topic is the first thing the watcher sees."""
    w.no_packet(0.5)
    m = raw(br)
    m.connect("qosm1-marker", username="watch", password=WATCH["watch"])
    m.publish(topic_of(form), b"marker", qos=1, pid=1)
    m.disconnect()
    p = w.recv_publish(timeout=5)
    assert (p.topic, p.payload) == (topic_of(form), b"marker"), (
        "QoS -1 publish from a peer that never connected was delivered: %r %r"
        % (p.topic, p.payload))


@pytest.mark.parametrize("form", TOPIC_FORMS)
def test_qosm1_not_delivered_with_allow_anonymous_false(broker, raw, snc, tmp_path, form):
    """allow_anonymous false: a QoS -1 PUBLISH from a peer that never
    connected (anonymous by definition) is dropped."""
    br, port = qosm1_broker(broker, tmp_path, allow_anonymous=False)
    w = watcher(br, raw)
    send_qosm1(snc(port), form, b"from-nobody")
    not_delivered(br, raw, w, form)


@pytest.mark.parametrize("form", TOPIC_FORMS)
def test_qosm1_not_delivered_with_allowed_clients_list(broker, raw, snc, tmp_path, form):
    """mqttsn_allowed_clients th-01 (allow_anonymous true): a QoS -1
    PUBLISH has no client id, so it is not from th-01: dropped."""
    br, port = qosm1_broker(broker, tmp_path, "mqttsn_allowed_clients th-01")
    w = watcher(br, raw)
    send_qosm1(snc(port), form, b"from-nobody")
    not_delivered(br, raw, w, form)


@pytest.mark.parametrize("form", TOPIC_FORMS)
def test_qosm1_delivered_on_open_listener(broker, raw, snc, tmp_path, form):
    """Control: allow_anonymous true and no allow list: the QoS -1 PUBLISH
    is delivered at QoS 0."""
    br, port = qosm1_broker(broker, tmp_path)
    w = watcher(br, raw)
    send_qosm1(snc(port), form, b"from-anyone")
    p = w.recv_publish(timeout=5)
    assert (p.topic, p.payload, p.qos) == (topic_of(form), b"from-anyone", 0)
