#!/usr/bin/env bash
# sn_burst.sh - an unpaced burst of QoS 0 MQTT-SN datagrams into Tern's
# gateway on a busy machine: how many are lost?
#
# usage: tests/bench/sn_burst.sh [--tern PATH]... [--count N] [--rounds R] [--idle]
#                                [--conf-extra LINE]
#
# For each --tern (several: one column each, e.g. a build before and after a
# change; default $TERN, else build/gateway/tern) a fresh tern is started on
# free 127.0.0.1 ports with one MQTT-SN UDP listener, and one sn_bench client
# fires N (default 20,000) QoS 0 PUBLISHes of 64-byte payloads as fast as it
# can (window N: no flow control), R times (default 5); one MQTT subscriber
# counts what arrives. Lost = sent - received. The kernel's own count of
# datagrams dropped at a full receive buffer (/proc/net/snmp Udp
# RcvbufErrors, machine-wide) is printed beside it.
#
# "Busy": one CPU-burning shell loop per CPU (nproc) at the same priority as
# tern and the generator runs during every burst (--idle: none). Every
# process the script starts is stopped on exit.
#
# Environment: SN_BENCH_BIN (default build/tests/bench/sn_bench), TERN.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/bench_lib.sh" # free_port, cpu_ticks, rss_kb, field
SN_BENCH_BIN=${SN_BENCH_BIN:-$ROOT/build/tests/bench/sn_bench}
TERNS=()
COUNT=20000
ROUNDS=5
BUSY=1
CONF_EXTRA=()

die() {
    echo "sn_burst: error: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --tern) [ $# -ge 2 ] || die "--tern needs a path"; TERNS+=("$2"); shift 2 ;;
    --count) [ $# -ge 2 ] || die "--count needs a number"; COUNT=$2; shift 2 ;;
    --rounds) [ $# -ge 2 ] || die "--rounds needs a number"; ROUNDS=$2; shift 2 ;;
    --idle) BUSY=0; shift ;;
    --conf-extra) [ $# -ge 2 ] || die "--conf-extra needs a line"; CONF_EXTRA+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ ${#TERNS[@]} -gt 0 ] || TERNS=("${TERN:-$ROOT/build/gateway/tern}")
[ -x "$SN_BENCH_BIN" ] || die "no generator at $SN_BENCH_BIN (make sn_bench, or set SN_BENCH_BIN)"
for t in "${TERNS[@]}"; do
    [ -x "$t" ] || die "no tern at $t (use --tern PATH)"
done

WORK=$(mktemp -d /tmp/sn_burst.XXXXXX)
TERN_PID=
BURNERS=()
stop_burners() {
    for p in "${BURNERS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    BURNERS=()
}
stop_tern() {
    if [ -n "$TERN_PID" ]; then
        kill -TERM "$TERN_PID" 2>/dev/null || true
        wait "$TERN_PID" 2>/dev/null || true
        TERN_PID=
    fi
}
cleanup() {
    stop_burners
    stop_tern
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

label() { # a binary's path, its last 44 characters
    local t=$1
    [ ${#t} -le 44 ] || t=${t: -44}
    echo "$t"
}

rcvbuf_errors() { # machine-wide Udp RcvbufErrors
    awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 }
                   else print $c }' /proc/net/snmp
}

start_burners() {
    [ "$BUSY" = 1 ] || return 0
    for _ in $(seq "$(nproc)"); do
        bash -c 'while :; do :; done' &
        BURNERS+=($!)
    done
}

start_tern() { # binary
    MQTT_PORT=$(free_port t)
    SN_PORT=$(free_port u)
    {
        echo "listener $MQTT_PORT 127.0.0.1"
        echo "listener $SN_PORT 127.0.0.1"
        echo "protocol mqttsn"
        for l in "${CONF_EXTRA[@]}"; do echo "$l"; done
        echo "allow_anonymous true"
        echo "persistence false"
        echo "max_queued_messages 100000"
        echo "log_type error"
        echo "log_type warning"
    } >"$WORK/tern.conf"
    "$1" -c "$WORK/tern.conf" >"$WORK/tern.log" 2>&1 &
    TERN_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    kill -0 "$TERN_PID" 2>/dev/null || die "tern did not start: $(cat "$WORK/tern.log")"
    sleep 0.2 # the UDP listener opens after the TCP one
}

echo "sn_burst: $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg), burst of $COUNT QoS 0" \
    "datagrams (64-byte payloads), $ROUNDS rounds, $([ "$BUSY" = 1 ] && echo "$(nproc) CPU burners" || echo idle)"
printf '%-44s %6s %8s %8s %8s %8s %12s\n' tern round sent received lost lost% RcvbufErrors
for t in "${TERNS[@]}"; do
    start_tern "$t"
    total=0
    for r in $(seq "$ROUNDS"); do
        e0=$(rcvbuf_errors)
        start_burners
        sleep 0.3 # let the burners take their share
        out=$(timeout 60 "$SN_BENCH_BIN" 127.0.0.1 "$MQTT_PORT" "$SN_PORT" -q 0 -c 1 -w "$COUNT" \
            -n "$COUNT" -d 30 -D 3 -W 0 2>"$WORK/gen.err") ||
            die "sn_bench failed: $(cat "$WORK/gen.err")"
        stop_burners
        e1=$(rcvbuf_errors)
        declare -A res=()
        for kv in ${out#RESULT }; do
            res[${kv%%=*}]=${kv#*=}
        done
        lostp=$(awk -v l="${res[lost]}" -v s="${res[sent]}" 'BEGIN { printf "%.2f", s ? 100 * l / s : 0 }')
        printf '%-44s %6s %8s %8s %8s %8s %12s\n' "$(label "$t")" "$r" "${res[sent]}" "${res[received]}" \
            "${res[lost]}" "$lostp" $((e1 - e0))
        total=$((total + res[lost]))
        unset res
        sleep 0.5 # the client's session goes (clean DISCONNECT)
    done
    printf '%-44s %6s %8s %8s %8s\n' "$(label "$t")" all $((COUNT * ROUNDS)) - "$total"
    stop_tern
done
