"""MQTT-SN over serial radios (issue 13): each framing on a real pseudo-
terminal pair, Tern on the slave (through a symlink, as a config names
/dev/serial/by-id/...), the test speaking the framing on the master. Every
node on the line is an ordinary client session in the one topic space."""

import struct

import pytest

import serial_link as sl
import sn_client as sn
import tern_harness as h

pytestmark = pytest.mark.tern_only

XBEE_A = b"\x00\x13\xa2\x00\x40\xa1\xb2\xc3"
XBEE_B = b"\x00\x13\xa2\x00\x40\x7e\x11\x13"   # octets mode 2 must escape


@pytest.fixture
def links(tmp_path):
    """Factory: links(name, framing, api) -> SerialLink, closed at teardown."""
    made = []

    def make(name="radio", framing="raw", api=2):
        link = sl.SerialLink(tmp_path, name, framing, api)
        made.append(link)
        return link

    yield make
    for link in made:
        link.close()


def serial_block(link, extra=""):
    text = "mqttsn_serial %s\nmqttsn_serial_framing %s\n" % (link.path, link.framing)
    if link.framing == "xbee":
        text += "mqttsn_serial_xbee_api %d\n" % link.api
    return text + extra


def serial_broker(broker, blocks, **kw):
    b = broker("".join(blocks), **kw)
    for text in blocks:
        path = text.split()[1]
        b.wait_log(r"port=%s open" % path.replace(".", r"\."))
    return b


def client(link, client_id, node_id=None, xbee_addr=None, timeout=5.0):
    return sn.SNClient(0, client_id=client_id, node_id=node_id, timeout=timeout,
                       sock=link.sock(node_id=node_id, xbee_addr=xbee_addr))


def round_trip(b, c, sub, topic, qos=1):
    """c publishes to topic (MQTT subscriber sees it) and receives what an
    MQTT client publishes to topic/down."""
    s = sub(b, topic, qos=qos)
    c.connect()
    tid = c.register(topic)["topic_id"]
    ack = c.publish(tid, "up-" + c.client_id, qos=qos)
    if qos:
        assert ack["rc"] == sn.RC_ACCEPTED
    assert s.wait_messages(1)[0][:2] == (topic, "up-" + c.client_id)
    c.subscribe(topic + "/down", qos=qos)
    h.mqtt_pub(b.port, topic + "/down", "down-" + c.client_id, qos=qos)
    got = c.receive_publish()
    assert got[:3] == (topic + "/down", ("down-" + c.client_id).encode(), qos)


@pytest.mark.parametrize("framing,api", [("raw", 2), ("slip", 2), ("xbee", 1), ("xbee", 2)])
def test_each_framing_carries_a_client(broker, links, sub, framing, api):
    link = links(framing=framing, api=api)
    b = serial_broker(broker, [serial_block(link)])
    c = client(link, "ser-" + framing, xbee_addr=XBEE_A if framing == "xbee" else None)
    assert c.searchgw()["gw_id"] == 1
    round_trip(b, c, sub, "ser/%s/%d" % (framing, api))
    c.disconnect()
    b.wait_log(r'client="ser-%s" peer=radio' % framing +
               (r"/xbee=0013a20040a1b2c3" if framing == "xbee" else ""))


def test_raw_forwarder_nodes_are_distinct_clients(broker, links, sub):
    link = links(framing="raw")
    b = serial_broker(broker, [serial_block(link)])
    nodes = [client(link, "fwd-%d" % i, node_id=bytes([0x10 + i])) for i in range(3)]
    s = sub(b, "fwd/#", qos=1)
    for i, c in enumerate(nodes):
        c.connect()
        tid = c.register("fwd/%d" % i)["topic_id"]
        assert c.publish(tid, "n%d" % i, qos=1)["rc"] == sn.RC_ACCEPTED
    assert sorted(m[:2] for m in s.wait_messages(3)) == [
        ("fwd/0", "n0"), ("fwd/1", "n1"), ("fwd/2", "n2")]
    nodes[1].subscribe("fwd/down/1", qos=1)
    h.mqtt_pub(b.port, "fwd/down/1", "only-1", qos=1)
    assert nodes[1].receive_publish()[:2] == ("fwd/down/1", b"only-1")
    nodes[0].expect_nothing(0.3)
    nodes[2].expect_nothing(0.3)
    b.wait_log(r'new client connected from radio/node=11 as "fwd-1"')


