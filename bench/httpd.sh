#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/httpd.sh - /plaintext (TechEmpower's plaintext answer) under wrk on
# loopback, keep-alive, for weft-httpd or nginx with one worker each.
#
#   bench/httpd.sh weft PATH/TO/weft-httpd
#   bench/httpd.sh nginx
#
# Prints `name value unit` lines (bench/compare.sh tags them):
#   httpd_rps_c100 / httpd_rps_c1000      requests/s, wrk -t1 -c100 / -c1000
#   httpd_p99_c100_ms / httpd_p99_c1000_ms  wrk's 99th percentile latency
#   httpd_cpu_pct_c100 / _c1000           the serving process's CPU time over
#                                         the run, % of one CPU (weft-httpd
#                                         --workers 1 also has its reactor
#                                         thread; nginx's worker has only
#                                         itself)
#   httpd_syscalls_per_req                system calls per answered request,
#                                         strace -c -f on the server during a
#                                         short wrk -c100 run (strace slows
#                                         the server: only the count means
#                                         something)
# HTTPD_SECS (default 5) is the length of each timed run. One run each: on a
# shared 2-core machine (wrk on one core, the server on the other) the
# figures move between sittings; compare them within one run only.
set -u
kind=${1:?weft or nginx}
secs=${HTTPD_SECS:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "httpd.sh: wrk not installed" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case $kind in
weft)
    bin=${2:?path to weft-httpd}
    "$bin" --port "$port" --bind 127.0.0.1 --workers 1 --max-conns 20000 \
        >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    ;;
nginx)
    command -v nginx >/dev/null || { echo "httpd.sh: nginx not installed" >&2; exit 1; }
    mkdir -p "$tmp/tmp"
    sed "s/@PORT@/$port/" "$here/peers/nginx.conf" >"$tmp/nginx.conf"
    nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" 2>"$tmp/err" &
    pid=$!
    ;;
*) echo "httpd.sh: weft or nginx" >&2; exit 2 ;;
esac
url=http://127.0.0.1:$port/plaintext
for _ in $(seq 100); do
    curl -s -o /dev/null "$url" 2>/dev/null && break
    sleep 0.1
done
curl -s "$url" | grep -q "Hello, World!" || {
    echo "httpd.sh: $kind does not answer on $url" >&2
    cat "$tmp/err" >&2
    exit 1
}
# The process that serves: nginx's worker, weft-httpd itself.
spid=$pid
[ "$kind" = nginx ] && spid=$(pgrep -P "$pid" | head -n 1)

ulimit -n "$(ulimit -Hn)" 2>/dev/null
# CPU ticks (user + system, all threads) of the serving process
ticks() { awk '{ print $14 + $15 }' "/proc/$spid/stat"; }
hz=$(getconf CLK_TCK)
for c in 100 1000; do
    t0=$(ticks)
    out=$(wrk -t1 -c"$c" -d"${secs}s" --latency "$url" 2>&1)
    t1=$(ticks)
    awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$secs" -v c="$c" \
        'BEGIN { printf "httpd_cpu_pct_c%d %.0f %%\n", c, 100 * t / hz / s }'
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
        else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
        print v }' <<<"$out")
    errs=$(awk '/Socket errors|Non-2xx/ { print }' <<<"$out")
    [ -n "$errs" ] && echo "httpd.sh: $kind -c$c: $errs" >&2
    echo "httpd_rps_c$c ${rps:-0} req/s"
    echo "httpd_p99_c${c}_ms ${p99:-0} ms"
done

if command -v strace >/dev/null; then
    # let the -c1000 run's connections close before counting
    sleep 3
    strace -c -f -p "$spid" -o "$tmp/strace.txt" 2>/dev/null &
    spid_strace=$!
    sleep 1
    out=$(wrk -t1 -c100 -d2s "$url" 2>&1)
    sleep 0.5
    kill -INT "$spid_strace"
    wait "$spid_strace" 2>/dev/null
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    # "% time, seconds, usecs/call, calls, [errors,] syscall": calls is the
    # 4th field of the total row
    calls=$(awk '$NF == "total" { print $4 }' "$tmp/strace.txt")
    if [ -n "$calls" ] && [ "${reqs:-0}" -gt 0 ]; then
        awk -v c="$calls" -v r="$reqs" 'BEGIN { printf "httpd_syscalls_per_req %.2f calls\n", c / r }'
        echo "== $kind: strace -c -f, $reqs requests" >&2
        head -n 14 "$tmp/strace.txt" >&2
    fi
fi
