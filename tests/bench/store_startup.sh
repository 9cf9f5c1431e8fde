#!/usr/bin/env bash
# store_startup.sh - Tern startup with a large durable backlog.
#
# usage: tests/bench/store_startup.sh [--tern PATH_TO_TERN] [-n MESSAGES]
#
# 1. Start Tern with persistence on a fresh directory; a persistent subscriber
#    (clean session 0) subscribes QoS 1 and goes offline.
# 2. Publish N (1,000,000) QoS 1 messages of 64 bytes to it (windowed, as fast
#    as it goes); every one must be PUBACKed (= committed to disk).
# 3. SIGTERM Tern; report the store size (du).
# 4. Start Tern again: time from exec until the port accepts a TCP connection,
#    then until the subscriber's CONNACK (session present); VmRSS then.
# 5. The subscriber drains the first 10,000 messages: they must be the first
#    10,000 published, in order (the rest stay queued, unacknowledged).
# Whole run bounded (< 5 min), 127.0.0.1, a free port, every process stopped
# at exit. Before the restart the store's pages are dropped from the page
# cache (dd iflag=nocache: posix_fadvise DONTNEED on those files only), so
# the start is cold; COLD=0 keeps them (warm start).
#
# Environment: BENCH_BIN, TERN, STORE_TMP (/tmp; must be a disk, not tmpfs),
# FILL_PUBS (1), FILL_WINDOW (256), DRAIN_N (10000), COLD (1).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/bench_lib.sh" # free_port, cpu_ticks, rss_kb, field
BENCH_BIN=${BENCH_BIN:-$ROOT/build/tests/bench/tern_bench}
TERN=${TERN:-}
STORE_TMP=${STORE_TMP:-/tmp}
N=1000000
FILL_PUBS=${FILL_PUBS:-1}
FILL_WINDOW=${FILL_WINDOW:-256}
DRAIN_N=${DRAIN_N:-10000}
COLD=${COLD:-1}
FILL_MAX_S=120 # bound of the fill
CLIENT_ID=tb-startup-sub
TOPIC=tb/startup

