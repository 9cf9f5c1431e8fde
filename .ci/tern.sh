#!/usr/bin/env bash
# The README's two commands:
#   bash .ci/tern.sh run  [tern args...]  build Tern (Release) and run it
#   bash .ci/tern.sh test                 build and pass every test
# and separate steps:
#   bash .ci/tern.sh lint                 clang-tidy over the sources
#   bash .ci/tern.sh package              build the Debian package (Release)
#   bash .ci/tern.sh cross                arm64 and armhf builds, unit tests under qemu
# Each installs the Debian packages it needs when they are missing.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

build_pkgs=(build-essential cmake pkg-config libmbedtls-dev liblmdb-dev libserialport-dev
            libcmocka-dev)
test_pkgs=(clang libclang-rt-14-dev mosquitto mosquitto-clients nats-server rabbitmq-server ejabberd openssl python3 python3-pytest
           python3-paho-mqtt prometheus systemd lintian groff-base dpkg-dev chromium
           debootstrap systemd-container)
lint_pkgs=(clang clang-tidy python3)

need_pkgs() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing missing Debian packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -q
        # The tests start every server they need themselves, in their own
        # directories. Keep the packages' own services (rabbitmq-server,
        # ejabberd, mosquitto, ...) from being started by their install
        # scripts where nothing else prevents it: such a start can fail
        # on a machine without an init system and fail the install. The
        # standard Debian hook, only while installing, only if absent.
        local hook=/usr/sbin/policy-rc.d made_hook=0
        if [ ! -e "$hook" ]; then
            printf '#!/bin/sh\nexit 101\n' | $sudo tee "$hook" >/dev/null
            $sudo chmod 755 "$hook"
            made_hook=1
        fi
        local rc=0
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
            "${missing[@]}" </dev/null || rc=$?
        [ "$made_hook" -eq 0 ] || $sudo rm -f "$hook"
        return "$rc"
    fi
}

jobs=$(nproc 2>/dev/null || echo 2)

# MQTT.js for the WebSocket tests (tests/web, under node and in Chromium):
# node and npm from Debian unless a node with npm is there already, then
# the locked packages when node_modules is missing.
web_deps() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        need_pkgs nodejs npm
    fi
    if [ ! -d tests/web/node_modules/mqtt ]; then
        echo "== installing MQTT.js (npm ci in tests/web)"
        npm ci --prefix tests/web --no-audit --no-fund </dev/null
    fi
}

cmd_run() {
    need_pkgs "${build_pkgs[@]}"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j "$jobs"
    echo "== starting build/gateway/tern $*"
    exec build/gateway/tern "$@"
}

cmd_test() {
    need_pkgs "${build_pkgs[@]}" "${test_pkgs[@]}"
    web_deps
    ulimit -n 65536 2>/dev/null || true

    echo "== gcc, ASan+UBSan: unit and integration tests"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan >/dev/null
    cmake --build build-asan -j "$jobs"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j "$jobs"

    echo "== clang, Release with -Werror: the build must be clean there too"
    CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-clang -j "$jobs"
    ctest --test-dir build-clang -L unit --output-on-failure -j "$jobs"

    echo "== clang libFuzzer: every parser, smoke run on its corpus"
    CC=clang cmake -S . -B build-fuzz -DTERN_FUZZ=ON -DTERN_TESTS=OFF -DTERN_BENCH=OFF \
        -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build build-fuzz -j "$jobs"
    ctest --test-dir build-fuzz -L fuzz-smoke --output-on-failure
}

cmd_package() {
    need_pkgs "${build_pkgs[@]}" dpkg-dev
    cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=Release -DTERN_TESTS=OFF -DTERN_BENCH=OFF >/dev/null
    cmake --build build-pkg -j "$jobs"
    (cd build-pkg && cpack -G DEB)
    local deb
    deb=$(ls build-pkg/tern_*.deb)
    dpkg-deb -I "$deb" | sed -n '/Package:/,$p'
    echo "== $deb (install: apt install ./$deb)"
}

# arm64 and armhf with Debian's cross toolchains and multiarch -dev
# packages; the unit tests run under qemu-user. Not part of `test` (about
# 1 min of installs the first time, then 2 builds and 2 emulated runs).
cross_arches=(arm64:aarch64-linux-gnu:qemu-aarch64 armhf:arm-linux-gnueabihf:qemu-arm)

cmd_cross() {
    local sudo="" added=0 pkgs=(build-essential cmake pkg-config qemu-user)
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    for entry in "${cross_arches[@]}"; do
        IFS=: read -r arch tri emu <<<"$entry"
        if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
            $sudo dpkg --add-architecture "$arch"
            added=1
        fi
        pkgs+=("gcc-$tri" "libc6-dev-$arch-cross" "liblmdb-dev:$arch" "libmbedtls-dev:$arch"
               "libserialport-dev:$arch" "libcmocka-dev:$arch")
    done
    [ "$added" -eq 0 ] || $sudo apt-get update -q
    need_pkgs "${pkgs[@]}"
    local sizes=() probe
    probe=$(mktemp -d)
    printf '#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) {\n'\
'pthread_t t; if (pthread_create(&t, 0, f, 0)) return 1; return pthread_join(t, 0); }\n' \
        >"$probe/thr.c"
    for entry in "${cross_arches[@]}"; do
        IFS=: read -r arch tri emu <<<"$entry"
        echo "== $arch ($tri): Release build with -Werror"
        cmake -S . -B "build-$arch" -DCMAKE_TOOLCHAIN_FILE="cmake/toolchain-$tri.cmake" \
            -DCMAKE_BUILD_TYPE=Release -DTERN_BENCH=OFF >/dev/null
        cmake --build "build-$arch" -j "$jobs"
        # qemu-user 7.2 (Debian 12) hangs or crashes in pthread_create on
        # some host kernels (seen on 6.18); the two units that start the
        # store's writer thread then cannot run emulated.
        local exclude=()
        "$tri-gcc" -O1 -pthread "$probe/thr.c" -o "$probe/thr-$arch"
        if ! timeout 10 "$emu" -L "/usr/$tri" "$probe/thr-$arch"; then
            echo "== $arch: this qemu cannot start threads here; skipping unit_test_store" \
                 "and unit_test_svc_* (they need the store's writer thread)"
            exclude=(-E 'unit_test_(store|svc_[a-z]+)$')
        fi
        echo "== $arch: unit tests under $emu"
        ctest --test-dir "build-$arch" -L unit "${exclude[@]}" --output-on-failure -j "$jobs"
        "$tri-strip" -o "$probe/tern-$arch" "build-$arch/gateway/tern"
        sizes+=("$arch $(stat -c %s "$probe/tern-$arch") bytes stripped")
    done
    rm -rf "$probe"
    printf '== %s\n' "${sizes[@]}"
}

cmd_lint() {
    need_pkgs "${build_pkgs[@]}" "${lint_pkgs[@]}"
    echo "== clang-tidy (.clang-tidy) over the sources, clang Release compile commands"
    CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release >/dev/null
    python3 .ci/tidy.py build-clang -j "$jobs"
}

case "${1:-}" in
run) shift; cmd_run "$@" ;;
test) cmd_test ;;
lint) cmd_lint ;;
package) cmd_package ;;
cross) cmd_cross ;;
*) echo "usage: bash .ci/tern.sh run [tern args...] | test | lint | package | cross" >&2; exit 2 ;;
esac
