#!/usr/bin/env bash
# idle_bench.sh - wake-ups and memory of an idle broker: no client, nothing
# due. Tern beside mosquitto (and NanoMQ / FlashMQ when given), one run.
#
# usage: tests/bench/idle_bench.sh [--tern PATH] [--seconds S]
#                                  [--nanomq PATH] [--flashmq PATH]
#
# Each broker is started on a free 127.0.0.1 port, left alone for 2 s, then
# for S seconds (default 10) the context switches of all its threads are
# counted (/proc/PID/task/*/status, voluntary + nonvoluntary: a thread that
# sleeps and is never woken has none), and VmRSS / RssAnon are read at the
# end. Columns:
#   mosquitto   mosquitto 2.0.11, `persistence false` (the anchor)
#   tern        the same mosquitto-syntax config
#   tern-full   plus an MQTT-SN UDP listener, the HTTP operations listener,
#               persistence on (LMDB, its writer thread) and sys_interval 10
#   nanomq      `nanomq start --url nmq-tcp://127.0.0.1:PORT` (--nanomq)
#   flashmq     one thread, a listen block on the port (--flashmq)
# NanoMQ and FlashMQ are not Debian packages: their columns appear only
# with a path to their binaries. Every process the script starts is
# stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/bench_lib.sh" # free_port, cpu_ticks, rss_kb, field
TERN=${TERN:-$ROOT/build/gateway/tern}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
NANOMQ=
FLASHMQ=
SECONDS_IDLE=10

die() {
    echo "idle_bench: error: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --tern) [ $# -ge 2 ] || die "--tern needs a path"; TERN=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] || die "--seconds needs a number"; SECONDS_IDLE=$2; shift 2 ;;
    --nanomq) [ $# -ge 2 ] || die "--nanomq needs a path"; NANOMQ=$2; shift 2 ;;
    --flashmq) [ $# -ge 2 ] || die "--flashmq needs a path"; FLASHMQ=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -x "$TERN" ] || die "no tern at $TERN (use --tern PATH)"
[ -x "$MOSQUITTO" ] || die "no mosquitto at $MOSQUITTO (apt install mosquitto)"

WORK=$(mktemp -d /tmp/idle_bench.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

switches() { # pid -> context switches of all its threads so far
    local n=0 v
    for f in /proc/"$1"/task/*/status; do
        v=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { s += $2 } END { print s + 0 }' \
            "$f" 2>/dev/null) || v=0
        n=$((n + v))
    done
    echo "$n"
}

status_kb() { # pid field
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

measure() { # name port command...
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    kill -0 "$PID" 2>/dev/null || die "$name did not start: $(tail -5 "$WORK/$name.log")"
    sleep 2 # the start and our probe connection settle
    local w0 w1 threads
    w0=$(switches "$PID")
    sleep "$SECONDS_IDLE"
    w1=$(switches "$PID")
    threads=$(ls "/proc/$PID/task" | wc -l)
    printf '%-11s %9s %8s %9s %9s\n' "$name" $((w1 - w0)) "$threads" \
        "$(status_kb "$PID" VmRSS)" "$(status_kb "$PID" RssAnon)"
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

conf() { # port -> the common mosquitto-syntax config
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type error\nlog_type warning\n' "$1"
}

echo "idle_bench: $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg), $SECONDS_IDLE s idle per broker"
printf '%-11s %9s %8s %9s %9s\n' broker wake-ups threads "VmRSS kB" "anon kB"

p=$(free_port t)
conf "$p" >"$WORK/mosq.conf"
if [ "$(id -u)" = 0 ]; then
    echo "user root" >>"$WORK/mosq.conf"
fi
measure mosquitto "$p" "$MOSQUITTO" -c "$WORK/mosq.conf"

p=$(free_port t)
conf "$p" >"$WORK/tern.conf"
measure tern "$p" "$TERN" -c "$WORK/tern.conf"

p=$(free_port t)
mkdir -p "$WORK/store"
{
    conf "$p" | sed 's/^persistence false$/persistence true/'
    echo "persistence_location $WORK/store/"
    echo "sys_interval 10"
    echo "listener $(free_port u) 127.0.0.1"
    echo "protocol mqttsn"
    echo "listener $(free_port t) 127.0.0.1"
    echo "protocol http"
} >"$WORK/tern-full.conf"
measure tern-full "$p" "$TERN" -c "$WORK/tern-full.conf"

if [ -n "$NANOMQ" ]; then
    p=$(free_port t)
    measure nanomq "$p" "$NANOMQ" start --url "nmq-tcp://127.0.0.1:$p"
fi
if [ -n "$FLASHMQ" ]; then
    p=$(free_port t)
    printf 'thread_count 1\nallow_anonymous true\nlisten {\n  protocol mqtt\n  port %s\n  inet4_bind_address 127.0.0.1\n}\n' \
        "$p" >"$WORK/flashmq.conf"
    measure flashmq "$p" "$FLASHMQ" --config-file "$WORK/flashmq.conf"
fi
