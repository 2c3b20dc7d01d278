#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/compare.sh - weft's fiber costs next to its peers', in one run.
#
#   bench/compare.sh            (from anywhere; a few minutes on 2 cores)
#   bench/compare.sh --hogs     (or WEFT_BENCH_HOGS=1): only the channel,
#                               mutex and chameneos groups, weft and Go,
#                               quiet and beside CPU hogs (see "Hogs")
#
# What it does:
#   1. installs the peers' Debian packages if missing (libboost-context-dev,
#      libboost-fiber-dev, golang-go, libck-dev) with apt-get; a peer whose
#      package cannot be had is skipped and shown as n/a;
#   2. builds weft-bench in Release in build-bench/ (WEFT_BENCH_BUILD
#      overrides the folder) and the peers in build-bench/peers/
#      (g++ -O2, cc -O2; go build with its cache inside that folder);
#   3. runs every program once (each reports medians of its own
#      repetitions) and prints the machine, a table and the raw lines;
#      weft-httpd against nginx on /plaintext (bench/httpd.sh: wrk,
#      strace) when wrk is installed.
#
# Ratios are weft / peer. Most figures are costs (ns or bytes): smaller is
# better and a ratio below 1 means weft is cheaper. The queue, buffered
# channel and mutex rows (mpmc, ring, chan cap 1024, mutex; labelled
# "..., more is better") are rates: there a ratio above 1 means weft is
# faster. Rows are grouped by layer; a row that carries one of the
# issues' aims ends with it and whether this run meets it (see row()).
#
# Results move by 10-100% between sittings on this kind of machine, and
# anything else running on the machine distorts them: compare only figures
# from the same run, on an otherwise idle machine. Raw output is kept in
# build-bench/compare-raw.txt, the programs' stderr (notes, stall reports)
# in build-bench/compare-stderr.txt, build logs beside them.
#
# Hogs. With --hogs the script builds weft-bench and the Go channel peer
# only, and runs the chan, mutex and chameneos groups of both twice in one
# sitting: a quiet pass, then a loaded pass beside one busy process per
# online CPU at normal priority (started before the pass, killed after it
# and on any exit by a trap). It prints, per figure, the weft/Go ratio of
# each pass and whether the loaded ratio is at least as good as the quiet
# one (weft loses no more than Go to the load).
set -u

HOGS=${WEFT_BENCH_HOGS:-0}
for arg in "$@"; do
    case $arg in
    --hogs) HOGS=1 ;;
    *)
        printf 'usage: %s [--hogs]\n' "$0" >&2
        exit 2
        ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BENCH_BUILD:-$ROOT/build-bench}
PEERS=$BUILD/peers
RAW=$BUILD/compare-raw.txt
ERRS=$BUILD/compare-stderr.txt
# A program still running after this many seconds is stopped and reported
# as hung, so that one runtime bug does not stall the whole comparison.
LIMIT=${WEFT_BENCH_LIMIT:-600}
JOBS=$(nproc 2>/dev/null || echo 2)
status=0

say() { printf '%s\n' "$*" >&2; }

mkdir -p "$PEERS" || exit 1
: >"$RAW"
: >"$ERRS"

# ---- 1. packages --------------------------------------------------------------
pkgs="libboost-context-dev libboost-fiber-dev golang-go libck-dev libtbb-dev libuv1-dev fio"
missing=""
for p in $pkgs; do
    grep -q "install ok installed" <<<"$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        asroot=""
    elif command -v sudo >/dev/null 2>&1; then
        asroot="sudo -n"
    else
        asroot="none"
    fi
    if [ "$asroot" = none ]; then
        say "compare.sh: missing packages:$missing; not root and no sudo, so they" \
            "cannot be installed; their peers are skipped."
    else
        say "compare.sh: installing$missing (apt-get)"
        # shellcheck disable=SC2086
        if ! $asroot apt-get install -y $missing >"$BUILD/apt.log" 2>&1; then
            # shellcheck disable=SC2086
            $asroot apt-get update >>"$BUILD/apt.log" 2>&1
            # shellcheck disable=SC2086
            $asroot apt-get install -y $missing >>"$BUILD/apt.log" 2>&1 ||
                say "compare.sh: apt-get install$missing FAILED (see $BUILD/apt.log);" \
                    "the peers that need them are skipped."
        fi
    fi
fi

