#!/usr/bin/env bash
# durable_bench.sh - QoS 1 to an offline persistent session: Tern (durable,
# PUBACK after fsync) next to mosquitto (in-memory queue), same run.
#
# usage: tests/bench/durable_bench.sh [--tern PATH_TO_TERN] [--quick] [--no-strace]
#
# Per scenario (P publishers x W unacked each) and broker: a fresh broker and
# store directory; a persistent subscriber (clean session 0) subscribes QoS 1
# and goes offline; P publishers publish QoS 1 for DUR seconds (figure:
# PUBACKs/s at the publishers); the subscriber reconnects and drains: it must
# receive exactly the acknowledged messages, in order (bounded: 60 s).
# Columns: mosquitto persistence false (the issue's reference), mosquitto
# persistence true (autosave only: for information), Tern, and Tern started
# under strace (seccomp-bpf, only fdatasync/fsync/msync stop) to count fsyncs.
#
# Environment: BENCH_BIN, MOSQUITTO (/usr/sbin/mosquitto), TERN, STORE_TMP
# (parent of the store directories: must be a real disk, not tmpfs; /tmp),
# DUR (publishing seconds), TERN_DURABILITY (Tern's persistence_durability:
# sync, the default, or journal), SCENARIOS ("P:W ..." default "1:1 1:64 4:64 1:256 4:256").
# Also: bytes written to storage per acknowledged message (/proc/PID/io
# write_bytes of the broker, all threads, while publishing).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/bench_lib.sh" # free_port, cpu_ticks, rss_kb, field
BENCH_BIN=${BENCH_BIN:-$ROOT/build/tests/bench/tern_bench}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
TERN=${TERN:-}
STORE_TMP=${STORE_TMP:-/tmp}
TERN_DURABILITY=${TERN_DURABILITY:-sync}
STRACE=1
QUICK=0

die() {
    echo "durable_bench: error: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --tern) [ $# -ge 2 ] || die "--tern needs a path"; TERN=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --no-strace) STRACE=0; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (usage: $0 [--tern PATH] [--quick] [--no-strace])" ;;
    esac
done

if [ -z "${DUR:-}" ]; then
    DUR=5
    [ "$QUICK" = 1 ] && DUR=2
fi
read -r -a SCEN <<<"${SCENARIOS:-1:1 1:64 4:64 1:256 4:256}"
ACK_WAIT=5    # after publishing stops, for the last PUBACKs
DRAIN_MAX=60  # bound of each drain
DRAIN_QUIET=5 # a drain also stops after this long without a delivery

[ -x "$BENCH_BIN" ] || die "no load generator at $BENCH_BIN: build it (make tern_bench) or set BENCH_BIN"
[ -x "$MOSQUITTO" ] || die "mosquitto not found at $MOSQUITTO (set MOSQUITTO)"
if [ -z "$TERN" ] && [ -x "$ROOT/build/gateway/tern" ]; then
    TERN=$ROOT/build/gateway/tern
fi
if [ -z "$TERN" ] || [ ! -x "$TERN" ]; then
    die "no Tern binary: --tern PATH or TERN=PATH"
fi
if [ "$STRACE" = 1 ] && ! command -v strace >/dev/null; then
    echo "durable_bench: strace not found: no fsync count" >&2
    STRACE=0
fi
if [ "$(stat -f -c %T "$STORE_TMP")" = tmpfs ]; then
    echo "WARNING: $STORE_TMP is tmpfs: fsync costs nothing there; set STORE_TMP to a disk" >&2
fi

CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d "$STORE_TMP/tern_durable.XXXXXX")
PIDS=() # started and not yet reaped; only these are ever signalled

forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}
stop_pid() { # pid: TERM, up to 5 s, then KILL; reap
    local p=$1
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 25); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    forget_pid "$p"
}
cleanup() {
    local p
    # SIGTERM makes strace detach and leave its tracee running: stop the
    # traced broker itself first (only the child of a strace we started).
    local c
    for p in "${PIDS[@]}"; do
        for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
            kill -TERM "$c" 2>/dev/null || true
        done
    done
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

# Bytes the process (all threads) caused to be written to storage: counted
# when a page is dirtied (a 120-byte write into a clean page counts 4096).
write_bytes() { awk '/^write_bytes:/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
now_s() { date +%s.%N; }

# Brokers: name -> binary, persistence. Same settings otherwise: unlimited
# queue, 64 in flight to the subscriber when it drains, errors only.
BROKERS=(mosq mosq-p tern)
[ "$STRACE" = 1 ] && BROKERS+=(tern-st)
write_conf() { # file port broker dir
    local persist="persistence false"
    case $3 in
    mosq-p) persist="persistence true
persistence_location $4/" ;;
    tern*) persist="persistence true
persistence_location $4
persistence_durability $TERN_DURABILITY" ;;
    esac
    cat >"$1" <<EOF
listener $2 127.0.0.1
allow_anonymous true
$persist
max_inflight_messages 64
max_queued_messages 0
log_type error
log_type warning
EOF
}

# Stop the broker: under strace, TERM the traced Tern (strace would only
# detach on TERM) and wait for it, then reap strace, which exits with it.
stop_broker() {
    local child
    child=$(ps -o pid= --ppid "$SPID" 2>/dev/null | head -n 1 | tr -d ' ') || true
    if [ -n "$child" ]; then # only strace has a child
        kill -TERM "$child" 2>/dev/null || true
        for _ in $(seq 25); do
            kill -0 "$child" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$child" 2>/dev/null || true
    fi
    stop_pid "$SPID"
}

BPID= # broker pid (Tern itself under strace)
SPID= # process to stop (strace for tern-st)
BPORT=
start_broker() { # broker tag -> sets BPID SPID BPORT
    local b=$1 dir=$WORK/$1.$2 conf bin=$MOSQUITTO
    BPORT=$(free_port)
    mkdir -p "$dir"
    conf=$dir/conf
    write_conf "$conf" "$BPORT" "$b" "$dir/store"
    case $b in tern*) bin=$TERN ;; esac
    if [ "$b" = tern-st ]; then
        strace -f --seccomp-bpf -ttt -T -e trace=fdatasync,fsync,msync,openat,pwrite64 -o "$dir/strace" \
            "$bin" -c "$conf" >"$dir/log" 2>&1 &
    else
        "$bin" -c "$conf" >"$dir/log" 2>&1 &
    fi
    SPID=$!
    PIDS+=("$SPID")
    BPID=$SPID
    for _ in $(seq 50); do
        kill -0 "$SPID" 2>/dev/null || break
        if [ -n "$(ss -Hltn "( sport = :$BPORT )" 2>/dev/null)" ]; then
            if [ "$b" = tern-st ]; then
                BPID=$(ps -o pid= --ppid "$SPID" | head -n 1 | tr -d ' ') || true
            fi
            return 0
        fi
        sleep 0.1
    done
    echo "WARNING: $b did not start listening on $BPORT. Log:" >&2
    tail -n 20 "$dir/log" >&2 || true
    stop_broker
    return 1
}

declare -A R
WARNINGS=()