def test_slip_forwarder_and_several_xbee_addresses(broker, links, sub):
    slip = links("slip-radio", framing="slip")
    xbee = links("xbee-radio", framing="xbee", api=2)
    b = serial_broker(broker, [serial_block(slip), serial_block(xbee)])
    s = sub(b, "multi/#", qos=1)
    cs = [client(slip, "slip-node-%d" % i, node_id=bytes([0xC0, 0xDB, i])) for i in range(2)]
    cs += [client(xbee, "xbee-%d" % i, xbee_addr=a) for i, a in enumerate((XBEE_A, XBEE_B))]
    for i, c in enumerate(cs):
        c.connect()
        tid = c.register("multi/%d" % i)["topic_id"]
        assert c.publish(tid, "m%d" % i, qos=1)["rc"] == sn.RC_ACCEPTED
    assert sorted(m[1] for m in s.wait_messages(4)) == ["m0", "m1", "m2", "m3"]
    for i, c in enumerate(cs):
        c.subscribe("multi/down/%d" % i, qos=0)
        h.mqtt_pub(b.port, "multi/down/%d" % i, "d%d" % i)
        assert c.receive_publish()[:2] == ("multi/down/%d" % i, ("d%d" % i).encode())
    assert slip.decoder.crc_errors == 0


def test_xbee_gwinfo_and_advertise_are_broadcast(broker, links):
    link = links(framing="xbee", api=2)
    b = serial_broker(broker, [serial_block(link, "mqttsn_advertise_interval 1\n"
                                                  "mqttsn_gateway_id 42\n")])
    h.wait_until(lambda: any(m[1] == sn.ADVERTISE for m in link.broadcasts), timeout=5,
                 msg="ADVERTISE broadcast on the xbee link")
    adv = sn.parse([m for m in link.broadcasts if m[1] == sn.ADVERTISE][0])
    assert adv["gw_id"] == 42 and adv["duration"] == 1
    c = client(link, "xb-search", xbee_addr=XBEE_A)
    c.send(sn.SEARCHGW, b"\x00")
    h.wait_until(lambda: any(m[1] == sn.GWINFO for m in link.broadcasts), timeout=5,
                 msg="GWINFO broadcast")
    assert all(d == sl.XBEE_BROADCAST or d == XBEE_A for _, d in link.decoder.tx_frames)
    b.stop()


def test_xbee_transmit_status_failure_is_counted(broker, links, sub):
    link = links(framing="xbee", api=2)
    b = serial_broker(broker, [serial_block(link)])
    link.write(sl.xbee_frame(b"\x8b\x01\xff\xfe\x00\x21\x00"))   # network ACK failure
    b.wait_log(r"xbee transmit status 0x21 for frame 1: not delivered")
    name = link.path.lstrip("/").replace("/", "_")
    s = sub(b, "$SYS/broker/mqttsn/serial/%s/xbee/tx_failed" % name)
    h.wait_until(lambda: any(m[1] == "1" for m in s.msgs), timeout=15,
                 msg="$SYS xbee/tx_failed 1")


