#!/usr/bin/env bash
# sn_bench.sh - MQTT-SN publishes per second through Tern's gateway into one
# MQTT subscriber (QoS 0 and QoS 1), with loss and latency.
#
# usage: tests/bench/sn_bench.sh [--tern PATH_TO_TERN] [--quick]
#
# Builds nothing. Needs the generator at $SN_BENCH_BIN (default
# build/tests/bench/sn_bench) and tern (--tern, $TERN, else build/gateway/tern).
# Starts tern once on free 127.0.0.1 ports (TCP for the subscriber, UDP for
# the MQTT-SN gateway), runs every scenario, stops it and prints one table.
# There is no mosquitto column: Debian has no MQTT-SN gateway for mosquitto.
#
# Environment: SN_BENCH_BIN, TERN, SCENARIOS (QOS:CLIENTS[:RATE[:WINDOW]] ...;
# RATE empty or 0 = as fast as the window allows; WINDOW default 64 at QoS 0, 8 at QoS 1).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/bench_lib.sh" # free_port, cpu_ticks, rss_kb, field
SN_BENCH_BIN=${SN_BENCH_BIN:-$ROOT/build/tests/bench/sn_bench}
TERN=${TERN:-$ROOT/build/gateway/tern}
SCENARIOS=${SCENARIOS:-"0:1 0:4 0:16 0:16:0:16 1:1 1:16 1:64 1:256 0:4:2000 1:4:2000"}
DUR=5

die() {
    echo "sn_bench: error: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --tern) [ $# -ge 2 ] || die "--tern needs a path"; TERN=$2; shift 2 ;;
    --quick) DUR=2; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (usage: $0 [--tern PATH] [--quick])" ;;
    esac
done
[ -x "$SN_BENCH_BIN" ] || die "no generator at $SN_BENCH_BIN (make sn_bench, or set SN_BENCH_BIN)"
[ -x "$TERN" ] || die "no tern at $TERN (use --tern PATH)"

WORK=$(mktemp -d /tmp/sn_bench.XXXXXX)
TERN_PID=
cleanup() {
    if [ -n "$TERN_PID" ]; then
        kill -TERM "$TERN_PID" 2>/dev/null || true
        wait "$TERN_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

MQTT_PORT=$(free_port t)
SN_PORT=$(free_port u)
# As run_bench.sh: window 64 to the subscriber, a queue the bench never fills.
cat >"$WORK/tern.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
listener $SN_PORT 127.0.0.1
protocol mqttsn
allow_anonymous true
persistence false
max_inflight_messages 64
max_queued_messages 100000
log_type error
log_type warning
EOF
"$TERN" -c "$WORK/tern.conf" >"$WORK/tern.log" 2>&1 &
TERN_PID=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; then
        break
    fi
    sleep 0.05
done
kill -0 "$TERN_PID" 2>/dev/null || die "tern did not start: $(cat "$WORK/tern.log")"
sleep 0.2 # the UDP listener opens after the TCP one

CLK_TCK=$(getconf CLK_TCK)
echo "$("$TERN" --version 2>&1 | head -1), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg), $DUR s per scenario, 64-byte payloads"
printf '%-12s %10s %10s %8s %8s %8s %8s %8s %9s\n' scenario sent received lost% msg/s p50us p99us maxus tern_us/msg
for sc in $SCENARIOS; do
    IFS=: read -r qos clients rate window <<<"$sc"
    args=(-q "$qos" -c "$clients" -d "$DUR")
    name="qos$qos x$clients"
    if [ -n "${rate:-}" ] && [ "$rate" != 0 ]; then
        args+=(-r "$rate")
        name="qos$qos @$rate/s"
    fi
    if [ -n "${window:-}" ]; then
        args+=(-w "$window")
        name="$name w$window"
    fi
    t0=$(cpu_ticks "$TERN_PID")
    out=$(timeout $((DUR + 20)) "$SN_BENCH_BIN" 127.0.0.1 "$MQTT_PORT" "$SN_PORT" "${args[@]}" 2>"$WORK/gen.err") ||
        die "sn_bench failed for $sc: $(cat "$WORK/gen.err")"
    t1=$(cpu_ticks "$TERN_PID")
    declare -A r=()
    for kv in ${out#RESULT }; do
        r[${kv%%=*}]=${kv#*=}
    done
    us=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${r[received]}" \
        'BEGIN { printf "%.2f", n ? t / hz * 1e6 / n : 0 }')
    lostp=$(awk -v l="${r[lost]}" -v s="${r[sent]}" 'BEGIN { printf "%.2f", s ? 100 * l / s : 0 }')
    printf '%-12s %10s %10s %8s %8s %8s %8s %8s %9s\n' "$name" "${r[sent]}" "${r[received]}" \
        "$lostp" "${r[msgs_per_s]}" "${r[p50_us]}" "${r[p99_us]}" "${r[max_us]}" "$us"
    [ "$qos" = 0 ] || [ "${r[lost]}" = 0 ] || echo "WARNING: QoS 1 lost ${r[lost]} messages" >&2
    unset r
    sleep 0.5 # the clients' sessions go; keep-alive state is cleared
done