run_one() { # broker P W
    local b=$1 p=$2 w=$3 sc="$2:$3" tag="p$2w$3" out rc c0 c1 c2 w0 w1 t0 t1 acked rss
    if ! start_broker "$b" "$tag"; then
        R[$b:$sc:rate]=FAIL
        return
    fi
    local dir=$WORK/$b.$tag gen=("$BENCH_BIN" 127.0.0.1 "$BPORT")
    rc=0
    out=$(timeout -k 2 20 "${gen[@]}" durable-sub 2>>"$dir/gen.err") || rc=$?
    if [ "$rc" != 0 ]; then
        R[$b:$sc:rate]=FAIL
        WARNINGS+=("$b $sc: durable-sub failed: $(tail -n 1 "$dir/gen.err")")
        stop_broker
        return
    fi
    c0=$(cpu_ticks "$BPID")
    local io0 io1
    io0=$(write_bytes "$BPID")
    w0=$(date +%s%N)
    t0=$(now_s)
    rc=0
    out=$(timeout -k 2 $((DUR + ACK_WAIT + 15)) "${gen[@]}" durable-pub -p "$p" -w "$w" -d "$DUR" \
        -D "$ACK_WAIT" 2>>"$dir/gen.err") || rc=$?
    t1=$(now_s)
    w1=$(date +%s%N)
    c1=$(cpu_ticks "$BPID")
    io1=$(write_bytes "$BPID")
    rss=$(rss_kb "$BPID")
    out=$(printf '%s\n' "$out" | grep '^RESULT' || true)
    if [ -z "$out" ]; then
        R[$b:$sc:rate]=FAIL
        WARNINGS+=("$b $sc: durable-pub failed (rc=$rc): $(tail -n 1 "$dir/gen.err")")
        stop_broker
        return
    fi
    acked=$(field "$out" acked)
    R[$b:$sc:rate]=$(field "$out" acks_per_s)
    R[$b:$sc:acked]=$acked
    R[$b:$sc:gen]=$(field "$out" gen_cpu_pct)
    R[$b:$sc:rss]=$((rss / 1024))
    if [ "$acked" -gt 0 ] 2>/dev/null; then
        R[$b:$sc:wb]=$(((io1 - io0) / acked))
    fi
    R[$b:$sc:brk]=$(((c1 - c0) * 100000000000 / CLK_TCK / (w1 - w0 + 1)))
    if [ "$acked" -gt 0 ] 2>/dev/null; then
        R[$b:$sc:cpu]=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$acked" \
            'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
    fi
    if [ "${R[$b:$sc:gen]}" -ge 90 ] 2>/dev/null; then
        WARNINGS+=("$b $sc: generator at ${R[$b:$sc:gen]}% CPU: it may be the bottleneck")
    fi
    [ "$(field "$out" ok)" = 1 ] || WARNINGS+=("$b $sc: not every PUBLISH was acknowledged:\
 sent=$(field "$out" sent) acked=$acked")
    # The drain: exactly the acknowledged messages, each publisher in order.
    rc=0
    out=$(timeout -k 2 $((DRAIN_MAX + 15)) "${gen[@]}" durable-drain -p "$p" -e "$acked" \
        -d "$DRAIN_MAX" -D "$DRAIN_QUIET" 2>>"$dir/gen.err") || rc=$?
    c2=$(cpu_ticks "$BPID")
    out=$(printf '%s\n' "$out" | grep '^RESULT' || true)
    R[$b:$sc:drain]=$(field "$out" msgs_per_s)
    R[$b:$sc:drained]=$(field "$out" received)
    if [ "$(field "$out" ok)" != 1 ]; then
        R[$b:$sc:drain]="${R[$b:$sc:drain]}!"
        WARNINGS+=("$b $sc: drain: received=$(field "$out" received) acked=$acked\
 gaps=$(field "$out" gaps) dup=$(field "$out" dup) session_present=$(field "$out" session_present)\
 (rc=$rc) $(grep -h '^tern_bench: error' "$dir/gen.err" | tail -n 1)")
    fi
    echo "  $b $sc: ${R[$b:$sc:rate]} PUBACKs/s ($acked acked, generator ${R[$b:$sc:gen]}% cpu), broker ${R[$b:$sc:cpu]:-?} us/msg" \
        "${R[$b:$sc:brk]}% cpu, RSS ${R[$b:$sc:rss]} MiB; drain ${R[$b:$sc:drained]} at" \
        "${R[$b:$sc:drain]}/s ($(((c2 - c1) * 1000 / CLK_TCK)) ms broker cpu)" >&2
    if [[ $b == tern* ]]; then
        R[$b:$sc:store]=$(du -sk "$dir/store" | cut -f1)
        # LMDB writes each page it adds to data.mdb at least once: the file's
        # size per message is the part of write_bytes that is LMDB's own
        # records; the rest is the journal (or, in sync mode, LMDB's rewrites).
        local mdb
        mdb=$(stat -c %s "$dir/store/data.mdb" 2>/dev/null || echo 0)
        if [ "$acked" -gt 0 ] 2>/dev/null; then
            R[$b:$sc:mdb]=$((mdb / acked))
        fi
    fi
    stop_broker
    if [ "$b" = tern-st ] && [ -s "$dir/strace" ]; then
        # fsyncs while publishing (the drain's commits are excluded)
        local n
        n=$(awk -v a="$t0" -v z="$t1" '$2 >= a && $2 <= z && $3 ~ /^(fdatasync|fsync|msync)\(/ { n++ }
            END { print n + 0 }' "$dir/strace")
        R[$b:$sc:fsyncs]=$n
        R[$b:$sc:fsync_ms]=$(awk -v a="$t0" -v z="$t1" '$2 >= a && $2 <= z && $3 ~ /^(fdatasync|fsync|msync)\(/ {
            gsub(/[<>]/, "", $NF); s += $NF; n++ } END { if (n) printf "%.2f", s * 1000 / n; else print "-" }' \
            "$dir/strace")
        # LMDB writes its meta page through a second, O_DSYNC descriptor: a
        # second synchronous write per commit that no fsync counter sees.
        R[$b:$sc:meta_ms]=$(awk -v a="$t0" -v z="$t1" '
            $3 ~ /^openat\(/ && /data\.mdb/ && /O_DSYNC/ { split($0, x, "= "); split(x[2], y, " "); fd = y[1] }
            fd != "" && $2 >= a && $2 <= z && index($3, "pwrite64(" fd ",") == 1 {
                t = $NF; gsub(/[<>]/, "", t); s += t; n++ }
            END { if (n) printf "%.2f", s * 1000 / n; else print "-" }' "$dir/strace")
        if [ "$n" -gt 0 ]; then
            R[$b:$sc:opsync]=$(awk -v a="$acked" -v n="$n" 'BEGIN { printf "%.0f", a / n }')
        fi
    fi
    rm -rf "$dir/store"
}

sync_probe() { # ms per 4 KiB O_DSYNC write in STORE_TMP (dd, 100 writes)
    local t0 t1
    t0=${EPOCHREALTIME/[.,]/}
    dd if=/dev/zero of="$WORK/probe" bs=4k count=100 oflag=dsync status=none 2>/dev/null || { echo "?"; return; }
    t1=${EPOCHREALTIME/[.,]/}
    rm -f "$WORK/probe"
    awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 1000 / 100 }'
}
SYNC1=$(sync_probe)
read -r LOAD1 _ </proc/loadavg
echo "load average $LOAD1 on $(nproc) CPUs before the run; busiest processes (top, 1 s):" >&2
top -b -d 1 -n 2 -w 120 2>/dev/null | awk '/^ *PID/ { blk++; next } blk == 2 && NF >= 12 { print "    " $9 "% " $12 }' |
    head -n 5 >&2 || true
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
    WARNINGS+=("load average was $LOAD1 before the run: other work shares the CPUs, figures are noisy")
fi
echo "stores under $WORK ($(stat -f -c %T "$WORK")), $DUR s publishing per run" >&2

for s in "${SCEN[@]}"; do
    for b in "${BROKERS[@]}"; do
        run_one "$b" "${s%%:*}" "${s#*:}"
    done
done

read -r LOAD2 _ </proc/loadavg
SYNC2=$(sync_probe)
g() { echo "${R[$1]:--}"; }
ratio() {
    awk -v t="$1" -v m="$2" 'BEGIN { if (t + 0 > 0 && m + 0 > 0) printf "%.2f", t / m; else print "-" }'
}

echo
echo "Durable QoS 1 to an offline persistent session: $(nproc) CPUs, $DUR s, payload 64 B, 127.0.0.1"
echo "stores on $(stat -f -c %T "$STORE_TMP") ($STORE_TMP); load average $LOAD1 before, $LOAD2 after"
echo "disk: 4 KiB O_DSYNC write (dd oflag=dsync) $SYNC1 ms before, $SYNC2 ms after"
printf '%-6s %10s %10s %10s %6s %9s %9s %9s %5s %5s %9s %9s\n' "P:W" "mosq/s" "mosq-p/s" \
    "tern/s" "T/M" "mosq us" "mosq-p us" "tern us" "brk%M" "brk%T" "mosq MiB" "tern MiB"
for s in "${SCEN[@]}"; do
    printf '%-6s %10s %10s %10s %6s %9s %9s %9s %5s %5s %9s %9s\n' "$s" "$(g "mosq:$s:rate")" \
        "$(g "mosq-p:$s:rate")" "$(g "tern:$s:rate")" \
        "$(ratio "$(g "tern:$s:rate")" "$(g "mosq:$s:rate")")" "$(g "mosq:$s:cpu")" \
        "$(g "mosq-p:$s:cpu")" "$(g "tern:$s:cpu")" "$(g "mosq:$s:brk")" "$(g "tern:$s:brk")" \
        "$(g "mosq:$s:rss")" "$(g "tern:$s:rss")"
done
echo
printf '%-6s %10s %10s %10s %10s %12s\n' "P:W" "mosq drain" "tern drain" "tern store" "" ""
for s in "${SCEN[@]}"; do
    printf '%-6s %10s %10s %9sM\n' "$s" "$(g "mosq:$s:drain")" "$(g "tern:$s:drain")" \
        "$(awk -v k="$(g "tern:$s:store")" 'BEGIN { if (k + 0 > 0) printf "%.0f", k / 1024; else print "-" }')"
done
echo
echo "Bytes written to storage per acknowledged message while publishing (/proc/PID/io write_bytes):"
printf '%-6s %12s %12s %12s %14s\n' "P:W" "mosq B/msg" "mosq-p B/msg" "tern B/msg" "data.mdb B/msg"
for s in "${SCEN[@]}"; do
    printf '%-6s %12s %12s %12s %14s\n' "$s" "$(g "mosq:$s:wb")" "$(g "mosq-p:$s:wb")" \
        "$(g "tern:$s:wb")" "$(g "tern:$s:mdb")"
done
echo "(data.mdb B/msg: data.mdb's size after the run / acknowledged messages: LMDB's own records,"
echo " written at least once; tern B/msg minus it is the journal and LMDB's page rewrites)"
if [ "$STRACE" = 1 ]; then
    echo
    echo "Tern under strace (seccomp-bpf: only fdatasync/fsync/msync stop), publishing phase only:"
    printf '%-6s %10s %10s %8s %10s %9s %8s %10s\n' "P:W" "msgs/s" "acked" fsyncs "msgs/fsync" \
        "ms/fsync" "ms/meta" "W*P bound"
    for s in "${SCEN[@]}"; do
        # With every publisher's window in one commit, msgs/s <= P*W / commit time.
        printf '%-6s %10s %10s %8s %10s %9s %8s %10s\n' "$s" "$(g "tern-st:$s:rate")" \
            "$(g "tern-st:$s:acked")" "$(g "tern-st:$s:fsyncs")" "$(g "tern-st:$s:opsync")" \
            "$(g "tern-st:$s:fsync_ms")" "$(g "tern-st:$s:meta_ms")" \
            "$(awk -v pw=$((${s%%:*} * ${s#*:})) -v f="$(g "tern-st:$s:fsync_ms")" -v m="$(g "tern-st:$s:meta_ms")" \
                'BEGIN { if (f + m > 0) printf "%.0f", pw * 1000 / (f + m); else print "-" }')"
    done
    echo "(fsyncs = fdatasync calls = LMDB commits; ms/meta: the O_DSYNC meta-page pwrite of each commit;"
    echo " W*P bound = P*W / (ms/fsync + ms/meta): the rate if each commit took every publisher's window)"
fi
echo
echo "msgs/s: PUBACKs per second at the publishers (first PUBLISH to last PUBACK)."
echo "T/M: Tern (durable: PUBACK after fdatasync) / mosquitto persistence false (memory); target >= 0.7."
echo "mosq-p: mosquitto persistence true: it only autosaves (interval 1800 s, and at exit): not durable."
echo "us: broker utime+stime per acknowledged message while publishing (10 ms ticks)."
echo "brk%: broker CPU / wall time while publishing (all threads: Tern's writer included)."
echo "MiB: broker VmRSS after publishing (mosquitto holds the queue in memory)."
echo "drain: the subscriber's msgs/s when it reconnects; '!' = wrong count/order (WARNING below)."
if [ ${#WARNINGS[@]} -gt 0 ]; then
    echo
    for w in "${WARNINGS[@]}"; do
        echo "WARNING: $w"
    done
fi
