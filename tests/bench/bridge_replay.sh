#!/usr/bin/env bash
# bridge_replay.sh - replay of a store-and-forward bridge backlog.
#
# usage: tests/bench/bridge_replay.sh [--tern PATH] [-n MESSAGES] [-m BYTES]
#                                     [--runs "sync:20 sync:256 none:20"] [--no-mosquitto]
#
# For each run DURABILITY:INFLIGHT (DURABILITY sync, none or periodic-MS), on a
# fresh gateway and store:
# 1. Tern (persistence on, persistence_durability DURABILITY) with a bridge
#    `connection up` to 127.0.0.1:UPORT, where nothing listens yet (topic
#    bench/# out 1, restart_timeout 1, bridge_max_inflight INFLIGHT).
# 2. tern_bench durable-pub: N (100,000) QoS 1 messages of BYTES (64) bytes
#    into Tern, window FILL_WINDOW (256): every one PUBACKed = in the backlog.
# 3. VmRSS with the backlog queued and the uplink down ("before"); du of the
#    store directory.
# 4. Tern is stopped (SIGSTOP) so it cannot connect; the upstream mosquitto
#    starts on UPORT; the counting subscriber creates its persistent session
#    (durable-sub, bench/# QoS 1) and reconnects to wait (durable-drain);
#    then SIGCONT: Tern connects on its next retry (<= 1 s) and replays into
#    a subscriber that was there first. No race with the retry timer.
# 5. Replay time: Tern's log line "bridge: up: connected to" (ms stamp) to
#    the subscriber's last message; the subscriber checks every message
#    arrives once, in order (sequence number in the payload). Tern's VmRSS
#    is sampled every 50 ms from SIGCONT to the end ("peak").
# The mosquitto row does the same with mosquitto as the gateway (its bridge
# queue is in RAM: `persistence false`, max_queued_messages 0), timed from
# its subscriber's first to last message (its log has no sub-second stamps).
#
# Environment: BENCH_BIN (build-rel/tests/bench/tern_bench), TERN
# (build-rel/gateway/tern), MOSQUITTO (/usr/sbin/mosquitto), STORE_TMP (/tmp:
# must be a disk), FILL_WINDOW (256), RUNS ("sync:20 sync:256 none:20
# none:256"), REPLAY_MAX_S (300).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN=${BENCH_BIN:-$ROOT/build-rel/tests/bench/tern_bench}
TERN=${TERN:-$ROOT/build-rel/gateway/tern}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
STORE_TMP=${STORE_TMP:-/tmp}
FILL_WINDOW=${FILL_WINDOW:-256}
RUNS=${RUNS:-sync:20 sync:256 none:20 none:256}
REPLAY_MAX_S=${REPLAY_MAX_S:-300}
N=100000
PAYLOAD=64
MOSQ_ROW=1
SUB_ID=tb-bridge-sub
TOPIC=bench/replay

die() {
    echo "bridge_replay: error: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --tern) [ $# -ge 2 ] || die "--tern needs a path"; TERN=$2; shift 2 ;;
    -n) [ $# -ge 2 ] || die "-n needs a count"; N=$2; shift 2 ;;
    -m) [ $# -ge 2 ] || die "-m needs a size"; PAYLOAD=$2; shift 2 ;;
    --runs) [ $# -ge 2 ] || die "--runs needs a list"; RUNS=$2; shift 2 ;;
    --no-mosquitto) MOSQ_ROW=0; shift ;;
    -h | --help) sed -n '2,31p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -x "$TERN" ] || die "no Tern binary at $TERN: build Release (cmake --build build-rel) or --tern PATH"
[ -x "$BENCH_BIN" ] || die "no load generator at $BENCH_BIN: build tern_bench or set BENCH_BIN"
[ -x "$MOSQUITTO" ] || die "no mosquitto at $MOSQUITTO (Debian package mosquitto)"
[ "$N" -gt 0 ] 2>/dev/null || die "-n must be a positive number"
[ "$PAYLOAD" -ge 16 ] 2>/dev/null || die "-m must be at least 16 (the sequence stamp)"
for r in $RUNS; do
    [[ $r =~ ^(sync|none|periodic-[0-9]+):[0-9]+$ ]] ||
        die "run '$r' is not DURABILITY:INFLIGHT (DURABILITY sync, none or periodic-MS)"
