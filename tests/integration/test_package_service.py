"""The Debian package installed on a real Debian 12 with systemd running
(issue 14: "dpkg -i on Debian 12 gives a running service").

A minimal Debian 12 root is made once with debootstrap (from the Debian
mirror, the one network this project may use) and kept in the build tree;
each run boots a throw-away copy of it with systemd-nspawn (--ephemeral,
its own network namespace), and a oneshot unit inside does what an
operator does: dpkg -i, then checks the service is active as user tern
with its STATUS= line, serves MQTT-SN and /healthz on the shipped
configuration, survives a reload, is restarted by systemd after a SIGKILL,
stops, and is purged. The results come back in a bound directory.
Needs root, debootstrap and systemd-container (bash .ci/tern.sh installs
them) and TERN_BUILD_DIR (set by ctest)."""

import glob
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.tern_only

MIRROR = os.environ.get("TERN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What the package depends on, and what the probe uses (ps, journalctl).
INCLUDE = ("systemd,systemd-sysv,dbus,procps,adduser,liblmdb0,libmbedtls14,libmbedcrypto7,"
           "libmbedx509-1,libserialport0")

PROBE = r"""#!/bin/bash
# Runs inside the booted container as a oneshot unit; writes KEY=VALUE
# lines to /probe/result and a trace to /probe/log, then powers off.
out=/probe/result
exec > /probe/log 2>&1
set -x
say() { echo "$1=$2" >> $out; }
wait_active() {
    for _ in $(seq 1 100); do systemctl is-active -q tern && return 0; sleep 0.1; done
    return 1
}
dpkg -i /deb/tern.deb; say dpkg_rc $?
wait_active
say active "$(systemctl is-active tern)"
say type "$(systemctl show -p Type --value tern)"
say status "$(systemctl show -p StatusText --value tern)"
pid=$(systemctl show -p MainPID --value tern)
say user "$(ps -o user= -p "$pid")"
say state_dir "$(stat -c '%U %a' /var/lib/tern)"
# The shipped configuration: MQTT-SN on 127.0.0.1:1884, metrics on 9883.
tern_sn_sub -p 1884 -t probe/# -C 1 -W 10 > /probe/sub.txt &
sub=$!
sleep 1
tern_sn_pub -p 1884 -t probe/x -m "through the service"; say pub_rc $?
wait $sub; say sub_rc $?
# In a subshell: a refused connection must not end this script (a failed
# redirection on exec ends a non-interactive shell).
say healthz "$(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9883 &&
    printf "GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n" >&3 && head -n1 <&3' | tr -d '\r')"
systemctl reload tern; sleep 1
say after_reload "$(systemctl is-active tern)"
say reload_pid_same "$([ "$(systemctl show -p MainPID --value tern)" = "$pid" ] && echo yes || echo no)"
# MainPID is 0 when the service is not running: kill -9 0 would kill
# this script's own process group.
[ "${pid:-0}" != 0 ] && kill -9 "$pid"
sleep 0.5
for _ in $(seq 1 100); do
    new=$(systemctl show -p MainPID --value tern)
    [ "$new" != 0 ] && [ "$new" != "$pid" ] && systemctl is-active -q tern && break
    sleep 0.1
done
say after_kill "$(systemctl is-active tern)"
say restarted "$([ "$new" != "$pid" ] && [ "$new" != 0 ] && echo yes || echo no)"
systemctl stop tern
say stopped "$(systemctl is-active tern)"
journalctl -u tern --no-pager -o cat > /probe/journal.txt
dpkg --purge tern; say purge_rc $?
say conf_after_purge "$([ -e /etc/tern/tern.conf ] && echo present || echo gone)"
say unit_after_purge "$([ -e /lib/systemd/system/tern.service ] && echo present || echo gone)"
say end yes
systemctl poweroff
"""

# The container powers off however the probe ends (a failed step, a hang
# cut by TimeoutStartSec): the test then reads what the probe got to.
UNIT = """[Unit]
Description=tern package probe
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
TimeoutStartSec=150
ExecStart=/probe-bin/probe.sh
[Install]
WantedBy=multi-user.target
"""


def run(args, timeout=600, **kw):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    assert r.returncode == 0, "%s: %s" % (args, r.stdout.decode(errors="replace")[-3000:])
    return r.stdout.decode(errors="replace")


def nspawn(*args):
    # No machined or system bus on a CI host: no registration, no scope.
    return ["systemd-nspawn", "-q", "--register=no", "--keep-unit"] + list(args)


@pytest.fixture(scope="module")
def debian_root():
    build = os.environ.get("TERN_BUILD_DIR")
    assert build, "TERN_BUILD_DIR unset: run through ctest"
    assert os.geteuid() == 0, "booting a container needs root (CI runs as root)"
    for tool in ("debootstrap", "systemd-nspawn"):
        assert shutil.which(tool), "%s missing: bash .ci/tern.sh installs it" % tool
    root = os.path.join(build, "debian12-root")
    if not os.path.exists(os.path.join(root, ".complete")):
        shutil.rmtree(root + ".tmp", ignore_errors=True)
        run(["debootstrap", "--variant=minbase", "--include=" + INCLUDE, "bookworm",
             root + ".tmp", MIRROR], timeout=900)
        open(os.path.join(root + ".tmp", ".complete"), "w").close()
        shutil.rmtree(root, ignore_errors=True)
        os.rename(root + ".tmp", root)
    unit = os.path.join(root, "etc/systemd/system/tern-probe.service")
    with open(unit, "w") as f:
        f.write(UNIT)
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants/tern-probe.service")
    if not os.path.lexists(wants):
        os.symlink("/etc/systemd/system/tern-probe.service", wants)
    return root


def cache_value(build, key):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for ln in f:
            name, _, value = ln.rstrip("\n").partition("=")
            if name.split(":")[0] == key:
                return value
    return ""


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The package a user installs. A sanitizer build's binaries need
    libasan, which a Debian system does not have (CI runs this test in its
    ASan build: the package then depended on libasan8, dpkg -i failed and
    the probe hung): such a build gets a Release build of the same source
    beside it, made once, as `bash .ci/tern.sh package` makes it."""
    build = os.environ["TERN_BUILD_DIR"]
    btype = cache_value(build, "CMAKE_BUILD_TYPE")
    if btype not in ("Release", "RelWithDebInfo", "MinSizeRel", "Debug"):
        src = cache_value(build, "CMAKE_HOME_DIRECTORY")
        build = os.path.join(build, "pkg-release")
        run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
             "-DTERN_TESTS=OFF", "-DTERN_BENCH=OFF"])
        run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2)], timeout=900)
    out = tmp_path_factory.mktemp("pkg")
    run(["cpack", "-G", "DEB", "--config", os.path.join(build, "CPackConfig.cmake"),
         "-B", str(out)])
    debs = glob.glob(str(out / "tern_*.deb"))
    assert len(debs) == 1, debs
    depends = run(["dpkg-deb", "-f", debs[0], "Depends"])
    assert "asan" not in depends and "ubsan" not in depends, depends
    return debs[0]


def test_dpkg_install_gives_a_running_service(debian_root, deb, tmp_path):
    bin_dir = tmp_path / "bin"
    deb_dir = tmp_path / "deb"
    probe = tmp_path / "probe"
    for d in (bin_dir, deb_dir, probe):
        d.mkdir()
    (bin_dir / "probe.sh").write_text(PROBE)
    os.chmod(bin_dir / "probe.sh", 0o755)
    shutil.copy(deb, deb_dir / "tern.deb")
    boot = subprocess.Popen(
        nspawn("-D", debian_root, "--ephemeral", "--private-network",
               "--bind-ro=%s:/probe-bin" % bin_dir, "--bind-ro=%s:/deb" % deb_dir,
               "--bind=%s:/probe" % probe, "--boot"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        boot_out, _ = boot.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        boot.kill()   # the unit's TimeoutStartSec should have ended it first
        boot_out, _ = boot.communicate()
    log = (probe / "log").read_text() if (probe / "log").exists() else ""
    journal = (probe / "journal.txt").read_text() if (probe / "journal.txt").exists() else ""
    res = {}
    if (probe / "result").exists():
        for ln in (probe / "result").read_text().splitlines():
            k, _, v = ln.partition("=")
            res[k] = v
    why = "boot rc %d\n%s\nprobe log:\n%s\njournal:\n%s" % (
        boot.returncode, boot_out.decode(errors="replace")[-2000:], log[-3000:],
        journal[-2000:])
    assert res.get("end") == "yes", why
    assert res["dpkg_rc"] == "0", why
    assert res["active"] == "active", why
    assert res["type"] == "notify", why
    assert res["status"].startswith("running: "), why   # tern's STATUS= line
    assert res["user"] == "tern", why                   # not root
    assert res["state_dir"] == "tern 700", why
    assert res["pub_rc"] == "0" and res["sub_rc"] == "0", why
    assert (probe / "sub.txt").read_text().strip() == "through the service", why
    assert res["healthz"] == "HTTP/1.1 200 OK", why
    assert res["after_reload"] == "active" and res["reload_pid_same"] == "yes", why
    assert res["after_kill"] == "active" and res["restarted"] == "yes", why
    assert res["stopped"] == "inactive", why
    assert res["purge_rc"] == "0", why
    assert res["conf_after_purge"] == "gone" and res["unit_after_purge"] == "gone", why
