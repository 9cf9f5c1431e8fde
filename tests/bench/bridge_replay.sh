#!/usr/bin/env bash
# bridge_replay.sh - replay of a store-and-forward bridge backlog.
#
# usage: tests/bench/bridge_replay.sh [--tern PATH] [-n MESSAGES] [-m BYTES]
#                                     [--rows "tern:tern mosq:tern tern:mosq mosq:mosq"]
#                                     [--runs "sync:20 sync:256 none:20"] [--no-mosquitto]
#
# Default (no --runs): the issue-15 rows from one run (--rows picks some of
# the EDGE:UPSTREAM pairs). Four replays of the
# same N (30,000) QoS 1 messages of BYTES (64) bytes, queued while the
# upstream was down: edge Tern and edge mosquitto (the same `connection`
# block and the same max_inflight_messages 20 on both), each to an upstream
# Tern (a second tern process, plain listener, persistence off) and to an
# upstream mosquitto. Printed side by side: rate (subscriber's first to
# last message), the edge's CPU per message (utime+stime from SIGCONT to
# the end / N) and whether every message arrived once and in order.
#
# --runs: the detailed runs instead. For each DURABILITY:INFLIGHT
# (DURABILITY sync, none or periodic-MS) a Tern edge with
# persistence_durability DURABILITY and bridge_max_inflight INFLIGHT
# replays to an upstream mosquitto, and (unless --no-mosquitto) mosquitto as
# the edge does the same, for memory. Both modes print the memory and replay
# tables.
#
# Each replay, on a fresh edge and store:
# 1. The edge (Tern: persistence on) with a bridge `connection up` to
#    127.0.0.1:UPORT, where nothing listens yet (topic bench/# out 1,
#    restart_timeout 1, cleansession false).
# 2. tern_bench durable-pub: N QoS 1 messages into the edge, window
#    FILL_WINDOW (256): every one PUBACKed = in the backlog.
# 3. VmRSS with the backlog queued and the uplink down ("before"); du of the
#    store directory.
# 4. The edge is stopped (SIGSTOP) so it cannot connect; the upstream starts
#    on UPORT; the counting subscriber creates its persistent session
#    (durable-sub, bench/# QoS 1) and reconnects to wait (durable-drain);
#    then SIGCONT: the edge connects on its next retry (<= 1 s) and replays
#    into a subscriber that was there first. No race with the retry timer.
# 5. Replay time: Tern's log line "bridge: up: connected to" (ms stamp) to
#    the subscriber's last message (mosquitto's log has no sub-second
#    stamps: its first to last message); the subscriber checks every
#    message arrives once, in order (sequence number in the payload). The
#    edge's VmRSS is sampled every 50 ms from SIGCONT to the end ("peak").
#
# EDGE_PROBE: a command run on the edge during each replay, with its
# PID appended, stopped with SIGINT at the end; its output is copied to
# PROBE_DIR ($PWD) as probe.EDGE.UPSTREAM.DUR.INFLIGHT.out; UP_PROBE the same
# on the upstream (upprobe.*.out). E.g.
# EDGE_PROBE="strace -c -f -p" or EDGE_PROBE="perf stat -e task-clock -p".
# A probe started in the background from this script inherits SIGINT
# ignored; a bash script cannot trap it then (it never stops): use a
# program that installs its own handler (strace, perf, Python's signal).
#
# Environment: BENCH_BIN (build-rel/tests/bench/tern_bench), TERN
# (build-rel/gateway/tern), UP_TERN (the upstream tern, default TERN),
# MOSQUITTO (/usr/sbin/mosquitto), STORE_TMP (/tmp: must be a disk),
# FILL_WINDOW (256), REPLAY_MAX_S (300), TERN_EDGE_EXTRA (lines appended to the
# Tern edge's config, after its connection block: "bridge_max_inflight 64").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN=${BENCH_BIN:-$ROOT/build-rel/tests/bench/tern_bench}
TERN=${TERN:-$ROOT/build-rel/gateway/tern}
UP_TERN=${UP_TERN:-$TERN}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
STORE_TMP=${STORE_TMP:-/tmp}
FILL_WINDOW=${FILL_WINDOW:-256}
RUNS=
MATRIX="tern:tern mosq:tern tern:mosq mosq:mosq"
TERN_EDGE_EXTRA=${TERN_EDGE_EXTRA:-}
EDGE_PROBE=${EDGE_PROBE:-}
UP_PROBE=${UP_PROBE:-}
PROBE_DIR=${PROBE_DIR:-$PWD}
REPLAY_MAX_S=${REPLAY_MAX_S:-300}
N=30000
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
    --rows) [ $# -ge 2 ] || die "--rows needs a list"; MATRIX=$2; shift 2 ;;
    -h | --help) sed -n '2,57p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -x "$TERN" ] || die "no Tern binary at $TERN: build Release (cmake --build build-rel) or --tern PATH"
