#!/usr/bin/env python3
"""tidy.py - run clang-tidy (the repo's .clang-tidy, STYLE.md section 13) over
Tern's sources and fail on any finding that .ci/tidy-baseline.txt does not
list.

    python3 .ci/tidy.py BUILD_DIR [-j JOBS] [--baseline FILE]

BUILD_DIR holds the compile_commands.json of a configured build (clang,
Release: what `bash .ci/tern.sh lint` configures). Every translation unit in
it under gateway/, storage/, mqttsn/, bridge/ and board/ is checked; tests/
are not (cmocka's macros). A finding in a header counts once, however many
files include it.

The baseline holds "PATH CHECK COUNT" lines: findings known when the lint
step was added, in files other branches were changing. A (path, check) pair
may have at most COUNT findings; anything beyond, in any other file or of
any other check, fails. Line numbers are not part of it, so edits elsewhere
in a file do not break it. When a pair drops below its count the script
says so: lower the line (or delete it) in the same commit.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("gateway", "storage", "mqttsn", "bridge", "board")
DIAG = re.compile(r"^(/.+?):(\d+):(\d+): (warning|error): (.*)$")
TAG = re.compile(r"^(.*?) ?\[([A-Za-z0-9.-]+(?:,-warnings-as-errors)?)\]$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def rel(path):
    path = os.path.normpath(path)
    return os.path.relpath(path, TOP) if os.path.isabs(path) else path


def sources(build_dir):
    with open(os.path.join(build_dir, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    files = set()
    for e in entries:
        path = rel(os.path.join(e["directory"], e["file"]))
        if path.split(os.sep, 1)[0] in DIRS:
            files.add(path)
    return sorted(files)


def tidy(build_dir, path):
    """Run clang-tidy on one file; returns (path, rc, findings, other_errors)."""
    proc = subprocess.run(
        ["clang-tidy", "-p", build_dir, "--quiet", "--use-color=false", os.path.join(TOP, path)],
        cwd=TOP, capture_output=True, text=True, check=False)
    findings = []
    errors = []
    pending = None  # a diagnostic whose [check] tag is on a later line
    for line in (proc.stdout + proc.stderr).splitlines():
        line = ANSI.sub("", line)
        m = DIAG.match(line)
        if m:
            if pending:
                errors.append(pending[4])
            pending = (rel(m.group(1)), int(m.group(2)), int(m.group(3)), None, m.group(5))
        tag = TAG.match(line if not m else m.group(5))
        if pending and tag:
            check = tag.group(2).split(",")[0]
            msg = tag.group(1) if m else pending[4]
            findings.append(pending[:3] + (check, msg.strip()))
            pending = None
        elif not pending and re.search(r"\berror:", line):
            errors.append(line)
    if pending:
        errors.append(pending[4])
    return path, proc.returncode, findings, errors


def load_baseline(path):
    base = {}
    if not os.path.exists(path):
        return base
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3 or not parts[2].isdigit():
                sys.exit(f"{path}:{n}: expected 'PATH CHECK COUNT'")
            base[(parts[0], parts[1])] = int(parts[2])
    return base


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("build_dir")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--baseline", default=os.path.join(TOP, ".ci", "tidy-baseline.txt"))
    args = ap.parse_args()

    start = time.monotonic()
    files = sources(args.build_dir)
    if not files:
        sys.exit(f"no sources in {args.build_dir}/compile_commands.json")
    baseline = load_baseline(args.baseline)
    findings = {}
    failed = False
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for path, rc, found, errors in pool.map(lambda p: tidy(args.build_dir, p), files):
            for f in found:
                findings.setdefault(f[:4], f)
            if errors or (rc != 0 and not found):
                failed = True
                print(f"clang-tidy failed on {path} (exit {rc}):", *errors, sep="\n  ")

    counts = {}
    for key in findings:
        counts.setdefault((key[0], key[3]), []).append(findings[key])
    for pair, items in sorted(counts.items()):
        allowed = baseline.get(pair, 0)
        if len(items) > allowed:
            failed = True
            print(f"{pair[0]}: {len(items)} [{pair[1]}] finding(s), baseline allows {allowed}:")
            for path, line, col, check, msg in sorted(items):
                print(f"  {path}:{line}:{col}: {msg} [{check}]")
    for pair, allowed in sorted(baseline.items()):
        got = len(counts.get(pair, []))
        if got < allowed:
            print(f"note: {pair[0]} [{pair[1]}] is down to {got} (baseline {allowed}): "
                  f"lower it in {rel(args.baseline)}")

    known = sum(min(len(v), baseline.get(k, 0)) for k, v in counts.items())
    print(f"clang-tidy: {len(files)} files, {len(findings)} finding(s), {known} of them in the "
          f"baseline, {time.monotonic() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
