#!/usr/bin/env bash
# run_bench.sh - run the same MQTT 3.1.1 load against mosquitto and Tern, side by side.
#
# usage: tests/bench/run_bench.sh [--tern PATH_TO_TERN] [--quick]
#            [--flashmq PATH] [--nanomq PATH] [--only "idle,1->1 qos1,..."]
#
# Builds nothing. Needs the load generator at $BENCH_BIN (default
# build/tests/bench/tern_bench). Starts each broker on a free 127.0.0.1 port
# with the same settings (mosquitto syntax for mosquitto and Tern; FlashMQ's
# own syntax, one thread, for FlashMQ; NanoMQ's defaults), runs every
# scenario against each (interleaved, so drift hits all), stops them and
# prints one table. Without Tern (no --tern, no $TERN, no build/gateway/tern,
# or it does not start) only the peers' columns are filled. FlashMQ and
# NanoMQ are not Debian packages: their columns appear only when a path to
# a binary built by hand is given. --only runs just the named scenarios
# ("idle" is the idle-connection phase).
#
# Environment: BENCH_BIN, MOSQUITTO (/usr/sbin/mosquitto), TERN (none: skip), IDLE_CONNS
# (10000), BENCH_CONF_EXTRA (lines appended to mosquitto's and Tern's configs).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/bench_lib.sh" # free_port, cpu_ticks, rss_kb, field
BENCH_BIN=${BENCH_BIN:-$ROOT/build/tests/bench/tern_bench}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
TERN=${TERN:-}
FLASHMQ=
NANOMQ=
ONLY=
IDLE_CONNS=${IDLE_CONNS:-10000}
QUICK=0

die() {
    echo "run_bench: error: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --tern) [ $# -ge 2 ] || die "--tern needs a path"; TERN=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --flashmq) [ $# -ge 2 ] || die "--flashmq needs a path"; FLASHMQ=$2; shift 2 ;;
    --nanomq) [ $# -ge 2 ] || die "--nanomq needs a path"; NANOMQ=$2; shift 2 ;;
    --only) [ $# -ge 2 ] || die "--only needs a list"; ONLY=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (usage: $0 [--tern PATH] [--quick] [--flashmq PATH] [--nanomq PATH] [--only LIST])" ;;
    esac
done

if [ "$QUICK" = 1 ]; then
    DUR=2   # publishing seconds per scenario
    DRAIN=2
else
    DUR=5
    DRAIN=3
fi
CONNECT_S=2 # connection setup bound per traffic scenario: DUR + DRAIN + CONNECT_S <= 10 s
GEN_TIMEOUT=$((DUR + DRAIN + CONNECT_S + 1)) # hard kill, should never be needed

[ -x "$BENCH_BIN" ] || die "no load generator at $BENCH_BIN: build it (make tern_bench) or set BENCH_BIN"
[ -x "$MOSQUITTO" ] || die "mosquitto not found at $MOSQUITTO (set MOSQUITTO)"
if [ "$TERN" = none ]; then
    TERN=
elif [ -z "$TERN" ] && [ -x "$ROOT/build/gateway/tern" ]; then
    TERN=$ROOT/build/gateway/tern
fi
for b in "$TERN" "$FLASHMQ" "$NANOMQ"; do
    if [ -n "$b" ] && [ ! -x "$b" ]; then
        die "$b is not an executable"
    fi
done
wanted() { # scenario name: in --only (or no --only)?
    [ -z "$ONLY" ] && return 0
    case ",$ONLY," in *",$1,"*) return 0 ;; esac
    return 1
}

# Idle connections need one fd each in the generator and in the broker.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE_CONNS + 512)) ]; then
    die "open-file limit is $NOFILE (hard $(ulimit -Hn)); the idle scenario needs $((IDLE_CONNS + 512)):" \
        "raise the hard limit (limits.conf, systemd LimitNOFILE, prlimit) or set IDLE_CONNS lower"
fi
read -r PORT_LO PORT_HI </proc/sys/net/ipv4/ip_local_port_range
if [ $((PORT_HI - PORT_LO)) -lt $((IDLE_CONNS + 2000)) ]; then
    die "net.ipv4.ip_local_port_range $PORT_LO-$PORT_HI has too few ports for $IDLE_CONNS connections"
fi
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/tern_bench.XXXXXX)
PIDS=() # started and not yet reaped; only these are ever signalled
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}
stop_pid() { # pid: TERM, up to 3 s, then KILL; reap
    local p=$1
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 15); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    forget_pid "$p"
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free listening port outside the ephemeral range, so that none of the
# thousands of client sockets can be holding it.