done
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash 5 (EPOCHREALTIME)"
if [ "$(stat -f -c %T "$STORE_TMP")" = tmpfs ]; then
    echo "WARNING: $STORE_TMP is tmpfs: fsync costs nothing there; set STORE_TMP to a disk" >&2
fi

WORK=$(mktemp -d "$STORE_TMP/tern_bridge_replay.XXXXXX")
PIDS=() # every process started and not yet reaped
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -CONT "$p" 2>/dev/null || true
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() { # pid: no longer ours to stop
    local i
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[$i]}" != "$1" ] || unset 'PIDS[i]'
    done
}
stop_pid() { # pid: SIGTERM, wait up to 10 s, then SIGKILL
    kill -CONT "$1" 2>/dev/null || true
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

read -r PORT_LO PORT_HI </proc/sys/net/ipv4/ip_local_port_range
USED_PORTS=" "
free_port() { # VAR: a port outside the ephemeral range, unbound, not handed out before
    local p base=10000 span=$((PORT_LO - 10000))
    if [ "$span" -lt 1000 ]; then
        base=$((PORT_HI + 1))
        span=$((65536 - base))
    fi
    [ "$span" -ge 100 ] || { base=1024; span=30000; }
    for _ in $(seq 200); do
        p=$((base + (RANDOM * 32768 + RANDOM) % span))
        if [[ $USED_PORTS != *" $p "* ]] && [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
            USED_PORTS+="$p "
            printf -v "$1" '%s' "$p"
            return 0
        fi
    done
    die "no free port found"
}
us_now() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }
rss_kb() { # pid [field]: VmRSS (or RssAnon, ...) of pid in kB, 0 if it is gone; no fork
    local k v _ want=${2:-VmRSS}:
    if [ -r "/proc/$1/status" ]; then
        while read -r k v _; do
            [ "$k" != "$want" ] || { echo "$v"; return 0; }
        done 2>/dev/null <"/proc/$1/status" || true
    fi
    echo 0
}
field() { # "RESULT ..." key
    local v
    v=$(printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p")
    echo "${v:-?}"
}
wait_port() { # port pid timeout_s: 127.0.0.1:port accepts a TCP connection
    local deadline=$(($(us_now) + $3 * 1000000))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(us_now)" -lt "$deadline" ] || return 1
        sleep 0.01
    done
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of pid
    local stat f
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    echo $((f[11] + f[12]))
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ROOT_USER=
[ "$(id -u)" != 0 ] || ROOT_USER="user root" # mosquitto would switch to user mosquitto

start_gateway() { # kind dir durability inflight gport uport -> GPID
    local kind=$1 dir=$2 dur=$3 inflight=$4 gport=$5 uport=$6
    if [ "$kind" = tern ]; then
        cat >"$dir/gw.conf" <<EOF
listener $gport 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/store
persistence_durability ${dur/-/ }
max_inflight_messages 64
max_queued_messages 0
sys_interval 1
log_type error
log_type warning
log_type notice
connection up
address 127.0.0.1:$uport
topic bench/# out 1
restart_timeout 1
keepalive_interval 60
bridge_max_inflight $inflight
EOF
        "$TERN" -c "$dir/gw.conf" >"$dir/gw.log" 2>&1 &
    else
        cat >"$dir/gw.conf" <<EOF
listener $gport 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages $inflight
max_queued_messages 0
log_dest stderr
log_type error
log_type warning
log_type notice
$ROOT_USER
connection up
address 127.0.0.1:$uport
topic bench/# out 1
restart_timeout 1
keepalive_interval 60
cleansession false
EOF
        "$MOSQUITTO" -c "$dir/gw.conf" >"$dir/gw.log" 2>&1 &
    fi
    GPID=$!
    PIDS+=("$GPID")
    wait_port "$gport" "$GPID" 10 || { tail -n 20 "$dir/gw.log" >&2; die "$kind did not start listening"; }
}
start_upstream() { # dir uport -> UPID
    cat >"$1/up.conf" <<EOF
listener $2 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
log_dest stderr
log_type error
log_type warning
log_type notice
$ROOT_USER
EOF
    "$MOSQUITTO" -c "$1/up.conf" >"$1/up.log" 2>&1 &
    UPID=$!
    PIDS+=("$UPID")
    wait_port "$2" "$UPID" 10 || { tail -n 20 "$1/up.log" >&2; die "upstream mosquitto did not start"; }
}
# Peak VmRSS and peak RssAnon of pid, every 50 ms, into file ("RSS ANON"),
# until the file "$2.stop" exists.
sample_rss() { # pid file
    local peak=0 peak_anon=0 r a
    while [ ! -e "$2.stop" ]; do
        r=$(rss_kb "$1")
        a=$(rss_kb "$1" RssAnon)
        [ "$r" -le "$peak" ] || peak=$r
        [ "$a" -le "$peak_anon" ] || peak_anon=$a
        sleep 0.05
    done
    echo "$peak $peak_anon" >"$2"
}
# ISO stamp of Tern's first "bridge: up: connected to" line, as epoch seconds.
tern_connected_at() { # log
    local stamp
    stamp=$(grep -m1 'bridge: up: connected to' "$1" | awk '{ print $1 }') || true
    [ -n "$stamp" ] || { echo "?"; return; }
    date -d "$stamp" +%s.%N 2>/dev/null || echo "?"
}

WARN=()
declare -A R
ROWS=()
run_one() { # kind durability inflight
    local kind=$1 dur=$2 inflight=$3 key="$1:$2:$3"
    local dir gport uport out rc t_conn
    dir=$(mktemp -d "$WORK/run.XXXX")
    free_port gport
    free_port uport
    ROWS+=("$key")
    echo "== $kind durability=$dur inflight=$inflight (gateway :$gport, upstream :$uport, $dir)" >&2
    start_gateway "$kind" "$dir" "$dur" "$inflight" "$gport" "$uport"
    sleep 0.5
    R[$key:rss0]=$(rss_kb "$GPID")
    R[$key:anon0]=$(rss_kb "$GPID" RssAnon)

    # 2: the backlog
    out=$(timeout -k 2 $((REPLAY_MAX_S + 30)) "$BENCH_BIN" 127.0.0.1 "$gport" durable-pub -t "$TOPIC" \
        -n "$N" -m "$PAYLOAD" -w "$FILL_WINDOW" -d "$REPLAY_MAX_S" -D 10 2>>"$dir/gen.err" |
        grep '^RESULT') || true
    [ -n "$out" ] || { cat "$dir/gen.err" >&2; die "$key: the publisher failed"; }
    R[$key:acked]=$(field "$out" acked)
    R[$key:fill]=$(field "$out" acks_per_s)
    [ "${R[$key:acked]}" = "$N" ] || WARN+=("$key: only ${R[$key:acked]} of $N publishes acknowledged")
    sleep 1 # the writer's last commit; the bridge has retried at least once
    R[$key:rss1]=$(rss_kb "$GPID")
    R[$key:anon1]=$(rss_kb "$GPID" RssAnon)
    if [ "$kind" = tern ]; then
        R[$key:store]=$(du -sk "$dir/store" | cut -f1)
        grep -q 'bridge: up: connecting to .* failed' "$dir/gw.log" ||
            WARN+=("$key: no failed connection attempt logged while the upstream was down")
    else
        R[$key:store]=-
    fi

    # 4: hold the gateway, start the upstream and its subscriber, release it
    kill -STOP "$GPID"
    start_upstream "$dir" "$uport"
    timeout -k 2 20 "$BENCH_BIN" 127.0.0.1 "$uport" durable-sub -i "$SUB_ID" -t 'bench/#' \
        >/dev/null 2>>"$dir/gen.err" || die "$key: durable-sub on the upstream failed"
    timeout -k 2 $((REPLAY_MAX_S + 30)) "$BENCH_BIN" 127.0.0.1 "$uport" durable-drain -i "$SUB_ID" \
        -t 'bench/#' -p 1 -e "$N" -d "$REPLAY_MAX_S" -D 15 -C 10 >"$dir/drain.out" 2>"$dir/drain.err" &
    local dpid=$!
    PIDS+=("$dpid")
    for _ in $(seq 200); do
        ! grep -q 'connected, session present' "$dir/drain.err" || break
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.05
    done
    grep -q 'connected, session present 1' "$dir/drain.err" ||
        { cat "$dir/drain.err" >&2; die "$key: the subscriber did not reconnect to its session"; }
    sample_rss "$GPID" "$dir/rss.peak" &
    local spid=$!
    PIDS+=("$spid")
    local gc0 uc0 gc1 uc1 t0 t1
    gc0=$(cpu_ticks "$GPID")
    uc0=$(cpu_ticks "$UPID")
    t0=$(us_now)
    kill -CONT "$GPID"

    # 5: the replay
    rc=0
    wait "$dpid" || rc=$?
    forget "$dpid"
    t1=$(us_now)
    # CPU share of the gateway and of the upstream from SIGCONT to the end
    # (includes the <= 1 s before the gateway reconnects, and 0.3 s after).
    gc1=$(cpu_ticks "$GPID")
    uc1=$(cpu_ticks "$UPID")
    R[$key:gcpu]=$(((gc1 - gc0) * 100000000 / CLK_TCK / (t1 - t0 + 1)))
    R[$key:ucpu]=$(((uc1 - uc0) * 100000000 / CLK_TCK / (t1 - t0 + 1)))
    : >"$dir/rss.peak.stop"
    wait "$spid" || true
    forget "$spid"
    local peak peak_anon
    read -r peak peak_anon <"$dir/rss.peak"
    R[$key:rss2]=$peak
    R[$key:anon2]=$peak_anon
    R[$key:rss3]=$(rss_kb "$GPID")
    R[$key:anon3]=$(rss_kb "$GPID" RssAnon)
    out=$(grep '^RESULT' "$dir/drain.out" || true)
    R[$key:recv]=$(field "$out" received)
    R[$key:gaps]=$(field "$out" gaps)
    R[$key:dup]=$(field "$out" dup)
    R[$key:stream]=$(field "$out" stream_s)
    local first last
    first=$(field "$out" first_at)
    last=$(field "$out" last_at)
    t_conn="?"
    [ "$kind" != tern ] || t_conn=$(tern_connected_at "$dir/gw.log")
    if [ "$t_conn" != "?" ] && [ "$last" != "?" ]; then
        R[$key:replay]=$(awk -v a="$t_conn" -v b="$last" 'BEGIN { printf "%.3f", b - a }')
        R[$key:lag]=$(awk -v a="$t_conn" -v b="$first" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
    else
        R[$key:replay]=${R[$key:stream]}
        R[$key:lag]=-
    fi
    R[$key:rate]=$(awk -v n="${R[$key:recv]}" -v t="${R[$key:replay]}" \
        'BEGIN { if (t > 0) printf "%.0f", n / t; else print "?" }')
    # CPU per replayed message (10 ms ticks: +-0.1 us at 100,000)
    R[$key:gus]=$(awk -v c=$((gc1 - gc0)) -v hz="$CLK_TCK" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / hz / n }')
    R[$key:uus]=$(awk -v c=$((uc1 - uc0)) -v hz="$CLK_TCK" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / hz / n }')
    if [ "$rc" != 0 ] || [ "$(field "$out" ok)" != 1 ]; then
        WARN+=("$key: subscriber received ${R[$key:recv]} of $N, gaps ${R[$key:gaps]},\
 dup ${R[$key:dup]}, stop $(field "$out" stop) (rc $rc); $(tail -n 1 "$dir/drain.err")")
        echo "--- $key gateway log (last 15 lines):" >&2
        tail -n 15 "$dir/gw.log" >&2
    fi
    echo "   fill ${R[$key:fill]}/s; RSS ${R[$key:rss0]} -> ${R[$key:rss1]} kB, peak ${R[$key:rss2]}," \
        "after ${R[$key:rss3]}; received ${R[$key:recv]} in ${R[$key:replay]} s (${R[$key:rate]}/s)" >&2
    if [ "$kind" = tern ]; then
        grep 'bridge: up: connected to' "$dir/gw.log" | head -n 2 | sed 's/^/   /' >&2 || true
    fi
    stop_pid "$GPID"
    stop_pid "$UPID"
    rm -rf "$dir"
}

read -r LOAD1 _ </proc/loadavg
UPTIME1=$(uptime)
echo "bridge replay: N=$N, payload $PAYLOAD B, runs: $RUNS; $(nproc) CPUs; $UPTIME1" >&2
echo "Tern $TERN ($("$TERN" --version 2>/dev/null | head -n 1 || echo '?')), $("$MOSQUITTO" -h 2>&1 | head -n 1)" >&2
for r in $RUNS; do
    run_one tern "${r%%:*}" "${r##*:}"
done
if [ "$MOSQ_ROW" = 1 ]; then
    run_one mosq ram 20
fi
UPTIME2=$(uptime)

echo
echo "Bridge replay: $N QoS 1 messages x $PAYLOAD B queued while the upstream was down, then replayed"
echo "to a local mosquitto and one QoS 1 subscriber; publisher window $FILL_WINDOW; $(nproc) CPUs,"
echo "store on $(stat -f -c %T "$STORE_TMP") ($STORE_TMP)"
echo "before: $UPTIME1"
echo "after:  $UPTIME2"
rss() { printf '%s (%s)' "$(mib "$1")" "$(mib "$2")"; }
echo
echo "memory: VmRSS (of it RssAnon) in MiB"
FMT='%-22s %9s %7s %12s %12s %12s %12s\n'
# shellcheck disable=SC2059
printf "$FMT" gateway "fill/s" store started "backlog,down" "replay peak" "after"
for key in "${ROWS[@]}"; do
    IFS=: read -r kind dur inflight <<<"$key"
    name="tern $dur, inflight $inflight"
    [ "$kind" = tern ] || name="mosquitto (RAM) $inflight"
    store=${R[$key:store]}
    [ "$store" = - ] || store="$(mib "$store")M"
    # shellcheck disable=SC2059
    printf "$FMT" "$name" "${R[$key:fill]}" "$store" "$(rss "${R[$key:rss0]}" "${R[$key:anon0]}")" \
        "$(rss "${R[$key:rss1]}" "${R[$key:anon1]}")" "$(rss "${R[$key:rss2]}" "${R[$key:anon2]}")" \
        "$(rss "${R[$key:rss3]}" "${R[$key:anon3]}")"
done
echo
echo "replay"
FMT='%-22s %8s %5s %5s %8s %6s %8s %7s %7s %5s %5s\n'
# shellcheck disable=SC2059
printf "$FMT" gateway received gaps dup "replay s" "lag ms" "msgs/s" "gw us" "up us" "gw%" "up%"
for key in "${ROWS[@]}"; do
    IFS=: read -r kind dur inflight <<<"$key"
    name="tern $dur, inflight $inflight"
    [ "$kind" = tern ] || name="mosquitto (RAM) $inflight"
    # shellcheck disable=SC2059
    printf "$FMT" "$name" "${R[$key:recv]}" "${R[$key:gaps]}" "${R[$key:dup]}" "${R[$key:replay]}" \
        "${R[$key:lag]}" "${R[$key:rate]}" "${R[$key:gus]}" "${R[$key:uus]}" "${R[$key:gcpu]}" \
        "${R[$key:ucpu]}"
done
echo
echo "started: gateway up, nothing published; backlog,down: N messages queued, uplink down; replay"
echo "peak: sampled every 50 ms during the replay; after: when the subscriber has them all."
echo "replay s: Tern's log line 'bridge: up: connected to' to the last message at the subscriber"
echo "(lag: to the first); mosquitto's log has no sub-second stamps: first to last message there."
echo "gw us, up us: CPU (utime+stime, 10 ms ticks) of the gateway and of the upstream mosquitto per"
echo "replayed message, from SIGCONT to the end; gw%, up%: the same over wall time."
if [ "${LOAD1%.*}" -ge 1 ] 2>/dev/null; then
    echo "NOTE: load average $LOAD1 before the run: other work shared the CPUs"
fi
if [ ${#WARN[@]} -gt 0 ]; then
    echo
    for w in "${WARN[@]}"; do
        echo "WARNING: $w"
    done
    exit 2
fi