# ---- 2. builds ------------------------------------------------------------------
WB=""
# Tests and tools are left out: the benchmark needs only the library.
if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWEFT_TESTS=OFF -DWEFT_TOOLS=OFF \
    >"$BUILD/cmake.log" 2>&1 &&
    cmake --build "$BUILD" -j"$JOBS" --target weft-bench >>"$BUILD/cmake.log" 2>&1; then
    WB=$BUILD/bench/weft-bench
else
    say "compare.sh: building weft-bench FAILED; last lines of $BUILD/cmake.log:"
    tail -n 20 "$BUILD/cmake.log" >&2
    status=1
fi

declare -A val

# run TAG PROGRAM [ARGS...]: runs it (environment set by the caller through
# env), keeps its `name value unit` lines as val[TAG:name].
run() {
    local tag=$1 out rc name value
    shift
    out=$(timeout -k 10 "$LIMIT" "$@" 2>"$BUILD/last-stderr.txt")
    rc=$?
    printf '%s\n' "$out" | sed "s/^/[$tag] /" >>"$RAW"
    if [ -s "$BUILD/last-stderr.txt" ]; then
        { echo "== [$tag] $* (exit $rc)"; cat "$BUILD/last-stderr.txt"; } >>"$ERRS"
    fi
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        say "compare.sh: [$tag] $* HUNG: stopped after ${LIMIT} s"
        status=1
    elif [ "$rc" -ne 0 ]; then
        say "compare.sh: [$tag] $* FAILED with exit status $rc; its stderr ends with:"
        tail -n 10 "$BUILD/last-stderr.txt" >&2
        status=1
    fi
    while read -r name value _; do
        [ -n "${name:-}" ] && val["$tag:$name"]=$value
    done <<<"$out"
}

# go_peer NAME: build bench/peers/NAME.go into $PEERS/NAME (its log beside
# it); prints the program's path, or nothing when it cannot be built.
go_peer() {
    if command -v go >/dev/null 2>&1 &&
        (cd "$ROOT/bench/peers" &&
            env GOCACHE="$PEERS/gocache" GOPATH="$PEERS/gopath" GOFLAGS= GOTOOLCHAIN=local \
                go build -o "$PEERS/$1" "$1.go") >"$PEERS/$1.log" 2>&1; then
        echo "$PEERS/$1"
    else
        say "compare.sh: building the Go peer $1 FAILED (see $PEERS/$1.log; is golang-go installed?)"
    fi
}

if [ "$HOGS" = 1 ]; then
    . "$ROOT/bench/hogs.sh"
    exit "$status"
fi

BC="" BF="" GO="" CK=""
if g++ -O2 -std=c++17 -o "$PEERS/boost_context" "$ROOT/bench/peers/boost_context.cpp" \
    -lboost_context >"$PEERS/boost_context.log" 2>&1; then
    BC=$PEERS/boost_context
else
    say "compare.sh: building the Boost.Context peer FAILED (see $PEERS/boost_context.log)"
fi
if g++ -O2 -std=c++17 -pthread -o "$PEERS/boost_fiber" "$ROOT/bench/peers/boost_fiber.cpp" \
    -lboost_fiber -lboost_context >"$PEERS/boost_fiber.log" 2>&1; then
    BF=$PEERS/boost_fiber
else
    say "compare.sh: building the Boost.Fiber peer FAILED (see $PEERS/boost_fiber.log)"
fi
GO=$(go_peer goroutines)
# The channel peer (chan, threadring, chameneos) is its own program.
GC=$(go_peer gochan)
# The skynet peer (a tree of 1,111,111 goroutines, peak RSS per run).
GS=$(go_peer goskynet)

# ck_ring is header-only: no library to link.
if cc -O2 -std=c11 -pthread -o "$PEERS/ck_ring" "$ROOT/bench/peers/ck_ring.c" \
    >"$PEERS/ck_ring.log" 2>&1; then
    CK=$PEERS/ck_ring
else
    say "compare.sh: building the ck_ring peer FAILED (see $PEERS/ck_ring.log; is libck-dev installed?)"
fi

# Timer peers: libuv and Go on the load of bench/timers_load.h.
UV="" GT=""
if cc -O2 -std=gnu11 -I"$ROOT/bench" -o "$PEERS/uv_timers" "$ROOT/bench/peers/uv_timers.c" -luv \
    >"$PEERS/uv_timers.log" 2>&1; then
    UV=$PEERS/uv_timers
