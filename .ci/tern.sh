#!/usr/bin/env bash
# The README's two commands:
#   bash .ci/tern.sh run  [tern args...]  build Tern (Release) and run it
#   bash .ci/tern.sh test                 build and pass every test
# and separate steps:
#   bash .ci/tern.sh lint                 clang-tidy over the sources
#   bash .ci/tern.sh package              build the Debian package (Release)
# Each installs the Debian packages it needs when they are missing.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

build_pkgs=(build-essential cmake pkg-config libmbedtls-dev liblmdb-dev libserialport-dev
            libcmocka-dev)
test_pkgs=(clang libclang-rt-14-dev mosquitto mosquitto-clients openssl python3 python3-pytest
           python3-paho-mqtt prometheus systemd lintian groff-base dpkg-dev)
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
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
            "${missing[@]}" </dev/null
    fi
}

jobs=$(nproc 2>/dev/null || echo 2)

cmd_run() {
    need_pkgs "${build_pkgs[@]}"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j "$jobs"
    echo "== starting build/gateway/tern $*"
    exec build/gateway/tern "$@"
}

cmd_test() {
    need_pkgs "${build_pkgs[@]}" "${test_pkgs[@]}"
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
*) echo "usage: bash .ci/tern.sh run [tern args...] | test | lint | package" >&2; exit 2 ;;
esac
