#!/usr/bin/env python3
"""layers.py - fail on any #include "..." that the layer table allows not.

    python3 .ci/layers.py [--root DIR] [--table FILE]
    python3 .ci/layers.py --self-test

The table (.ci/layers.txt, its header says the syntax) names, per folder,
the folders whose headers it may include. Every .c and .h under the table's
"scan:" folders (gateway, storage, board, mqttsn, bridge; not tests) is read;
each line `#include "NAME"` is resolved to the one file of that name under
the scan folders (header names are unique across the tree) and checked:

  - a file may include headers of its own folder;
  - a *_priv.h header only from its own folder;
  - anything else only if the file's line in the table (a per-file line if
    there is one, else its folder's line) lists the header's folder, and,
    when the entry has a [a.h,b.h] list, that header.

System includes <...> are not checked. Only lines that start with `#include`
count (a commented-out `// #include` does not; one inside `#if 0` or a
/* block */ does: it fails loudly rather than passes silently).

Each violation is one line, FILE:LINE: includes "X" (LAYER_Y), not
allowed in LAYER_Z (LAYER_Z is the table line that applied: the file's
folder, or the file itself); a name that no file or more than one file has
is one too. Exit 0: none; 1: some; 2: the table or the tree is unusable.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
ENTRY = re.compile(r"^([A-Za-z0-9_./-]+)(?:\[([A-Za-z0-9_.,/-]+)\])?$")
SOURCE_EXT = (".c", ".h")


class TableError(Exception):
    pass


def parse_table(path):
    """Return (scan_dirs, rules); rules maps a folder or file path to None
    (everything) or a dict folder -> None (any header) / set of names."""
    scan = None
    rules = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise TableError(f"{path}: {e.strerror}")
    for num, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, rest = line.partition(":")
        key = key.strip().strip("/")
        if not sep or not key:
            raise TableError(f"{path}:{num}: expected 'FOLDER: ENTRY ...'")
        words = rest.split()
        if key == "scan":
            if scan is not None:
                raise TableError(f"{path}:{num}: second scan: line")
            if not words:
                raise TableError(f"{path}:{num}: scan: names no folder")
            scan = [w.strip("/") for w in words]
            continue
        if key in rules:
            raise TableError(f"{path}:{num}: second line for {key}")
        if words == ["*"]:
            rules[key] = None
            continue
        allowed = {}
        for w in words:
            m = ENTRY.match(w)
            if w == "*" or not m:
                raise TableError(f"{path}:{num}: bad entry {w!r}")
            folder = m.group(1).strip("/")
            if folder in allowed:
                raise TableError(f"{path}:{num}: {folder} listed twice")
            allowed[folder] = set(m.group(2).split(",")) if m.group(2) else None
        rules[key] = allowed
    if scan is None:
        raise TableError(f"{path}: no scan: line")
    for key, allowed in rules.items():
        for folder in allowed or {}:
            if folder not in rules:
                raise TableError(f"{path}: {key} lists {folder}, which has no line")
    return scan, rules


def walk(root, scan):
    """All files under the scan folders, as '/'-separated paths from root."""
    files = []
    for top in scan:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            raise TableError(f"scan folder {top} is not a directory under {root}")
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = os.path.relpath(os.path.join(dirpath, name), root)
                files.append(path.replace(os.sep, "/"))
    return files


def folder_of(path):
    return path.rsplit("/", 1)[0] if "/" in path else ""


def resolve(name, src, by_name, all_files):
    """The paths NAME can mean from file SRC: [] none, [p] one, more: ambiguous."""
    if "/" in name:
        near = os.path.normpath(os.path.join(folder_of(src), name)).replace(os.sep, "/")
        if near in all_files:
            return [near]
        tail = "/" + name.lstrip("./")
        return sorted(p for p in by_name.get(name.rsplit("/", 1)[1], ())
                      if ("/" + p).endswith(tail))
    return sorted(by_name.get(name, ()))


def check(root, table):
    """Return (violations, files_checked)."""
    scan, rules = parse_table(table)
    files = walk(root, scan)
    all_files = set(files)
    by_name = {}
    for p in files:
        by_name.setdefault(p.rsplit("/", 1)[-1], []).append(p)
    sources = [p for p in files if p.endswith(SOURCE_EXT)]
    out = []
    for src in sources:
        own = folder_of(src)
        layer = src if src in rules else own
        if layer not in rules:
            out.append(f"{src}:1: folder {own} has no line in the layer table")
            continue
        allowed = rules[layer]
        with open(os.path.join(root, src), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for num, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(1)
            hits = resolve(name, src, by_name, all_files)
            if not hits:
                out.append(f'{src}:{num}: includes "{name}", which no file under '
                           f'{", ".join(scan)} has')
                continue
            if len(hits) > 1:
                out.append(f'{src}:{num}: includes "{name}", which is ambiguous: '
                           f'{", ".join(hits)}')
                continue
            hdr = hits[0]
            there = folder_of(hdr)
            base = hdr.rsplit("/", 1)[-1]
            if there == own:
                continue
            why = ""
            if base.endswith("_priv.h"):
                why = " (a _priv.h header: its own folder only)"
            elif allowed is None:
                continue
            elif there in allowed and (allowed[there] is None or base in allowed[there]):
                continue
            elif there in allowed:
                why = f" (of {there} only {', '.join(sorted(allowed[there]))})"
            out.append(f'{src}:{num}: includes "{name}" ({there or "."}), '
                       f"not allowed in {layer or '.'}{why}")
    return out, len(sources)


def run(root, table):
    try:
        out, count = check(root, table)
    except TableError as e:
        print(f"layers.py: {e}", file=sys.stderr)
        return 2
    if count == 0:
        print(f"layers.py: no .c/.h file under {root}: wrong --root?", file=sys.stderr)
        return 2
    for line in out:
        print(line)
    if out:
        print(f"layers.py: {len(out)} include(s) the layer table does not allow "
              f"({os.path.relpath(table, root) if table.startswith(root) else table})",
              file=sys.stderr)
        return 1
    return 0


SELF_TABLE = """\
scan: base mid top pure
base:
mid: base[ok.h]
top: *
pure: base[ok.h]
pure/pure.c: mid
"""

# path -> text. Each "want" comment names the verdict the line must get.
SELF_TREE = {
    "base/ok.h": "",
    "base/other.h": "",
    "base/base_priv.h": "",
    "base/dup.h": "",
    "mid/dup.h": "",
    "mid/mid.h": '#include "ok.h"\n',                     # allowed: listed header
    "mid/mid_priv.h": "",
    "mid/mid.c": ('#include "mid.h"\n'                    # allowed: own folder
                  '#include "mid_priv.h"\n'               # allowed: own _priv.h
                  "#include <other.h>\n"                   # ignored: system
                  '// #include "other.h"\n'               # ignored: comment
                  '#include "other.h"\n'),                # 5: not in [ok.h]
    "top/top.c": ('#include "mid.h"\n'                    # allowed: *
                  '#include "base_priv.h"\n'              # 2: another's _priv.h
                  '#include "nosuch.h"\n'                 # 3: not found
                  '  #  include "dup.h"\n'),              # 4: ambiguous
    "pure/pure.c": ('#include "mid.h"\n'                  # allowed: file line
                    '#include "ok.h"\n'),                 # 2: file line replaces
    "pure/pure.h": '#include "ok.h"\n',                   # allowed: folder line
    "pure/x.h": '#include "mid.h"\n',                     # 1: base[ok.h] only
}

SELF_WANT = [
    'mid/mid.c:5: includes "other.h" (base), not allowed in mid (of base only ok.h)',
    'pure/pure.c:2: includes "ok.h" (base), not allowed in pure/pure.c',
    'pure/x.h:1: includes "mid.h" (mid), not allowed in pure',
    'top/top.c:2: includes "base_priv.h" (base), not allowed in top '
    "(a _priv.h header: its own folder only)",
    'top/top.c:3: includes "nosuch.h", which no file under base, mid, top, pure has',
    'top/top.c:4: includes "dup.h", which is ambiguous: base/dup.h, mid/dup.h',
]


def self_test():
    failures = []

    def cli(root, table):
        p = subprocess.run([sys.executable, os.path.abspath(__file__),
                            "--root", root, "--table", table],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        return p.returncode, p.stdout.splitlines()

    with tempfile.TemporaryDirectory(prefix="layers-selftest-") as tmp:
        table = os.path.join(tmp, "layers.txt")
        with open(table, "w", encoding="utf-8") as f:
            f.write(SELF_TABLE)
        for path, text in SELF_TREE.items():
            full = os.path.join(tmp, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)

        rc, got = cli(tmp, table)
        if rc != 1:
            failures.append(f"tree with violations: exit {rc}, want 1")
        for line in sorted(set(SELF_WANT) - set(got)):
            failures.append(f"missing: {line}")
        for line in sorted(set(got) - set(SELF_WANT)):
            failures.append(f"unexpected: {line}")

        # Remove the offending lines: the same tree must then pass.
        clean = {
            "mid/mid.c": '#include "mid.h"\n#include <other.h>\n',
            "top/top.c": '#include "mid.h"\n#include "ok.h"\n',
            "pure/pure.c": '#include "mid.h"\n#include "pure.h"\n',
            "pure/x.h": '#include "ok.h"\n',
        }
        for path, text in clean.items():
            with open(os.path.join(tmp, path), "w", encoding="utf-8") as f:
                f.write(text)
        rc, got = cli(tmp, table)
        if rc != 0 or got:
            failures.append(f"clean tree: exit {rc}, want 0; output {got}")

        # A folder without a line fails; so does a tree with no sources.
        os.makedirs(os.path.join(tmp, "mid", "new"))
        with open(os.path.join(tmp, "mid", "new", "n.c"), "w", encoding="utf-8") as f:
            f.write('#include "mid.h"\n')
        rc, got = cli(tmp, table)
        if rc != 1 or got != ["mid/new/n.c:1: folder mid/new has no line in the layer table"]:
            failures.append(f"unlisted folder: exit {rc}, output {got}")
        empty = os.path.join(tmp, "empty")
        for d in ("base", "mid", "top", "pure"):
            os.makedirs(os.path.join(empty, d))
        rc, got = cli(empty, table)
        if rc != 2:
            failures.append(f"tree without sources: exit {rc}, want 2")

    # The real table must parse.
    try:
        parse_table(os.path.join(HERE, "layers.txt"))
    except TableError as e:
        failures.append(f"the repo's table: {e}")

    for line in failures:
        print(f"layers.py --self-test: {line}")
    if failures:
        return 1
    print("layers.py --self-test: ok")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--root", default=TOP, help="the source tree (default: this repo)")
    ap.add_argument("--table", help="the layer table (default: ROOT/.ci/layers.txt)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the checker on a small temporary tree")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    root = os.path.abspath(args.root)
    table = os.path.abspath(args.table) if args.table else os.path.join(root, ".ci", "layers.txt")
    return run(root, table)


if __name__ == "__main__":
    sys.exit(main())