else
    say "compare.sh: building the libuv timers peer FAILED (see $PEERS/uv_timers.log; is libuv1-dev installed?)"
fi
GT=$(go_peer gotimers)

# Echo peers: a libuv server, a Go server, and the shared load generator.
EC="" UE="" GE=""
if cc -O2 -std=gnu11 -I"$ROOT/bench" -o "$PEERS/echo_client" "$ROOT/bench/peers/echo_client.c" \
    >"$PEERS/echo_client.log" 2>&1; then
    EC=$PEERS/echo_client
else
    say "compare.sh: building the echo load generator FAILED (see $PEERS/echo_client.log)"
fi
if cc -O2 -std=gnu11 -o "$PEERS/uv_echo" "$ROOT/bench/peers/uv_echo.c" -luv \
    >"$PEERS/uv_echo.log" 2>&1; then
    UE=$PEERS/uv_echo
else
    say "compare.sh: building the libuv echo server FAILED (see $PEERS/uv_echo.log)"
fi
GE=$(go_peer goecho)

# Parallelism peers (issue 4): OpenMP (gcc's libgomp) and oneTBB.
OM="" TB=""
if cc -O2 -std=c11 -fopenmp -I"$ROOT/bench" -o "$PEERS/par_omp" "$ROOT/bench/peers/par_omp.c" \
    >"$PEERS/par_omp.log" 2>&1; then
    OM=$PEERS/par_omp
else
    say "compare.sh: building the OpenMP peer FAILED (see $PEERS/par_omp.log)"
fi
if g++ -O2 -std=c++17 -o "$PEERS/par_tbb" "$ROOT/bench/peers/par_tbb.cpp" -ltbb \
    >"$PEERS/par_tbb.log" 2>&1; then
    TB=$PEERS/par_tbb
else
    say "compare.sh: building the oneTBB peer FAILED (see $PEERS/par_tbb.log; is libtbb-dev installed?)"
fi

# ---- 3. runs ----------------------------------------------------------------------
say "compare.sh: running (a few minutes)..."
# How busy the CPUs are without us (1 s sample of /proc/stat): others'
# work distorts every figure, so the report says how much there was.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
read -r busy0 idle0 <<<"$(cpu_ticks)"
sleep 1
read -r busy1 idle1 <<<"$(cpu_ticks)"
busy_pct=$(awk -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) \
    'BEGIN { t = b + i; printf "%.0f", (t > 0) ? 100 * b / t : 0 }')
if [ "$busy_pct" -gt 10 ]; then
    say "compare.sh: WARNING: the CPUs were ${busy_pct}% busy before the runs; figures will be distorted"
fi
if [ -n "$WB" ]; then
    run weft "$WB" switch
    run weft env WEFT_WORKERS=1 "$WB" yield
    run weft1 env WEFT_WORKERS=1 "$WB" spawn
    run weft2 env WEFT_WORKERS=2 "$WB" spawn
    run weft2 env WEFT_WORKERS=2 "$WB" wake
    run weft "$WB" idle
    run weft "$WB" mpmc
    run weft "$WB" ring
    run weft "$WB" chan
    run weft "$WB" mutex
    run weft1 env WEFT_WORKERS=1 "$WB" threadring
    run weft2 env WEFT_WORKERS=2 "$WB" threadring
    run weft1 env WEFT_WORKERS=1 "$WB" chameneos
    run weft2 env WEFT_WORKERS=2 "$WB" chameneos
    run weft1 env WEFT_WORKERS=1 "$WB" skynet
    run weft2 env WEFT_WORKERS=2 "$WB" skynet
fi
[ -n "$BC" ] && run boost "$BC"
[ -n "$BF" ] && run boost "$BF"
[ -n "$GO" ] && run go "$GO"
[ -n "$GC" ] && run go "$GC"
[ -n "$GS" ] && run go "$GS"
[ -n "$CK" ] && run ck "$CK"
# Parallelism: weft at 1 and at all workers (fib_w1_ms is the 1-worker
# figure), OpenMP and oneTBB at 1 thread (fib only) and at all threads.
NP=$(nproc 2>/dev/null || echo 2)
if [ -n "$WB" ]; then
    for g in fib mandelbrot reduce sort; do
        run weftp env WEFT_WORKERS="$NP" "$WB" "$g"
    done
