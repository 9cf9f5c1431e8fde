#!/usr/bin/env bash
# The long fuzz campaign (not in CI: CI runs each target for 20 s).
#
#   bash tests/fuzz/campaign.sh [RUNS] [TARGET...]
#
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz, runs
# each for RUNS executions (default 10,000,000) on a scratch copy of its
# committed corpus, two targets at a time, and prints one line per target:
# executions, seconds, executions per second, coverage (libFuzzer's cov:
# edges), corpus size, and the crash files it left (none is the only
# passing answer). Logs stay in build-fuzz/campaign/.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
runs=${1:-10000000}
shift || true
CC=clang cmake -S . -B build-fuzz -DTERN_FUZZ=ON -DTERN_TESTS=OFF -DTERN_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
out=build-fuzz/campaign
mkdir -p "$out"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        t=$(basename "$f" .c)
        targets+=("${t#fuzz_}")
    done
fi

run_one() {
    local t=$1
    local work="$out/$t.corpus"
    rm -rf "$work" "$out/$t.crashes"
    mkdir -p "$work" "$out/$t.crashes"
    cp -r "tests/fuzz/corpus/$t/." "$work/" 2>/dev/null || true
    local t0 t1
    t0=$(date +%s)
    set +e
    # The stateful target's inputs reach thousands of coverage features:
    # libFuzzer's entropic schedule then spends most of the time updating
    # feature frequencies (65% in perf), so it runs without it.
    local extra=()
    [ "$t" = svc ] && extra=(-entropic=0)
    nice -n 10 "build-fuzz/tests/fuzz/fuzz_$t" "${extra[@]}" -runs="$runs" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$out/$t.crashes/" "$work" >"$out/$t.log" 2>&1
    local rc=$?
    set -e
    t1=$(date +%s)
    local execs cov crashes secs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -1 | grep -o '[0-9]*' || echo 0)
    crashes=$(find "$out/$t.crashes" -type f | wc -l)
    secs=$((t1 - t0))
    printf '%-14s %12s execs %7s s %9s /s  cov %6s  corpus %6s  crashes %s  (exit %s)\n' \
        "$t" "$execs" "$secs" "$((execs / (secs > 0 ? secs : 1)))" "$cov" \
        "$(find "$work" -type f | wc -l)" "$crashes" "$rc"
}

echo "== $runs executions per target: ${targets[*]}"
pids=()
for t in "${targets[@]}"; do
    run_one "$t" >"$out/$t.line" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
done
wait
status=0
for t in "${targets[@]}"; do
    cat "$out/$t.line"
    grep -q 'crashes 0 ' "$out/$t.line" || status=1
done
exit $status
