"""The Debian package (issue 14): cpack builds it from this build tree;
its contents, control fields and maintainer scripts are checked with
dpkg-deb, the extracted files are run (tern --version, --check-config on
the shipped config, the man pages through groff), and lintian, when
installed, must find nothing. Needs TERN_BUILD_DIR (set by ctest)."""

import glob
import gzip
import os
import shutil
import subprocess

import pytest

import tern_harness as h

pytestmark = pytest.mark.tern_only

EXPECTED = {
    "./usr/bin/tern", "./usr/bin/tern_sn_pub", "./usr/bin/tern_sn_sub",
    "./etc/tern/tern.conf", "./etc/logrotate.d/tern", "./lib/systemd/system/tern.service",
    "./usr/share/man/man8/tern.8.gz", "./usr/share/man/man5/tern.conf.5.gz",
    "./usr/share/man/man1/tern_sn_pub.1.gz", "./usr/share/man/man1/tern_sn_sub.1.gz",
    "./usr/share/doc/tern/copyright", "./usr/share/doc/tern/changelog.gz", "./var/lib/tern/",
}


def run(args, **kw):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                       stdin=subprocess.DEVNULL, **kw)
    assert r.returncode == 0, "%s: %s" % (args, r.stdout.decode()[-3000:])
    return r.stdout.decode()


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    build = os.environ.get("TERN_BUILD_DIR")
    assert build, "TERN_BUILD_DIR unset: run through ctest"
    out = tmp_path_factory.mktemp("pkg")
    run(["cpack", "-G", "DEB", "--config", os.path.join(build, "CPackConfig.cmake"),
         "-B", str(out)])
    debs = glob.glob(str(out / "tern_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def test_contents(deb):
    listing = run(["dpkg-deb", "-c", deb])
    paths = {ln.split()[-1] for ln in listing.splitlines()}
    missing = EXPECTED - paths
    assert not missing, missing
    modes = {ln.split()[-1]: ln.split()[0] for ln in listing.splitlines()}
    assert modes["./usr/bin/tern"] == "-rwxr-xr-x"
    assert modes["./etc/tern/tern.conf"] == "-rw-r--r--"
    assert all(ln.split()[1] == "root/root" for ln in listing.splitlines())


def test_control_and_maintainer_scripts(deb, tmp_path):
    info = run(["dpkg-deb", "-I", deb])
    assert "Package: tern" in info and "Section: net" in info
    depends = [ln for ln in info.splitlines() if ln.strip().startswith("Depends:")][0]
    for dep in ("adduser", "liblmdb0", "libmbedtls14"):
        assert dep in depends, depends
    ctl = tmp_path / "ctl"
    run(["dpkg-deb", "-e", deb, str(ctl)])
    assert (ctl / "conffiles").read_text().split() == ["/etc/tern/tern.conf",
                                                      "/etc/logrotate.d/tern"]
    postinst = (ctl / "postinst").read_text()
    assert "adduser --system --group" in postinst and "install -d -o tern" in postinst
    for script in ("postinst", "prerm", "postrm"):
        assert os.stat(ctl / script).st_mode & 0o777 == 0o755
        run(["sh", "-n", str(ctl / script)])  # parses


def test_extracted_files_work(deb, tmp_path):
    root = tmp_path / "root"
    run(["dpkg-deb", "-x", deb, str(root)])
    tern = str(root / "usr/bin/tern")
    assert run([tern, "--version"]).startswith("tern version ")
    conf = str(root / "etc/tern/tern.conf")
    out = run([tern, "--check-config", "-c", conf])
    assert "configuration OK (4 listeners, 0 bridges)" in out
    unit = (root / "lib/systemd/system/tern.service").read_text()
    assert "ExecStart=/usr/bin/tern -c /etc/tern/tern.conf" in unit
    for page in glob.glob(str(root / "usr/share/man/man*/*.gz")):
        text = gzip.open(page).read()
        r = subprocess.run(["groff", "-man", "-ww", "-z"], input=text, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        assert r.returncode == 0 and r.stdout == b"", (page, r.stdout.decode())
    conf5 = gzip.open(str(root / "usr/share/man/man5/tern.conf.5.gz")).read().decode()
    # Generated from the option table: every option --help-config lists is there.
    names = [ln.split()[0] for ln in run([tern, "--help-config"]).splitlines()
             if ln and not ln.startswith((" ", "Bridges", "Accepted"))]
    assert len(names) > 60
    for n in names:
        assert ".B %s" % n.replace("-", "\\-") in conf5, n


def test_lintian_clean(deb):
    if not shutil.which("lintian"):
        pytest.skip("lintian not installed (bash .ci/tern.sh test installs it)")
    r = subprocess.run(["lintian", "--tag-display-limit", "0", deb], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    findings = [ln for ln in r.stdout.decode().splitlines() if ln[:2] in ("E:", "W:")]
    assert not findings, findings