fi
[ -n "$OM" ] && run omp1 env OMP_NUM_THREADS=1 "$OM" fib
[ -n "$OM" ] && run ompn env OMP_NUM_THREADS="$NP" "$OM"
[ -n "$TB" ] && run tbb1 "$TB" 1 fib
[ -n "$TB" ] && run tbbn "$TB" "$NP"
# Timers: 1,000,000 timers over one second (default workers; Go at
# GOMAXPROCS=nproc, libuv on its one loop thread).
[ -n "$WB" ] && run weft "$WB" timers
[ -n "$WB" ] && run weft1 env WEFT_WORKERS=1 "$WB" timers
[ -n "$UV" ] && run uv "$UV"
[ -n "$GT" ] && run go "$GT"

# Echo: weft's server runs inside weft-bench; a peer server runs as its
# own process on a free loopback port, driven by the same load generator.
[ -n "$WB" ] && run weft "$WB" echo
# The same on per-worker io_uring rings (opt-in, weft/io.h).
[ -n "$WB" ] && run weftr env WEFT_IO_RINGS=1 "$WB" echo
# And with multishot receives and accepts on the rings (weft/io.h).
[ -n "$WB" ] && run weftm env WEFT_IO_RINGS=1 WEFT_IO_MSHOT=1 "$WB" echo
# echo_peer TAG SERVER: start SERVER PORT, run the client against it, stop it.
echo_peer() {
    local tag=$1 server=$2 port pid tries
    for tries in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        "$server" "$port" 2>>"$ERRS" &
        pid=$!
        sleep 0.3
        if kill -0 "$pid" 2>/dev/null; then
            run "$tag" "$EC" "$tag" "$port"
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return
        fi
        wait "$pid" 2>/dev/null # it could not bind: try another port
    done
    say "compare.sh: [$tag] echo server would not start"
}
[ -n "$EC" ] && [ -n "$UE" ] && echo_peer uv "$UE"
[ -n "$EC" ] && [ -n "$GE" ] && echo_peer go "$GE"

# File: weft's random 4 KiB reads and fio's on the same file with the
# same shape, with io_uring (depth 64) and with psync (64 jobs, one read
# each in flight). Warm: the file is in the page cache (weft-bench reads
# it whole first; fio runs with --invalidate=0 after it). Cold: its pages
# are dropped at the start (WEFT_BENCH_FILE_COLD=1; fio's default
# --invalidate=1).
FILE_PATH=${WEFT_BENCH_FILE:-/tmp/weft-bench-1g}
if [ -n "$WB" ]; then
    run weft env WEFT_BENCH_FILE="$FILE_PATH" "$WB" file
    run weftcold env WEFT_BENCH_FILE_COLD=1 WEFT_BENCH_FILE="$FILE_PATH" "$WB" file
fi
# fio_run TAG ARGS...: fio's read IOPS (terse v3 field 8) as TAG:fio_kiops.
fio_run() {
    local tag=$1 out iops
    shift
    out=$(timeout -k 10 120 fio --name=weftcmp --filename="$FILE_PATH" --rw=randread \
        --bs=4k --size=1g --runtime=3 --ramp_time=0.5 --time_based \
        --output-format=terse --terse-version=3 "$@" 2>>"$ERRS") || true
    iops=$(printf '%s\n' "$out" | awk -F';' 'NF > 8 { s += $8 } END { if (s > 0) printf "%.2f", s / 1000 }')
    if [ -n "$iops" ]; then
        printf '[%s] fio_kiops %s kiops\n' "$tag" "$iops" >>"$RAW"
        val["$tag:fio_kiops"]=$iops
    else
        say "compare.sh: [$tag] fio gave no figure"
    fi
}
if command -v fio >/dev/null 2>&1 && [ -f "$FILE_PATH" ]; then
    cat "$FILE_PATH" >/dev/null
    fio_run fiou --ioengine=io_uring --iodepth=64 --invalidate=0
    fio_run fiop --ioengine=psync --numjobs=64 --group_reporting=0 --invalidate=0
    fio_run fioucold --ioengine=io_uring --iodepth=64 --invalidate=1
    fio_run fiopcold --ioengine=psync --numjobs=64 --group_reporting=0 --invalidate=1
fi

