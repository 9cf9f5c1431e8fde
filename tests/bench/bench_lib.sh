# bench_lib.sh - shell functions the benchmark scripts share (sourced, not
# run): a free port, a process's CPU ticks and VmRSS, a field of the load
# generators' "RESULT k=v ..." lines. The sourcing script defines die().

# A port for a broker to listen on, outside the ephemeral range (so that no
# client's source port takes it meanwhile) and unbound now. proto: t (TCP,
# the default) or u (UDP).
free_port() { # [proto] -> port on stdout
    local p lo hi base=10000 span
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    span=$((lo - 10000))
    if [ "$span" -lt 1000 ]; then
        base=$((hi + 1))
        span=$((65536 - base))
    fi
    [ "$span" -ge 100 ] || { base=1024; span=30000; }
    for _ in $(seq 200); do
        p=$((base + (RANDOM * 32768 + RANDOM) % span))
        if [ -z "$(ss -Hn"${1:-t}"a "( sport = :$p )" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

cpu_ticks() { # pid -> utime + stime in clock ticks (0 if it is gone)
    local stat f
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) } # fields after "(comm) "; utime and stime are fields 14, 15
    read -r -a f <<<"$stat"
    echo $((f[11] + f[12]))
}

rss_kb() { # pid -> VmRSS in kB (0 if it is gone)
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

field() { # "RESULT k=v ..." key -> v ("?" if absent)
    local v
    v=$(printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p")
    echo "${v:-?}"
}
