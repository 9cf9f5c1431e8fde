"""Server TLS handshakes run on their own thread (gateway/stream/
tls_hs_worker.c), at a lower priority than the event loop: the handshake
CPU is spent there, not on the loop; a silent client still meets
connect_timeout; clients that leave mid-handshake give their slot back;
a plain-TCP client is served while TLS clients sit mid-handshake.
"""

import os
import socket
import ssl
import threading

import pytest

import tern_harness as h
import tls_certs

pytestmark = pytest.mark.tern_only

HALF_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"  # promises 512 bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return tls_certs.make_pki(str(tmp_path_factory.mktemp("pki")))


def tls_lines(pki):
    return "certfile %s\nkeyfile %s\n" % (os.path.join(pki, "server.pem"),
                                          os.path.join(pki, "server.key"))


def threads(pid):
    """{tid: (comm, nice, cpu ticks)} of the process."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()
        # fields 14, 15 (utime, stime) and 19 (nice), counted from 1
        out[int(tid)] = (comm, int(rest[16]), int(rest[11]) + int(rest[12]))
    return out


def tls_connect(port, ca, client_id):
    ctx = ssl.create_default_context(cafile=ca)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(h.connect_packet(client_id))
    ack = t.recv(4)
    t.close()
    return ack[:1] == b"\x20"


def test_handshakes_run_on_the_worker_at_lower_priority(broker, pki):
    b = broker(tls_lines(pki))
    pid = b.proc.pid
    before = threads(pid)
    workers = [tid for tid, (comm, _, _) in before.items() if comm == "tern-tls-hs"]
    assert len(workers) == 1, before
    worker = workers[0]
    assert before[worker][1] == min(19, before[pid][1] + 10)  # nice +10 beside the loop
    ca = os.path.join(pki, "ca.pem")
    ok = []

    def many():
        for i in range(20):
            ok.append(tls_connect(b.port, ca, "w-%d-%d" % (threading.get_ident(), i)))

    ts = [threading.Thread(target=many) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(ok) == 60 and all(ok)
    after = threads(pid)
    worker_ticks = after[worker][2] - before[worker][2]
    loop_ticks = after[pid][2] - before[pid][2]
    # 60 server handshakes cost ~240 ms of CPU: on the worker, not the loop
    assert worker_ticks > loop_ticks, (worker_ticks, loop_ticks)


def test_silent_tls_client_meets_connect_timeout(broker, pki):
    b = broker(tls_lines(pki) + "connect_timeout 1\n")
    s = socket.create_connection(("127.0.0.1", b.port), timeout=8)
    try:
        s.sendall(HALF_HELLO)
        assert s.recv(100) == b""  # closed by the worker's deadline
    finally:
        s.close()
    b.wait_log(r"closing: TLS handshake not done within 1 s")


def test_clients_leaving_mid_handshake_give_their_slot_back(broker, pki):
    b = broker(tls_lines(pki) + "max_connections 3\n")
    ca = os.path.join(pki, "ca.pem")
    for _ in range(3):
        socks = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
            s.sendall(HALF_HELLO)
            socks.append(s)
        for s in socks:
            s.close()
    def accepted():
        try:
            return tls_connect(b.port, ca, "after")
        except (OSError, ssl.SSLError):
            return False  # the leavers' slots not yet handed back

    # a slot leaked per closed handshake would leave none for this one
    assert h.wait_until(accepted, timeout=10, msg="TLS client accepted after the leavers")


def test_plain_client_served_while_tls_clients_sit_mid_handshake(broker, pki):
    tcp_port = h.free_port()
    b = broker(tls_lines(pki) + "listener %d 127.0.0.1\n" % tcp_port)
    stalled = []
    try:
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
            s.sendall(HALF_HELLO)
            stalled.append(s)
        c = h.PahoClient(tcp_port)
        try:
            c.subscribe("mid/t")
            for i in range(20):
                c.publish("mid/t", b"%d" % i)
                assert c.get(5).payload == b"%d" % i
        finally:
            c.close()
    finally:
        for s in stalled:
            s.close()