# HTTP: weft-httpd and nginx (bench/peers/nginx.conf), one worker each,
# /plaintext under wrk -t1 -c100 / -c1000 and strace -c (bench/httpd.sh).
# weft-httpd is built in Release in its own folder (the build above
# leaves the tools out).
HB=""
if cmake -S "$ROOT" -B "$BUILD/httpd" -DCMAKE_BUILD_TYPE=Release -DWEFT_TESTS=OFF \
    -DWEFT_BENCH=OFF >"$BUILD/httpd-cmake.log" 2>&1 &&
    cmake --build "$BUILD/httpd" -j"$JOBS" --target weft-httpd >>"$BUILD/httpd-cmake.log" 2>&1; then
    HB=$BUILD/httpd/tools/httpd/weft-httpd
else
    say "compare.sh: building weft-httpd FAILED (see $BUILD/httpd-cmake.log)"
fi
if command -v wrk >/dev/null 2>&1; then
    [ -n "$HB" ] && run httpd "$ROOT/bench/httpd.sh" weft "$HB"
    [ -n "$HB" ] && run httpdr env WEFT_IO_RINGS=1 "$ROOT/bench/httpd.sh" weft "$HB"
    [ -n "$HB" ] && run httpdm env WEFT_IO_RINGS=1 WEFT_IO_MSHOT=1 \
        "$ROOT/bench/httpd.sh" weft "$HB"
    command -v nginx >/dev/null 2>&1 && run nginx "$ROOT/bench/httpd.sh" nginx
fi

# ---- report -----------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) CPUs online, ${cpu:-unknown CPU}, Linux $(uname -r)"
echo "other load: the CPUs were ${busy_pct}% busy in the second before the runs"
echo "tools:   $(cc --version 2>/dev/null | head -n 1); $(g++ --version 2>/dev/null | head -n 1);" \
    "$(go version 2>/dev/null || echo 'no go');" \
    "boost $(dpkg-query -W -f='${Version}' libboost-fiber-dev 2>/dev/null || echo '?');" \
    "ck $(dpkg-query -W -f='${Version}' libck-dev 2>/dev/null || echo '?')"
echo "ratio = weft / peer; costs (ns, bytes): smaller is better, ratio < 1 means weft is cheaper;"
echo "rates (M items/s, M ops/s, more is better): ratio > 1 means weft is faster"
echo

