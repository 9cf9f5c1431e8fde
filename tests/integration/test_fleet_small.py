"""The fleet test (tests/fleet/fleet.py) in its small version for CI: 3
tern gateways with MQTT and MQTT-SN sensors, bridged to a real 3-node
NATS JetStream cluster through proxies, for 45 s of traffic under node
kills, uplink cuts (blackhole and reset) and gateway SIGKILLs. The script
exits 0 only if every acknowledged reading arrived upstream."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FLEET = os.path.join(HERE, "..", "fleet", "fleet.py")


def test_small_fleet_under_faults_loses_nothing_acknowledged():
    cmd = [sys.executable, FLEET, "--gateways", "3", "--seconds", "45", "--rate", "10",
           "--drain", "90", "--seed", "7"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300, env=dict(os.environ))
    out = p.stdout.decode("utf-8", "replace")
    print(out)
    assert p.returncode == 0, out[-6000:]
    assert "ok: nothing acknowledged is missing" in out
    total = [l.split() for l in out.splitlines() if l.startswith("all ")][0]
    acked, arrived = int(total[1]), int(total[2])
    # 12 sensors at 10/s for 45 s, less the time their gateway was down.
    assert acked > 2500 and arrived == acked, total
    # The faults happened: a node kill, a cut and a gateway kill at least.
    assert "SIGKILL NATS node" in out and "uplink: " in out and "SIGKILL gw" in out, out