# Same settings for both brokers (mosquitto syntax, which Tern accepts):
# in-flight window 64 per client both ways (publishers also keep <= 64
# unacknowledged), queue large enough that the bench's bounded backlog is
# never dropped, no persistence, log only errors and warnings (a line per
# connect would bill logging to the idle scenario), TCP_NODELAY (Tern sets
# it always and ignores the option with a warning; mosquitto needs it).
write_conf() { # file port
    cat >"$1" <<EOF
listener $2 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 64
max_queued_messages 100000
set_tcp_nodelay true
log_type error
log_type warning
${BENCH_CONF_EXTRA:-}
EOF
}

# FlashMQ in its own syntax, one thread (as the issue's anchor), the same
# limits where it has them: pending QoS messages per client and their bytes
# large enough that the bench's bounded backlog is never dropped; warnings
# and errors only. TCP_NODELAY, which Tern always sets: without it FlashMQ's
# small acknowledgements wait for delayed ACKs (12.6k QoS 1 msg/s 1->1 at
# 0% CPU in one run).
write_flashmq_conf() { # file port
    cat >"$1" <<EOF
thread_count 1
allow_anonymous true
log_level warning
max_qos_msg_pending_per_client 65535
max_qos_bytes_pending_per_client 1000000000
listen {
  protocol mqtt
  port $2
  inet4_bind_address 127.0.0.1
  tcp_nodelay true
}
EOF
}

declare -A PID PORT
BROKERS=()

start_broker() { # name binary phase
    local name=$1 bin=$2 port conf log=$WORK/$1.$3.log
    port=$(free_port)
    conf=$WORK/$name.conf
    case $name in
    flashmq)
        write_flashmq_conf "$conf" "$port"
        "$bin" --config-file "$conf" >"$log" 2>&1 &
        ;;
    nanomq) "$bin" start --url "nmq-tcp://127.0.0.1:$port" >"$log" 2>&1 & ;;
    *)
        write_conf "$conf" "$port"
        "$bin" -c "$conf" >"$log" 2>&1 &
        ;;
    esac
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 50); do
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        if [ -n "$(ss -Hltn "( sport = :$port )" 2>/dev/null)" ]; then
            PID[$name]=$pid
            PORT[$name]=$port
            BROKERS+=("$name")
            echo "started $name pid $pid on 127.0.0.1:$port ($bin)" >&2
            return 0
        fi
        sleep 0.1
    done
    echo "WARNING: $name ($bin) did not start listening on $port; its column stays empty. Log:" >&2
    tail -n 20 "$log" >&2 || true
    stop_pid "$pid"
    return 1
}

declare -A R # R[broker:scenario:key]
WARNINGS=()

run_traffic() { # broker scenario generator-args...
    local b=$1 sc=$2 pid=${PID[$1]} out t0 t1 w0 w1 rc=0
    shift 2
    if ! kill -0 "$pid" 2>/dev/null; then
        R[$b:$sc:rate]=dead
        WARNINGS+=("$b $sc: broker is not running any more")
        return
    fi
    w0=$(date +%s%N)
    t0=$(cpu_ticks "$pid")
    out=$(timeout -k 2 "$GEN_TIMEOUT" "$BENCH_BIN" 127.0.0.1 "${PORT[$b]}" "$@" -D "$DRAIN" -C "$CONNECT_S" \
        2>"$WORK/gen.err") || rc=$?
    t1=$(cpu_ticks "$pid")
    w1=$(date +%s%N)
    out=$(printf '%s\n' "$out" | grep '^RESULT' || true)
    if [ -z "$out" ]; then
        R[$b:$sc:rate]=FAIL
        WARNINGS+=("$b $sc: generator failed (rc=$rc): $(tail -n 1 "$WORK/gen.err")")
        return
    fi
    R[$b:$sc:brk]=$(((t1 - t0) * 100000000000 / CLK_TCK / (w1 - w0 + 1)))
    echo "  $b $sc: $(grep -v '^WARNING' "$WORK/gen.err" | head -n 2 | tr '\n' ' ')" \
        "broker cpu ${R[$b:$sc:brk]}%" >&2
    local rcv
    rcv=$(field "$out" received)
    R[$b:$sc:rate]=$(field "$out" msgs_per_s)
    R[$b:$sc:gen]=$(field "$out" gen_cpu_pct)
    R[$b:$sc:p50]=$(field "$out" p50_us)
    R[$b:$sc:p99]=$(field "$out" p99_us)
    R[$b:$sc:max]=$(field "$out" max_us)
    if [ "$rcv" -gt 0 ] 2>/dev/null; then
        R[$b:$sc:cpu]=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$rcv" \
            'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
    fi
    if [ "$(field "$out" ok)" != 1 ]; then
        R[$b:$sc:rate]="${R[$b:$sc:rate]}!"
        WARNINGS+=("$b $sc: count mismatch: sent=$(field "$out" sent) acked=$(field "$out" acked)\
 expected=$(field "$out" expected) received=$rcv dup=$(field "$out" dup) gaps=$(field "$out" gaps)")
    fi
    if [ "$(field "$out" gen_cpu_pct)" -ge 90 ] 2>/dev/null; then
        WARNINGS+=("$b $sc: generator at $(field "$out" gen_cpu_pct)% CPU: it may be the bottleneck")
    fi
}