def test_list_ports_prints_what_to_configure():
    import re
    import subprocess
    out = subprocess.run([h.broker_bin(), "--list-ports"], capture_output=True, timeout=30,
                         text=True, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "no serial ports found":
        return
    # every port: its path, then indented details ending with the line to configure
    blocks = re.findall(r"^(/\S+)\n((?:    .*\n)*?)    mqttsn_serial (/\S+)\n", out.stdout, re.M)
    assert blocks, out.stdout
    for path, details, name in blocks:
        assert name == path or name.startswith("/dev/serial/by-id/")
        for line in details.splitlines():
            assert re.match(r"    (usb [0-9a-f]{4}:[0-9a-f]{4}( {2}serial \S.*)?|description .+)$",
                            line), line


def test_sys_figures_per_port(broker, links, sub):
    link = links(framing="slip")
    b = serial_broker(broker, [serial_block(link)])
    c = client(link, "sys-node")
    c.connect()
    c.ping()
    bad = bytearray(sl.slip_encode(sn.frame(sn.PINGREQ)))
    bad[2] ^= 0x40
    link.write(bytes(bad))                       # one CRC error
    link.write(b"\xc0\x02\xdb\x01\x16\xc0")      # one framing error (bad escape)
    c.ping()
    name = link.path.lstrip("/").replace("/", "_")
    s = sub(b, "$SYS/broker/mqttsn/serial/%s/#" % name, wait=30)

    def figs():
        return {t.rsplit(name + "/", 1)[1]: v for t, v, _, _ in s.msgs}

    h.wait_until(lambda: len(figs()) >= 14 and figs().get("errors/framing") == "1",
                 timeout=15, msg="every $SYS figure of the port")
    f = figs()
    assert f["state"] == "open"
    assert f["clients"] == "1"
    assert f["errors/crc"] == "1"
    assert int(f["frames/in"]) >= 3 and int(f["frames/out"]) >= 3
    assert int(f["octets/in"]) > int(f["frames/in"]) * 4
    assert int(f["octets/out"]) > 0
    assert f["opens"] == "1" and f["losses"] == "0"
    assert f["dropped/qos0"] == "0" and f["xbee/tx_failed"] == "0"


def test_tretry_default_scales_with_the_line_and_retransmits(broker, links):
    slow = links("slow", framing="raw")
    fast = links("fast", framing="raw")
    b = serial_broker(broker, [serial_block(slow, "mqttsn_serial_baud 9600\n"),
                               serial_block(fast, "mqttsn_retry_interval 1\n")])
    # 10 s + a full output queue + two largest messages at the line rate
    b.wait_log(r"serial port \S+/slow: MQTT-SN gateway \(Tretry 29733 ms\)")
    b.wait_log(r"serial port \S+/fast: MQTT-SN gateway \(Tretry 1000 ms\)")
    c = client(fast, "retry-node")
    c.connect()
    c.subscribe("retry/t", qos=1)
    h.mqtt_pub(b.port, "retry/t", "again", qos=1)
    first = c.expect(sn.PUBLISH)
    assert not first["dup"]
    again = c.expect(sn.PUBLISH, timeout=3)   # not acknowledged: sent again after Tretry
    assert again["dup"] and again["msg_id"] == first["msg_id"]


def test_check_config_names_the_bad_serial_line(tmp_path):
    import subprocess
    conf = tmp_path / "bad.conf"
    conf.write_text("listener 1883\nmqttsn_serial /dev/ttyUSB0\nmqttsn_serial_framing hdlc\n")
    out = subprocess.run([h.broker_bin(), "-c", str(conf), "--check-config"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    assert "bad.conf:3: option 'mqttsn_serial_framing': expected raw, slip or xbee, got 'hdlc'" \
        in out.stderr
    conf.write_text("listener 1883\nmqttsn_serial /dev/ttyUSB0\nmqttsn_serial_baud 9600\n"
                    "mqttsn_serial /dev/ttyUSB1\n")
    out = subprocess.run([h.broker_bin(), "-c", str(conf), "--check-config"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert "configuration OK (3 listeners" in out.stdout


def test_sighup_keeps_serial_ports_and_their_clients(broker, links):
    import signal
    a = links("radio-a", framing="slip")
    c_link = links("radio-b", framing="raw")
    b = serial_broker(broker, [serial_block(a, "max_connections 5\n"), serial_block(c_link)])
    ca = client(a, "hup-a")
    cb = client(c_link, "hup-b")
    ca.connect()
    cb.connect()
    b.signal(signal.SIGHUP)
    b.wait_log(r"SIGHUP: reloading configuration")
    ca.ping()
    cb.ping()
    assert b.log().count("port=%s open" % a.path) == 1   # not re-opened