# row FIGURE WEFT_KEY PEER_LABEL PEER_KEY [AIM]
# AIM (an open or met aim of the issues): OP NUMBER on the ratio, e.g.
# "<=0.33" or ">=1.2", or wOP NUMBER on weft's own figure, e.g. "w<=1200";
# the row then ends with the aim and whether this run meets it.
row() {
    local w=${val[$2]:-} p=${val[$4]:-} ratio="-" verdict=""
    if [ -n "$w" ] && [ -n "$p" ]; then
        ratio=$(awk -v a="$w" -v b="$p" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    fi
    if [ -n "${5:-}" ]; then
        verdict=$(awk -v r="$ratio" -v w="${w:-}" -v a="$5" 'BEGIN {
            x = r; what = "ratio"
            if (substr(a, 1, 1) == "w") { x = w; what = "weft"; a = substr(a, 2) }
            op = a; sub(/[0-9.]+$/, "", op); v = substr(a, length(op) + 1) + 0
            if (x == "" || x == "-") { printf "aim %s %s: n/a", what, a; exit }
            x += 0
            ok = (op == "<=") ? x <= v : (op == "<") ? x < v : (op == ">=") ? x >= v : x > v
            printf "aim %s %s: %s", what, a, ok ? "met" : "NOT met" }')
    fi
    printf '%-34s %12s   %-36s %12s %7s  %s\n' "$1" "${w:-n/a}" "$3" "${p:-n/a}" "$ratio" "$verdict"
}

printf '%-34s %12s   %-36s %12s %7s  %s\n' figure weft peer "peer value" ratio aim
printf '%-34s %12s   %-36s %12s %7s  %s\n' ------ ---- ---- ---------- ----- ---
echo "-- Fibers --"
row "switch, ns one-way" weft:switch_ns \
    "boost::context::fiber" boost:boost_switch_ns "<=1"
row "switch, asymmetric sites" weft:switch_asym_ns \
    "boost::context::fiber" boost:boost_switch_ns
row "yield, ns (1 worker)" weft:yield_ns \
    "Go Gosched, GOMAXPROCS=1" go:go_yield_ns "<=0.33"
row "yield, ns (1 worker)" weft:yield_ns \
    "Boost.Fiber yield (1 thread)" boost:boost_fiber_yield_ns
row "spawn+join, ns/fiber (1 worker)" weft1:spawn_join_ns \
    "Go, GOMAXPROCS=1" go:go_spawn_join_ns_p1 "<=0.2"
row "spawn+join, ns/fiber (2 workers)" weft2:spawn_join_ns \
    "Go, GOMAXPROCS=2" go:go_spawn_join_ns_p2
row "spawn+join, ns/fiber (1 worker)" weft1:spawn_join_ns \
    "Boost.Fiber, pooled stacks" boost:boost_fiber_pooled_spawn_join_ns
row "spawn+join, ns/fiber (1 worker)" weft1:spawn_join_ns \
    "Boost.Fiber, default stacks" boost:boost_fiber_spawn_join_ns
row "idle, RSS bytes/fiber" weft:idle_fiber_bytes \
    "Go, RSS bytes/goroutine" go:go_idle_bytes "<=1.5"
row "idle, RSS bytes/fiber asleep" weft:idle_sleeper_bytes \
    "Go, RSS bytes/goroutine" go:go_idle_bytes
row "idle, page-table bytes/fiber" weft:idle_fiber_pte_bytes \
    "Go, page-table bytes/goroutine" go:go_idle_pte_bytes
row "wake cross-worker, ns one-way" weft2:wake_cross_worker_ns \
    "(no peer)" none:none
echo "-- Queues, channels and synchronization --"
row "mpmc, M items/s, more is better" weft:mpmc_mops \
    "ck_ring mpmc, 2+2 threads" ck:ck_mpmc_mops ">=1"
row "ring, M items/s, more is better" weft:ring_mops \
    "ck_ring spsc, 1+1 threads" ck:ck_spsc_mops
row "chan ping-pong, ns rtt (1 worker)" weft:chan_pingpong_w1_ns \
    "Go unbuffered, GOMAXPROCS=1" go:go_chan_pingpong_ns_p1 "<=0.33"
row "chan ping-pong, ns rtt (1 worker)" weft:chan_pingpong_w1_ns \
    "Boost.Fiber unbuffered_channel" boost:boost_fiber_chan_pingpong_ns
row "chan ping-pong, ns rtt (2w free)" weft:chan_pingpong_w2_unpinned_ns \
    "Go unbuffered, GOMAXPROCS=2" go:go_chan_pingpong_ns_p2
row "chan ping-pong, ns rtt (2w pinned)" weft:chan_pingpong_w2_ns \
    "Go unbuffered, GOMAXPROCS=2" go:go_chan_pingpong_ns_p2 "w<=1200"
row "chan buffered 1w, more is better" weft:chan_buffered_w1_mops \
    "Go cap 1024, GOMAXPROCS=1, M items/s" go:go_chan_buffered_mops_p1
row "chan buffered 2w, more is better" weft:chan_buffered_w2_mops \
    "Go cap 1024, GOMAXPROCS=2, M items/s" go:go_chan_buffered_mops_p2
row "mutex, M ops/s, more is better" weft:mutex_contended_mops \
    "pthread_mutex, same thread count" weft:mutex_pthread_mops ">=1"
row "mutex, M ops/s, more is better" weft:mutex_contended_mops \
    "Go sync.Mutex, GOMAXPROCS=2" go:go_mutex_mops_p2
row "thread-ring 10M hops, ms (1 w)" weft1:threadring_ms \
    "Go, GOMAXPROCS=1" go:go_threadring_ms_p1 "<1"
row "thread-ring 10M hops, ms (2 w)" weft2:threadring_ms \
    "Go, GOMAXPROCS=2" go:go_threadring_ms_p2
row "chameneos 6M, ms (1 worker)" weft1:chameneos_ms \
    "Go, GOMAXPROCS=1" go:go_chameneos_ms_p1
row "chameneos 6M, ms (2 workers)" weft2:chameneos_ms \
    "Go, GOMAXPROCS=2" go:go_chameneos_ms_p2
row "skynet 1.1M fibers, ms (1 worker)" weft1:skynet_ms \
    "Go, GOMAXPROCS=1" go:go_skynet_ms_p1 "<1"
row "skynet 1.1M fibers, ms (2 workers)" weft2:skynet_ms \
    "Go, GOMAXPROCS=2" go:go_skynet_ms_p2 "<1"
row "skynet peak RSS, KiB (1 worker)" weft1:skynet_peak_rss_kb \
    "Go, GOMAXPROCS=1" go:go_skynet_peak_rss_kb_p1
row "skynet peak RSS, KiB (2 workers)" weft2:skynet_peak_rss_kb \
    "Go, GOMAXPROCS=2" go:go_skynet_peak_rss_kb_p2
echo "-- Parallelism --"
row "fib(32) every call forks, ms (1 w)" weftp:fib_w1_ms \
    "OpenMP tasks, 1 thread" omp1:omp_fib_ms
row "fib(32) every call forks, ms (1 w)" weftp:fib_w1_ms \
    "oneTBB task_group, 1 thread" tbb1:tbb_fib_ms
row "fib(32), ms (all workers)" weftp:fib_ms \
    "OpenMP tasks, all threads" ompn:omp_fib_ms "<=1"
row "fib(32), ms (all workers)" weftp:fib_ms \
    "oneTBB task_group, all threads" tbbn:tbb_fib_ms "<=1"
row "fib(32) 1 worker / serial" weftp:fib_w1_ms \
    "serial fib(32), ms" weftp:fib_serial_ms
row "fib(32) inline fork, ms (1 w)" weftp:fib_inline_w1_ms \
    "OpenMP tasks, 1 thread" omp1:omp_fib_ms
row "fib(32) inline fork 1 w / serial" weftp:fib_inline_w1_ms \
    "serial fib(32), ms" weftp:fib_serial_ms "<=2.5"
row "mandelbrot 2000^2, ms (all w)" weftp:mandel_par_ms \
    "OpenMP schedule(dynamic)" ompn:omp_mandel_ms
row "mandelbrot 2000^2, ms (all w)" weftp:mandel_par_ms \
    "oneTBB parallel_for" tbbn:tbb_mandel_ms
row "mandelbrot par / serial" weftp:mandel_par_ms \
    "serial, ms" weftp:mandel_serial_ms
row "reduce 1e8 doubles, ms (all w)" weftp:reduce_ms \
    "OpenMP reduction(+)" ompn:omp_reduce_ms
row "reduce 1e8 doubles, ms (all w)" weftp:reduce_ms \
    "oneTBB parallel_reduce" tbbn:tbb_reduce_ms
row "reduce par / serial" weftp:reduce_ms \
    "serial loop, ms" weftp:reduce_serial_ms
row "sort 1e7 u64, cmp fn, ms (all w)" weftp:sort_ms \
    "qsort (1 thread)" weftp:sort_qsort_ms
row "sort 1e7 u64, cmp fn, ms (all w)" weftp:sort_ms \
    "std::sort (1 thread)" tbbn:std_sort_ms
row "sort_u64 1e7, ms (all workers)" weftp:sort_u64_ms \
    "std::sort (1 thread)" tbbn:std_sort_ms
row "sort_u64 1e7, ms (all workers)" weftp:sort_u64_ms \
    "tbb::parallel_sort" tbbn:tbb_sort_ms
echo "-- Asynchrony: timers, echo, files --"
row "timers 1M: fire-all, ms" weft:timers_total_ms \
    "libuv (one loop)" uv:uv_timers_total_ms "<=0.5"
row "timers 1M: fire-all, ms" weft:timers_total_ms \
    "Go time.AfterFunc" go:go_timers_total_ms
row "timers 1M: arm all, ms" weft:timers_arm_ms \
    "libuv (one loop)" uv:uv_timers_arm_ms
row "timers 1M: worst lateness, ms" weft:timers_late_max_ms \
    "libuv (one loop)" uv:uv_timers_late_max_ms "w<=10"
row "timers 1M: worst lateness, ms" weft:timers_late_max_ms \
    "Go time.AfterFunc" go:go_timers_late_max_ms
row "timers 1M: fire-all, ms (1 worker)" weft1:timers_total_ms \
    "libuv (one loop)" uv:uv_timers_total_ms
row "timers 1M: CPU, ms (1 worker)" weft1:timers_cpu_ms \
    "libuv (one loop)" uv:uv_timers_cpu_ms
row "echo 1 conn, us round trip" weft:echo_rtt_us \
    "libuv server" uv:uv_echo_rtt_us "<=0.8"
row "echo 1 conn, us round trip" weft:echo_rtt_us \
    "Go server" go:go_echo_rtt_us
row "echo 1000 conns, krps, more better" weft:echo_krps \
    "libuv server" uv:uv_echo_krps ">=1.2"
row "echo 1000 conns, krps, more better" weft:echo_krps \
    "Go server" go:go_echo_krps
row "echo 1 conn, us rtt, io_uring rings" weftr:echo_rtt_us \
    "libuv server" uv:uv_echo_rtt_us "<=0.8"
row "echo 1000 conns, krps, rings" weftr:echo_krps \
    "libuv server" uv:uv_echo_krps ">=1.2"
row "echo 1 conn, us rtt, multishot" weftm:echo_rtt_us \
    "libuv server" uv:uv_echo_rtt_us "<=0.8"
row "echo 1000 conns, krps, multishot" weftm:echo_krps \
    "libuv server" uv:uv_echo_krps ">=1.2"
row "file 4k randread warm, kIOPS, more" weft:file_kiops \
    "fio io_uring, depth 64" fiou:fio_kiops ">=1"
row "file 4k randread warm, kIOPS, more" weft:file_kiops \
    "fio psync, 64 jobs" fiop:fio_kiops
row "file 4k randread cold, kIOPS, more" weftcold:file_kiops \
    "fio io_uring, depth 64" fioucold:fio_kiops
row "file 4k randread cold, kIOPS, more" weftcold:file_kiops \
    "fio psync, 64 jobs" fiopcold:fio_kiops
echo "-- HTTP server --"
row "httpd c100, req/s, more is better" httpd:httpd_rps_c100 \
    "nginx, 1 worker" nginx:httpd_rps_c100 ">=1.3"
row "httpd c100, p99 latency, ms" httpd:httpd_p99_c100_ms \
    "nginx, 1 worker" nginx:httpd_p99_c100_ms "<=1"
row "httpd c1000, req/s, more is better" httpd:httpd_rps_c1000 \
    "nginx, 1 worker" nginx:httpd_rps_c1000 ">=1.3"
row "httpd c1000, p99 latency, ms" httpd:httpd_p99_c1000_ms \
    "nginx, 1 worker" nginx:httpd_p99_c1000_ms "<=1"
row "httpd system calls per request" httpd:httpd_syscalls_per_req \
    "nginx, 1 worker" nginx:httpd_syscalls_per_req
row "httpd c100, server CPU %" httpd:httpd_cpu_pct_c100 \
    "nginx, 1 worker" nginx:httpd_cpu_pct_c100
row "httpd rings c100, req/s" httpdr:httpd_rps_c100 \
    "nginx, 1 worker" nginx:httpd_rps_c100 ">=1.3"
row "httpd rings c100, p99 latency, ms" httpdr:httpd_p99_c100_ms \
    "nginx, 1 worker" nginx:httpd_p99_c100_ms "<=1"
row "httpd rings c1000, req/s" httpdr:httpd_rps_c1000 \
    "nginx, 1 worker" nginx:httpd_rps_c1000 ">=1.3"
row "httpd rings c1000, p99 latency, ms" httpdr:httpd_p99_c1000_ms \
    "nginx, 1 worker" nginx:httpd_p99_c1000_ms "<=1"
row "httpd rings system calls per req" httpdr:httpd_syscalls_per_req \
    "nginx, 1 worker" nginx:httpd_syscalls_per_req
row "httpd multishot c100, req/s" httpdm:httpd_rps_c100 \
    "nginx, 1 worker" nginx:httpd_rps_c100 ">=1.3"
row "httpd multishot c100, p99 ms" httpdm:httpd_p99_c100_ms \
    "nginx, 1 worker" nginx:httpd_p99_c100_ms "<=1"
row "httpd multishot c1000, req/s" httpdm:httpd_rps_c1000 \
    "nginx, 1 worker" nginx:httpd_rps_c1000 ">=1.3"
row "httpd multishot c1000, p99 ms" httpdm:httpd_p99_c1000_ms \
    "nginx, 1 worker" nginx:httpd_p99_c1000_ms "<=1"
row "httpd multishot syscalls per req" httpdm:httpd_syscalls_per_req \
    "nginx, 1 worker" nginx:httpd_syscalls_per_req
echo
echo "raw figures ([run] name value unit; weft1/weft2: WEFT_WORKERS=1/2, weft: default workers;"
echo "  weftp: WEFT_WORKERS=nproc; omp1/tbb1: 1 thread, ompn/tbbn: nproc threads):"
cat "$RAW"
if [ -s "$ERRS" ]; then
    echo
    echo "the programs wrote $(wc -l <"$ERRS") lines on stderr: see $ERRS"
fi
exit "$status"