run_idle() { # broker
    local b=$1 pid=${PID[$1]} before after gpid
    before=$(rss_kb "$pid")
    "$BENCH_BIN" 127.0.0.1 "${PORT[$b]}" idle -c "$IDLE_CONNS" -d 30 -C 10 >"$WORK/idle.out" \
        2>"$WORK/idle.err" &
    gpid=$!
    PIDS+=("$gpid")
    for _ in $(seq 110); do # the generator gives up after 10 s
        grep -q '^READY' "$WORK/idle.out" && break
        kill -0 "$gpid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^READY' "$WORK/idle.out"; then
        stop_pid "$gpid"
        R[$b:idle]=FAIL
        WARNINGS+=("$b idle: $(tail -n 1 "$WORK/idle.err")")
        return
    fi
    sleep 0.5 # let the broker finish the last SUBACKs
    after=$(rss_kb "$pid")
    stop_pid "$gpid"
    R[$b:idle]=$(((after - before) * 1024 / IDLE_CONNS))
    echo "  $b idle: VmRSS $before kB -> $after kB with $IDLE_CONNS connections" \
        "($(sed -n 's/.*setup_s=//p' "$WORK/idle.out" | head -n 1) s to connect)" >&2
}

# scenario name | generator arguments. Windows are 64 per publisher (as
# max_inflight_messages), except QoS 0 1->1 and 4->4, which keep 1000
# messages undelivered in total (one 64-message round trip per window would
# measure loopback latency, not the broker).
SCENARIOS=(
    "1->1 qos0|throughput -p 1 -s 1 -q 0 -w 1000"
    "1->1 qos1|throughput -p 1 -s 1 -q 1 -w 64"
    "1->1 qos2|throughput -p 1 -s 1 -q 2 -w 64"
    "4->4 qos0|throughput -p 4 -s 4 -q 0 -w 250"
    "4->4 qos1|throughput -p 4 -s 4 -q 1 -w 64"
    "4->4 qos2|throughput -p 4 -s 4 -q 2 -w 64"
    "1->100 qos0|throughput -p 1 -s 100 -l fanout -q 0 -w 64"
    "1->100 qos1|throughput -p 1 -s 100 -l fanout -q 1 -w 64"
    "100->1 qos0|throughput -p 100 -s 1 -l fanin -q 0 -w 64"
    "100->1 qos1|throughput -p 100 -s 1 -l fanin -q 1 -w 64"
    "latency qos0|latency -q 0 -r 2000"
    "latency qos1|latency -q 1 -r 2000"
)

read -r LOAD1 _ </proc/loadavg
echo "load average $LOAD1 on $(nproc) CPUs before the run" >&2
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
    WARNINGS+=("load average was $LOAD1 before the run: other work shares the CPUs, figures are noisy")
fi

# Fresh brokers for each phase: the idle phase measures RSS growth from a
# clean start, and the 10,000 connections it opens and resets leave nothing
# behind for the traffic phase.
start_brokers() { # phase
    BROKERS=()
    start_broker mosquitto "$MOSQUITTO" "$1" || die "mosquitto did not start"
    if [ -n "$TERN" ]; then
        start_broker tern "$TERN" "$1" || TERN=
    fi
    if [ -n "$FLASHMQ" ]; then
        start_broker flashmq "$FLASHMQ" "$1" || FLASHMQ=
    fi
    if [ -n "$NANOMQ" ]; then
        start_broker nanomq "$NANOMQ" "$1" || NANOMQ=
    fi
    sleep 0.5
}

stop_brokers() { # phase
    local b
    for b in "${BROKERS[@]}"; do
        kill -0 "${PID[$b]}" 2>/dev/null || WARNINGS+=("$b exited during the $1 phase")
        stop_pid "${PID[$b]}"
        if [ -s "$WORK/$b.$1.log" ]; then # only errors and warnings are logged
            echo "$b $1 log ($(wc -l <"$WORK/$b.$1.log") lines), last lines:" >&2
            tail -n 5 "$WORK/$b.$1.log" >&2
        fi
    done
}

