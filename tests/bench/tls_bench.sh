#!/usr/bin/env bash
# tls_bench.sh - TLS figures for Tern beside plain TCP and beside mosquitto,
# in one run, with the same certificates (made here with openssl: an EC
# P-256 test CA and a server certificate for localhost/127.0.0.1).
#
# usage: tests/bench/tls_bench.sh [BUILD_DIR]   (default build; needs
#        BUILD_DIR/gateway/tern and BUILD_DIR/tests/bench/tls_bench)
# Env: DUR (seconds per QoS 1 run, 10), STORM_DUR (10), STORM_N (100),
#      RATE (QoS 0 stream messages/s, 1000), MOSQUITTO (/usr/sbin/mosquitto).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
TERN=$BUILD/gateway/tern
BENCH=$BUILD/tests/bench/tls_bench
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
DUR=${DUR:-10}
STORM_DUR=${STORM_DUR:-10}
STORM_N=${STORM_N:-100}
RATE=${RATE:-1000}
[ -x "$TERN" ] && [ -x "$BENCH" ] || { echo "tls_bench.sh: build $TERN and $BENCH first" >&2; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out server.pem 2>/dev/null

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
T_TLS=$(port); T_TCP=$(port); M_TLS=$(port); M_TCP=$(port)
tls_lines="certfile $dir/server.pem
keyfile $dir/server.key"
cat > tern.conf <<EOT
listener $T_TCP 127.0.0.1
listener $T_TLS 127.0.0.1
$tls_lines
allow_anonymous true
persistence false
log_type error
max_queued_messages 100000
EOT
cat > mosq.conf <<EOT
$( [ "$(id -u)" = 0 ] && echo "user root" )
listener $M_TCP 127.0.0.1
listener $M_TLS 127.0.0.1
$tls_lines
allow_anonymous true
persistence false
log_type error
max_queued_messages 100000
EOT
"$TERN" -c tern.conf > tern.log 2>&1 & tpid=$!; pids+=($tpid)
"$MOSQUITTO" -c mosq.conf > mosq.log 2>&1 & mpid=$!; pids+=($mpid)
sleep 1

echo "== tls_bench: $(nproc) cores, $(uname -m), $("$TERN" --version 2>/dev/null | head -1), mosquitto $("$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}')"
echo "== Tern: QoS 0 stream at $RATE msg/s, then beside $STORM_N concurrent TLS handshakes (rounds for ${STORM_DUR}s)"
"$BENCH" storm -p "$T_TLS" -c ca.pem -n "$STORM_N" -d "$STORM_DUR" -r "$RATE"
echo "== mosquitto: the same"
"$BENCH" storm -p "$M_TLS" -c ca.pem -n "$STORM_N" -d "$STORM_DUR" -r "$RATE"
echo "== QoS 1, 1 publisher -> 1 subscriber, window 64, ${DUR}s each"
echo -n "tern      "; "$BENCH" qos1 -p "$T_TCP" -d "$DUR" -P "$tpid"
echo -n "tern      "; "$BENCH" qos1 -p "$T_TLS" -c ca.pem -d "$DUR" -P "$tpid"
echo -n "mosquitto "; "$BENCH" qos1 -p "$M_TCP" -d "$DUR" -P "$mpid"
echo -n "mosquitto "; "$BENCH" qos1 -p "$M_TLS" -c ca.pem -d "$DUR" -P "$mpid"
