"""An idle gateway does not wake (issue 15): no timer fires while nothing is
due. Counted as context switches of every thread of the process
(/proc/PID/task/*/status): a thread that sleeps in epoll_wait or on a
condition variable and is never woken has none. $SYS still updates for its
subscribers, and the loop's stall watch still sees a stall while there is
work."""

import os
import signal
import time

import pytest

import sn_client as sn
import tern_harness as h
from test_systemd_notify import notify  # noqa: F401 (fixture)

pytestmark = pytest.mark.tern_only


def wakeups(pid):
    """Context switches, voluntary and not, of every thread of pid so far."""
    n = 0
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "status")) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        n += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended
    return n


def idle_wakeups(b, seconds=3.0, settle=2.0):
    """Wake-ups of b's process over seconds, after settle seconds of quiet
    (the start, the harness's probe connection, the stall watch's last
    beats)."""
    time.sleep(settle)
    w0 = wakeups(b.proc.pid)
    time.sleep(seconds)
    return wakeups(b.proc.pid) - w0


def test_idle_with_every_kind_of_listener_and_the_store_never_wakes(broker):
    """MQTT, MQTT-SN over UDP, the HTTP operations listener, persistence
    on, sys_interval 1: with no client and nothing due, 0 wake-ups in 3 s
    (before issue 15: the $SYS timer every second and the stall watch's
    heartbeat every 250 ms)."""
    hp = h.free_port()
    b = broker("listener %d 127.0.0.1\nprotocol mqttsn\nlistener %d 127.0.0.1\nprotocol http\n"
               "sys_interval 1" % (sn.free_udp_port(), hp), persistence=True)
    assert idle_wakeups(b) == 0


def test_sys_timer_runs_only_while_someone_subscribes(broker, raw):
    b = broker("sys_interval 1")
    c = raw(b)
    c.connect("sys-reader")
    c.subscribe("$SYS/broker/uptime", qos=0)
    first = c.recv_publish(timeout=3)
    assert first.retain and first.topic == "$SYS/broker/uptime"
    later = c.recv_publish(timeout=3)  # the next round, a second later
    assert later.topic == "$SYS/broker/uptime" and not later.retain
    c.close()
    # The subscriber is gone (clean session): at most the round that was
    # already armed fires, then nothing.
    time.sleep(1.5)
    assert idle_wakeups(b, settle=0.5) == 0


def test_sys_subscriber_after_a_rest_gets_fresh_values(broker, raw):
    """The retained $SYS values age while nobody reads them; the first
    subscription publishes them again before its retained messages go."""
    b = broker("sys_interval 1")
    time.sleep(3.0)
    c = raw(b)
    c.connect("sys-late")
    c.subscribe("$SYS/broker/uptime", qos=0)
    m = c.recv_publish(timeout=3)
    assert m.retain
    assert int(m.payload.split()[0]) >= 3, m.payload


def test_shared_sys_subscription_keeps_the_timer_running(broker, raw):
    b = broker("sys_interval 1")
    c = raw(b)
    c.connect("sys-shared")
    c.subscribe("$share/g/$SYS/broker/uptime", qos=0)
    got = [c.recv_publish(timeout=3) for _ in range(2)]
    assert all(m.topic == "$SYS/broker/uptime" for m in got)


def test_stall_seen_while_the_loop_has_work(broker, raw):
    """The stall watch rests when the loop is idle; any event wakes it, so a
    freeze right after one is reported (stalls in the metrics and the log)."""
    hp = h.free_port()
    b = broker("listener %d 127.0.0.1\nprotocol http" % hp)
    time.sleep(2.0)  # the heartbeat rests
    c = raw(b)
    c.connect("stall-trigger")  # work: the watch arms again
    b.signal(signal.SIGSTOP)
    time.sleep(3.0)
    b.signal(signal.SIGCONT)
    b.wait_log(r"event loop stalled", timeout=5)


def test_under_systemd_only_the_watchdog_wakes(broker, notify):
    """With NOTIFY_SOCKET and WATCHDOG_USEC 2 s, WATCHDOG=1 goes out every
    second (configured work) and the STATUS line every 10 s; the stall
    watch, which systemd's STATUS reports, must not add its heartbeat to
    each of those wake-ups (timers are not work from outside)."""
    ns = notify(watchdog_usec=2000000)
    b = broker()
    ns.wait_for("READY=1")
    w = idle_wakeups(b, seconds=4.0, settle=2.0)
    # 4 pings (a STATUS refresh may fall in the window); the heartbeat
    # woken by each would add 4 beats: 20 or more.
    assert w <= 6, w