if wanted idle; then
    start_brokers idle
    echo "idle: $IDLE_CONNS connections, CONNECT + SUBSCRIBE, keepalive 600" >&2
    for b in "${BROKERS[@]}"; do
        run_idle "$b"
    done
    stop_brokers idle
fi

start_brokers traffic

for s in "${SCENARIOS[@]}"; do
    name=${s%%|*}
    args=${s#*|}
    wanted "$name" || continue
    for b in "${BROKERS[@]}"; do
        # shellcheck disable=SC2086 # args is a word list
        run_traffic "$b" "$name" $args -d "$DUR"
    done
done

stop_brokers traffic

g() { echo "${R[$1]:--}"; }

ratio() { # a b -> a/b
    awk -v t="$1" -v m="$2" 'BEGIN { if (t + 0 > 0 && m + 0 > 0) printf "%.2f", t / m; else print "-" }'
}

# One column per broker that ran, in this order; ratios are Tern's to each peer.
COLS=()
for b in mosquitto tern flashmq nanomq; do
    for x in "${BROKERS[@]}"; do
        [ "$x" = "$b" ] && COLS+=("$b")
    done
done
PEERS=()
for b in "${COLS[@]}"; do
    [ "$b" = tern ] || PEERS+=("$b")
done
row() { # width first-cell cells...
    local w=$1 c
    shift
    printf '%-14s' "$1"
    shift
    for c in "$@"; do printf " %${w}s" "$c"; done
    printf '\n'
}

echo
echo "$(nproc) CPUs, ${DUR} s per scenario, payload 64 B, brokers and generator on 127.0.0.1"
hdr=()
for b in "${COLS[@]}"; do hdr+=("$b msg/s"); done
if [ -n "$TERN" ]; then
    for b in "${PEERS[@]}"; do hdr+=("tern/$b"); done
fi
for b in "${COLS[@]}"; do hdr+=("$b us/msg"); done
for b in "${COLS[@]}"; do hdr+=("$b brk%"); done
row 15 scenario "${hdr[@]}"
for s in "${SCENARIOS[@]}"; do
    n=${s%%|*}
    case $n in latency*) continue ;; esac
    wanted "$n" || continue
    cells=()
    for b in "${COLS[@]}"; do cells+=("$(g "$b:$n:rate")"); done
    if [ -n "$TERN" ]; then
        for b in "${PEERS[@]}"; do cells+=("$(ratio "$(g "tern:$n:rate")" "$(g "$b:$n:rate")")"); done
    fi
    for b in "${COLS[@]}"; do cells+=("$(g "$b:$n:cpu")"); done
    for b in "${COLS[@]}"; do cells+=("$(g "$b:$n:brk")"); done
    row 15 "$n" "${cells[@]}"
done
if wanted "latency qos0" || wanted "latency qos1"; then
    echo
    hdr=()
    for b in "${COLS[@]}"; do hdr+=("$b p50/p99/max us"); done
    row 26 "latency 2000/s" "${hdr[@]}"
    for n in "latency qos0" "latency qos1"; do
        wanted "$n" || continue
        cells=()
        for b in "${COLS[@]}"; do
            cells+=("$(g "$b:$n:p50")/$(g "$b:$n:p99")/$(g "$b:$n:max")")
        done
        row 26 "$n" "${cells[@]}"
    done
fi
if wanted idle; then
    echo
    hdr=()
    for b in "${COLS[@]}"; do hdr+=("$b B/conn"); done
    row 18 "idle RSS" "${hdr[@]}"
    cells=()
    for b in "${COLS[@]}"; do cells+=("$(g "$b:idle")"); done
    row 18 "$IDLE_CONNS conns" "${cells[@]}"
fi
echo
echo "msg/s: deliveries counted at subscribers per second (fan-out: every copy counts);"
echo "       '!' marks a run whose counts were wrong (see WARNING below): not comparable."
echo "us/msg: broker utime+stime (/proc/PID/stat) per delivered message, whole generator run."
echo "brk%: broker CPU / wall time of the run (near 100%: the broker is the limit)."
echo "A WARNING below names any run whose generator (one thread) was near 100% CPU: it may have been the limit."
if [ ${#WARNINGS[@]} -gt 0 ]; then
    echo
    for w in "${WARNINGS[@]}"; do
        echo "WARNING: $w"
    done
fi