[ -x "$BENCH_BIN" ] || die "no load generator at $BENCH_BIN: build tern_bench or set BENCH_BIN"
UP_TERN=${UP_TERN:-$TERN}
[ -x "$UP_TERN" ] || die "no upstream Tern binary at $UP_TERN"
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
# CPU time of pid in ns: the sum over its threads of the scheduler's run
# time (/proc/PID/task/TID/schedstat, the figure utime+stime are scaled
# from, without the 10 ms ticks: 30,000 messages at 1 us are 3 ticks).
cpu_ns() { # pid
    local t sum=0 run _
    for t in /proc/"$1"/task/*/schedstat; do
        read -r run _ <"$t" 2>/dev/null || continue
        sum=$((sum + run))
    done
    echo "$sum"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ROOT_USER=
[ "$(id -u)" != 0 ] || ROOT_USER="user root" # mosquitto would switch to user mosquitto

# The bridge block both edges get, word for word (mosquitto syntax).
bridge_block() { # uport
    cat <<EOF
connection up
address 127.0.0.1:$1
topic bench/# out 1
restart_timeout 1
keepalive_interval 60
cleansession false
EOF
}
# One broker, Tern or mosquitto, started the same way for the edge and the
# upstream: the config lines both kinds share, then BODY (the caller's
# lines, its bridge block last), into DIR/NAME.conf; its log in DIR/NAME.log.
start_broker() { # kind binary dir name port body -> BPID
    local kind=$1 bin=$2 conf=$3/$4.conf log=$3/$4.log port=$5
    {
        cat <<EOF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 0
log_type error
log_type warning
log_type notice
EOF
        # mosquitto logs to a file unless told, and as root it would switch
        # to user mosquitto.
        [ "$kind" = tern ] || printf '%s\n' "log_dest stderr" "$ROOT_USER"
        printf '%s\n' "$6"
    } >"$conf"
    "$bin" -c "$conf" >"$log" 2>&1 &
    BPID=$!
    PIDS+=("$BPID")
    wait_port "$port" "$BPID" 10 || { tail -n 20 "$log" >&2; die "$kind ($4) did not start listening"; }
}
start_gateway() { # kind dir durability inflight gport uport -> GPID (inflight - = defaults)
    local kind=$1 dir=$2 dur=$3 inflight=$4 body
    if [ "$kind" = tern ]; then
        body="persistence true
persistence_location $dir/store
persistence_durability ${dur/-/ }
max_inflight_messages 20
sys_interval 1
$(bridge_block "$6")"
        [ "$inflight" = - ] || body+=$'\n'"bridge_max_inflight $inflight"
        body+=$'\n'"$TERN_EDGE_EXTRA"
        start_broker tern "$TERN" "$dir" gw "$5" "$body"
    else
        body="persistence false
max_inflight_messages ${inflight/-/20}
$(bridge_block "$6")"
        start_broker mosq "$MOSQUITTO" "$dir" gw "$5" "$body"
    fi
    GPID=$BPID
}
start_upstream() { # kind dir uport -> UPID
    local bin=$MOSQUITTO
    [ "$1" != tern ] || bin=$UP_TERN
    start_broker "$1" "$bin" "$2" up "$3" "persistence false
max_inflight_messages 0"
    UPID=$BPID
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
run_one() { # kind upstream durability inflight
    local kind=$1 up=$2 dur=$3 inflight=$4 key="$1:$2:$3:$4"
    local dir gport uport out rc t_conn
    dir=$(mktemp -d "$WORK/run.XXXX")
    free_port gport
    free_port uport
    ROWS+=("$key")
    echo "== edge $kind, upstream $up, durability=$dur inflight=$inflight (gateway :$gport, upstream :$uport, $dir)" >&2
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
    start_upstream "$up" "$dir" "$uport"
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
    gc0=$(cpu_ns "$GPID")
    uc0=$(cpu_ns "$UPID")
    local ppid= upid=
    if [ -n "$EDGE_PROBE" ]; then
        # A profiler on the edge for the replay: EDGE_PROBE PID, stopped
        # with SIGINT when the subscriber has everything.
        $EDGE_PROBE "$GPID" >"$dir/probe.out" 2>&1 &
        ppid=$!
        PIDS+=("$ppid")
    fi
    if [ -n "$UP_PROBE" ]; then
        $UP_PROBE "$UPID" >"$dir/upprobe.out" 2>&1 &
        upid=$!
        PIDS+=("$upid")
    fi
    [ -z "$EDGE_PROBE$UP_PROBE" ] || sleep 0.5
    t0=$(us_now)
    kill -CONT "$GPID"

    # 5: the replay
    rc=0
    wait "$dpid" || rc=$?
    forget "$dpid"
    t1=$(us_now)
    local p name
    for p in "$ppid" "$upid"; do
        [ -n "$p" ] || continue
        kill -INT "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
        forget "$p"
    done
    mkdir -p "$PROBE_DIR"
    for name in probe upprobe; do
        [ -e "$dir/$name.out" ] || continue
        cp "$dir/$name.out" "$PROBE_DIR/$name.$kind.$up.$dur.$inflight.out"
        echo "   $name output: $PROBE_DIR/$name.$kind.$up.$dur.$inflight.out" >&2
    done
    # CPU share of the gateway and of the upstream from SIGCONT to the end
    # (includes the <= 1 s before the gateway reconnects, and 0.3 s after).
    gc1=$(cpu_ns "$GPID")
    uc1=$(cpu_ns "$UPID")
    R[$key:gcpu]=$(((gc1 - gc0) / 10 / (t1 - t0 + 1)))
    R[$key:ucpu]=$(((uc1 - uc0) / 10 / (t1 - t0 + 1)))
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
    # The same measure for every edge: the subscriber's first to last message.
    R[$key:srate]=$(awk -v n="${R[$key:recv]}" -v t="${R[$key:stream]}" \
        'BEGIN { if (t > 0) printf "%.0f", n / t; else print "?" }')
    R[$key:ok]=no
    [ "$rc" != 0 ] || [ "$(field "$out" ok)" != 1 ] || R[$key:ok]=yes
    # CPU per replayed message
    R[$key:gus]=$(awk -v c=$((gc1 - gc0)) -v n="$N" 'BEGIN { printf "%.2f", c / 1000 / n }')
    R[$key:uus]=$(awk -v c=$((uc1 - uc0)) -v n="$N" 'BEGIN { printf "%.2f", c / 1000 / n }')
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
echo "bridge replay: N=$N, payload $PAYLOAD B, runs: ${RUNS:-issue rows}; $(nproc) CPUs; $UPTIME1" >&2
echo "Tern $TERN ($("$TERN" --version 2>/dev/null | head -n 1 || echo '?')), $("$MOSQUITTO" -h 2>&1 | head -n 1)" >&2
if [ -z "$RUNS" ]; then
    for pair in $MATRIX; do
        [[ $pair =~ ^(tern|mosq):(tern|mosq)$ ]] || die "--rows: '$pair' is not EDGE:UPSTREAM (tern or mosq)"
        dur=sync
        [ "${pair%%:*}" = tern ] || dur=ram
        run_one "${pair%%:*}" "${pair##*:}" "$dur" -
    done
else
    for r in $RUNS; do
        run_one tern mosq "${r%%:*}" "${r##*:}"
    done
    if [ "$MOSQ_ROW" = 1 ]; then
        run_one mosq mosq ram 20
    fi
fi
UPTIME2=$(uptime)

row_name() { # key -> NAME
    local kind up dur inflight
    IFS=: read -r kind up dur inflight <<<"$1"
    [ "$inflight" != - ] || inflight=default
    if [ "$kind" = tern ]; then
        NAME="tern $dur, inflight $inflight"
    else
        NAME="mosquitto (RAM) $inflight"
    fi
    [ -z "$RUNS" ] || return 0
    NAME="$NAME -> ${up/mosq/mosquitto}"
}
echo
echo "Bridge replay: $N QoS 1 messages x $PAYLOAD B queued while the upstream was down, then replayed"
echo "to the upstream and one QoS 1 subscriber there; publisher window $FILL_WINDOW; $(nproc) CPUs,"
echo "store on $(stat -f -c %T "$STORE_TMP") ($STORE_TMP)"
echo "before: $UPTIME1"
echo "after:  $UPTIME2"
rss() { printf '%s (%s)' "$(mib "$1")" "$(mib "$2")"; }
echo
echo "memory of the edge: VmRSS (of it RssAnon) in MiB"
FMT='%-34s %9s %7s %12s %12s %12s %12s\n'
# shellcheck disable=SC2059
printf "$FMT" edge "fill/s" store started "backlog,down" "replay peak" "after"
for key in "${ROWS[@]}"; do
    row_name "$key"
    store=${R[$key:store]}
    [ "$store" = - ] || store="$(mib "$store")M"
    # shellcheck disable=SC2059
    printf "$FMT" "$NAME" "${R[$key:fill]}" "$store" "$(rss "${R[$key:rss0]}" "${R[$key:anon0]}")" \
        "$(rss "${R[$key:rss1]}" "${R[$key:anon1]}")" "$(rss "${R[$key:rss2]}" "${R[$key:anon2]}")" \
        "$(rss "${R[$key:rss3]}" "${R[$key:anon3]}")"
done
echo
echo "replay"
FMT='%-34s %8s %5s %5s %8s %6s %8s %7s %7s %5s %5s\n'
# shellcheck disable=SC2059
printf "$FMT" edge received gaps dup "replay s" "lag ms" "msgs/s" "gw us" "up us" "gw%" "up%"
for key in "${ROWS[@]}"; do
    row_name "$key"
    # shellcheck disable=SC2059
    printf "$FMT" "$NAME" "${R[$key:recv]}" "${R[$key:gaps]}" "${R[$key:dup]}" "${R[$key:replay]}" \
        "${R[$key:lag]}" "${R[$key:rate]}" "${R[$key:gus]}" "${R[$key:uus]}" "${R[$key:gcpu]}" \
        "${R[$key:ucpu]}"
done
if [ -z "$RUNS" ]; then
    echo
    echo "issue 15 rows: edge Tern vs edge mosquitto, the same connection block (msgs/s: the"
    echo "subscriber's first to last message; us: the edge's CPU per message)"
    FMT='%-10s %11s %9s %6s | %11s %9s %6s | %7s\n'
    # shellcheck disable=SC2059
    printf "$FMT" upstream "tern msgs/s" "tern us" "once" "mosq msgs/s" "mosq us" "once" "ratio"
    for up in tern mosq; do
        t="tern:$up:sync:-"
        m="mosq:$up:ram:-"
        [ -n "${R[$t:ok]:-}${R[$m:ok]:-}" ] || continue # not among --rows
        ratio=$(awk -v a="${R[$t:srate]:-}" -v b="${R[$m:srate]:-}" \
            'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }')
        # shellcheck disable=SC2059
        printf "$FMT" "${up/mosq/mosquitto}" "${R[$t:srate]:--}" "${R[$t:gus]:--}" "${R[$t:ok]:--}" \
            "${R[$m:srate]:--}" "${R[$m:gus]:--}" "${R[$m:ok]:--}" "$ratio"
    done
fi
echo
echo "started: edge up, nothing published; backlog,down: N messages queued, uplink down; replay"
echo "peak: sampled every 50 ms during the replay; after: when the subscriber has them all."
echo "replay s: Tern's log line 'bridge: up: connected to' to the last message at the subscriber"
echo "(lag: to the first); mosquitto's log has no sub-second stamps: first to last message there."
echo "gw us, up us: CPU (utime+stime, from the threads' schedstat run time in ns) of the edge and"
echo "of the upstream per replayed message, from SIGCONT to the end; gw%, up%: the same over wall"
echo "time. once: every message"
echo "arrived, once, in order."
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