die() {
    echo "store_startup: error: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --tern) [ $# -ge 2 ] || die "--tern needs a path"; TERN=$2; shift 2 ;;
    -n) [ $# -ge 2 ] || die "-n needs a count"; N=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (usage: $0 [--tern PATH] [-n MESSAGES])" ;;
    esac
done
if [ -z "$TERN" ] && [ -x "$ROOT/build/gateway/tern" ]; then
    TERN=$ROOT/build/gateway/tern
fi
if [ -z "$TERN" ] || [ ! -x "$TERN" ]; then
    die "no Tern binary: --tern PATH or TERN=PATH"
fi
[ -x "$BENCH_BIN" ] || die "no load generator at $BENCH_BIN: build it (make tern_bench) or set BENCH_BIN"
[ "$N" -ge "$DRAIN_N" ] 2>/dev/null || die "-n must be a number >= $DRAIN_N"
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash 5 (EPOCHREALTIME)"
if [ "$(stat -f -c %T "$STORE_TMP")" = tmpfs ]; then
    echo "WARNING: $STORE_TMP is tmpfs: fsync costs nothing there; set STORE_TMP to a disk" >&2
fi

WORK=$(mktemp -d "$STORE_TMP/tern_startup.XXXXXX")
TPID=
cleanup() {
    if [ -n "$TPID" ]; then
        kill -TERM "$TPID" 2>/dev/null || true
        for _ in $(seq 25); do
            kill -0 "$TPID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$TPID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(free_port)
cat >"$WORK/tern.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $WORK/store
max_inflight_messages 64
max_queued_messages 0
log_type error
log_type warning
EOF

us_now() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; } # microseconds, no fork
rss_split() { # "anon A MiB + file F MiB": file = mapped store pages (page cache, reclaimable)
    awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^RssShmem:/ { s = $2 }
        END { printf "anon %.1f + file %.1f + shmem %.1f MiB", a / 1024, f / 1024, s / 1024 }' \
        "/proc/$1/status" 2>/dev/null || echo "?"
}
cpu_ms() { # utime + stime of pid in ms
    local stat f
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    echo $(((f[11] + f[12]) * 1000 / $(getconf CLK_TCK)))
}
# Wait until 127.0.0.1:PORT accepts a TCP connection (bash's /dev/tcp: a
# connect() per try, no fork); prints the microseconds since $1.
wait_port() { # t0_us timeout_s
    local deadline=$(($1 + $2 * 1000000)) t
    while :; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            t=$(us_now)
            echo $((t - $1))
            return 0
        fi
        kill -0 "$TPID" 2>/dev/null || return 1
        [ "$(us_now)" -lt "$deadline" ] || return 1
        sleep 0.002
    done
}
start_tern() { # log -> sets TPID, T0
    T0=$(us_now)
    "$TERN" -c "$WORK/tern.conf" >>"$1" 2>&1 &
    TPID=$!
}
stop_tern() { # sets STOP_MS: the milliseconds SIGTERM took
    local t0 t1
    t0=$(us_now)
    kill -TERM "$TPID"
    for _ in $(seq 300); do # 30 s
        kill -0 "$TPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$TPID" 2>/dev/null; then
        echo "WARNING: Tern did not exit 30 s after SIGTERM: killed" >&2
        kill -KILL "$TPID" 2>/dev/null || true
    fi
    wait "$TPID" 2>/dev/null || true
    TPID=
    t1=$(us_now)
    STOP_MS=$(((t1 - t0) / 1000))
}
GEN=("$BENCH_BIN" 127.0.0.1 "$PORT")
WARN=()

read -r LOAD1 _ </proc/loadavg
echo "load average $LOAD1 on $(nproc) CPUs; busiest processes (top, 1 s):" >&2
top -b -d 1 -n 2 -w 120 2>/dev/null | awk '/^ *PID/ { blk++; next } blk == 2 && NF >= 12 { print "    " $9 "% " $12 }' |
    head -n 5 >&2 || true
echo "store: $WORK/store ($(stat -f -c %T "$WORK")), port $PORT, Tern $TERN" >&2

# 1-2: fill
start_tern "$WORK/tern.log"
wait_port "$T0" 10 >/dev/null || { tail -n 20 "$WORK/tern.log" >&2; die "Tern did not start listening"; }
timeout -k 2 20 "${GEN[@]}" durable-sub -i "$CLIENT_ID" -t "$TOPIC" >/dev/null
t0=$(us_now)
out=$(timeout -k 2 $((FILL_MAX_S + 15)) "${GEN[@]}" durable-pub -i "$CLIENT_ID" -t "$TOPIC" \
    -p "$FILL_PUBS" -w "$FILL_WINDOW" -n "$N" -d "$FILL_MAX_S" -D 10 | grep '^RESULT') || true
[ -n "$out" ] || die "the fill failed (no RESULT from the generator)"
t1=$(us_now)
ACKED=$(field "$out" acked)
FILL_RATE=$(field "$out" acks_per_s)
FILL_RSS=$(rss_kb "$TPID")
FILL_SPLIT=$(rss_split "$TPID")
[ "$ACKED" = "$N" ] || WARN+=("only $ACKED of $N messages were acknowledged within ${FILL_MAX_S} s")
echo "filled: $ACKED acked in $(((t1 - t0) / 1000)) ms ($FILL_RATE msgs/s), Tern VmRSS $FILL_RSS kB" >&2

# 3: stop, store size
stop_tern
STOP1_MS=$STOP_MS
STORE_DU=$(du -sh "$WORK/store" | cut -f1)
STORE_KB=$(du -sk "$WORK/store" | cut -f1)
STORE_FILES=$(cd "$WORK/store" && for f in *; do printf '%s=%s ' "$f" "$(stat -c %s "$f")"; done)
echo "stopped (SIGTERM) in $STOP1_MS ms; store $STORE_DU on disk: $STORE_FILES" >&2
CACHE=warm
if [ "$COLD" = 1 ]; then
    for f in "$WORK"/store/*; do
        dd if="$f" iflag=nocache count=0 status=none || true
    done
    CACHE=cold
fi
CACHED=$(fincore -n -b -o RES "$WORK"/store/* 2>/dev/null | awk '{ s += $1 } END { printf "%.1f MiB", s / 1048576 }') ||
    CACHED="?"
echo "restart with the store $CACHE in the page cache ($CACHED of it cached)" >&2

# 4: restart, time to accept and to CONNACK
start_tern "$WORK/tern2.log"
LISTEN_US=$(wait_port "$T0" 30) || { tail -n 20 "$WORK/tern2.log" >&2; die "Tern did not listen again within 30 s"; }
RSS_LISTEN=$(rss_kb "$TPID")
SPLIT_LISTEN=$(rss_split "$TPID")
CPU_LISTEN=$(cpu_ms "$TPID")

# 5: drain the first DRAIN_N (in order: sequence 0.. of each publisher)
out=$(timeout -k 2 45 "${GEN[@]}" durable-drain -i "$CLIENT_ID" -t "$TOPIC" -p "$FILL_PUBS" \
    -n "$DRAIN_N" -d 30 -D 5 -C 30 | grep '^RESULT') || true
t_done=$(us_now)
RSS_DRAIN=$(rss_kb "$TPID")
SPLIT_DRAIN=$(rss_split "$TPID")
CONNACK_S=$(field "$out" connect_s)
[ "$(field "$out" ok)" = 1 ] || WARN+=("drain: received=$(field "$out" received) of $DRAIN_N\
 gaps=$(field "$out" gaps) dup=$(field "$out" dup) session_present=$(field "$out" session_present)")
sleep 1
RSS_LATER=$(rss_kb "$TPID")
stop_tern
STOP2_MS=$STOP_MS
[ -s "$WORK/tern2.log" ] && { echo "Tern log after restart:" >&2; tail -n 5 "$WORK/tern2.log" >&2; }

read -r LOAD2 _ </proc/loadavg
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "Tern startup with a durable backlog: $N QoS 1 messages x 64 B queued for one offline session"
echo "$(nproc) CPUs, store on $(stat -f -c %T "$STORE_TMP") ($STORE_TMP), load average $LOAD1 before, $LOAD2 after"
printf '%-40s %s\n' "fill ($FILL_PUBS publisher(s), window $FILL_WINDOW)" \
    "$ACKED acked, $FILL_RATE msgs/s"
printf '%-40s %s\n' "VmRSS after the fill" "$(mib "$FILL_RSS") MiB ($FILL_SPLIT)"
printf '%-40s %s\n' "SIGTERM -> exit" "$STOP1_MS ms"
printf '%-40s %s\n' "store size (du -sh)" "$STORE_DU ($STORE_KB KiB, $((STORE_KB * 1024 / N)) B/msg)"
printf '%-40s %s\n' "restart: store in page cache" "$CACHE ($CACHED cached at exec)"
printf '%-40s %s\n' "exec -> port accepts TCP" "$(ms "$LISTEN_US") ms (broker CPU $CPU_LISTEN ms)"
printf '%-40s %s\n' "exec -> CONNACK, session present" \
    "$(awk -v u="$LISTEN_US" -v c="$CONNACK_S" 'BEGIN { printf "%.1f", u / 1000 + c * 1000 }') ms"
printf '%-40s %s\n' "VmRSS when the port accepts" "$(mib "$RSS_LISTEN") MiB ($SPLIT_LISTEN)"
printf '%-40s %s\n' "VmRSS after draining $DRAIN_N" "$(mib "$RSS_DRAIN") MiB ($SPLIT_DRAIN)"
printf '%-40s %s\n' "VmRSS 1 s later" "$(mib "$RSS_LATER") MiB"
printf '%-40s %s\n' "drain of the first $DRAIN_N" "received $(field "$out" received), gaps $(field "$out" gaps),\
 dup $(field "$out" dup), $(field "$out" msgs_per_s) msgs/s, done $(ms $((t_done - T0))) ms after exec"
printf '%-40s %s\n' "second SIGTERM -> exit" "$STOP2_MS ms"
echo "backlog payload alone: $((N * 64 / 1048576)) MiB; targets: start < 1000 ms, VmRSS far below the store"
echo "(RssFile = store pages mapped read-only by LMDB: page cache, reclaimable; RssAnon = heap)"
if [ ${#WARN[@]} -gt 0 ]; then
    echo
    for w in "${WARN[@]}"; do
        echo "WARNING: $w"
    done
    exit 2
fi
