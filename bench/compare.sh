#!/usr/bin/env bash
# bench/compare.sh - weft's fiber costs next to its peers', in one run.
#
#   bench/compare.sh            (from anywhere; a few minutes on 2 cores)
#
# What it does:
#   1. installs the peers' Debian packages if missing (libboost-context-dev,
#      libboost-fiber-dev, golang-go, libck-dev) with apt-get; a peer whose
#      package cannot be had is skipped and shown as n/a;
#   2. builds weft-bench in Release in build-bench/ (WEFT_BENCH_BUILD
#      overrides the folder) and the peers in build-bench/peers/
#      (g++ -O2, cc -O2; go build with its cache inside that folder);
#   3. runs every program once (each reports medians of its own
#      repetitions) and prints the machine, a table and the raw lines.
#
# Ratios are weft / peer. Most figures are costs (ns or bytes): smaller is
# better and a ratio below 1 means weft is cheaper. The queue rows (mpmc,
# ring; labelled "M items/s, more is better") are rates: there a ratio
# above 1 means weft is faster.
#
# Results move by 10-100% between sittings on this kind of machine, and
# anything else running on the machine distorts them: compare only figures
# from the same run, on an otherwise idle machine. Raw output is kept in
# build-bench/compare-raw.txt, the programs' stderr (notes, stall reports)
# in build-bench/compare-stderr.txt, build logs beside them.
set -u

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
pkgs="libboost-context-dev libboost-fiber-dev golang-go libck-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
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
if command -v go >/dev/null 2>&1 &&
    (cd "$ROOT/bench/peers" &&
        env GOCACHE="$PEERS/gocache" GOPATH="$PEERS/gopath" GOFLAGS= GOTOOLCHAIN=local \
            go build -o "$PEERS/goroutines" goroutines.go) >"$PEERS/go.log" 2>&1; then
    GO=$PEERS/goroutines
else
    say "compare.sh: building the Go peer FAILED (see $PEERS/go.log; is golang-go installed?)"
fi

# ck_ring is header-only: no library to link.
if cc -O2 -std=c11 -pthread -o "$PEERS/ck_ring" "$ROOT/bench/peers/ck_ring.c" \
    >"$PEERS/ck_ring.log" 2>&1; then
    CK=$PEERS/ck_ring
else
    say "compare.sh: building the ck_ring peer FAILED (see $PEERS/ck_ring.log; is libck-dev installed?)"
fi

# ---- 3. runs ----------------------------------------------------------------------
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
fi
[ -n "$BC" ] && run boost "$BC"
[ -n "$BF" ] && run boost "$BF"
[ -n "$GO" ] && run go "$GO"
[ -n "$CK" ] && run ck "$CK"

# ---- report -----------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) CPUs online, ${cpu:-unknown CPU}, Linux $(uname -r)"
echo "other load: the CPUs were ${busy_pct}% busy in the second before the runs"
echo "tools:   $(cc --version 2>/dev/null | head -n 1); $(g++ --version 2>/dev/null | head -n 1);" \
    "$(go version 2>/dev/null || echo 'no go');" \
    "boost $(dpkg-query -W -f='${Version}' libboost-fiber-dev 2>/dev/null || echo '?');" \
    "ck $(dpkg-query -W -f='${Version}' libck-dev 2>/dev/null || echo '?')"
echo "ratio = weft / peer; costs (ns, bytes): smaller is better, ratio < 1 means weft is cheaper;"
echo "rates (M items/s, more is better): ratio > 1 means weft is faster"
echo

# row FIGURE WEFT_KEY PEER_LABEL PEER_KEY
row() {
    local w=${val[$2]:-} p=${val[$4]:-} ratio="-"
    if [ -n "$w" ] && [ -n "$p" ]; then
        ratio=$(awk -v a="$w" -v b="$p" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    fi
    printf '%-34s %12s   %-36s %12s %7s\n' "$1" "${w:-n/a}" "$3" "${p:-n/a}" "$ratio"
}

printf '%-34s %12s   %-36s %12s %7s\n' figure weft peer "peer value" ratio
printf '%-34s %12s   %-36s %12s %7s\n' ------ ---- ---- ---------- -----
row "switch, ns one-way" weft:switch_ns \
    "boost::context::fiber" boost:boost_switch_ns
row "switch, asymmetric sites" weft:switch_asym_ns \
    "boost::context::fiber" boost:boost_switch_ns
row "yield, ns (1 worker)" weft:yield_ns \
    "Go Gosched, GOMAXPROCS=1" go:go_yield_ns
row "yield, ns (1 worker)" weft:yield_ns \
    "Boost.Fiber yield (1 thread)" boost:boost_fiber_yield_ns
row "spawn+join, ns/fiber (1 worker)" weft1:spawn_join_ns \
    "Go, GOMAXPROCS=1" go:go_spawn_join_ns_p1
row "spawn+join, ns/fiber (2 workers)" weft2:spawn_join_ns \
    "Go, GOMAXPROCS=2" go:go_spawn_join_ns_p2
row "spawn+join, ns/fiber (1 worker)" weft1:spawn_join_ns \
    "Boost.Fiber, pooled stacks" boost:boost_fiber_pooled_spawn_join_ns
row "spawn+join, ns/fiber (1 worker)" weft1:spawn_join_ns \
    "Boost.Fiber, default stacks" boost:boost_fiber_spawn_join_ns
row "idle, RSS bytes/fiber" weft:idle_fiber_bytes \
    "Go, RSS bytes/goroutine" go:go_idle_bytes
row "idle, RSS bytes/fiber asleep" weft:idle_sleeper_bytes \
    "Go, RSS bytes/goroutine" go:go_idle_bytes
row "idle, page-table bytes/fiber" weft:idle_fiber_pte_bytes \
    "Go, page-table bytes/goroutine" go:go_idle_pte_bytes
row "wake cross-worker, ns one-way" weft2:wake_cross_worker_ns \
    "(no peer)" none:none
row "mpmc, M items/s, more is better" weft:mpmc_mops \
    "ck_ring mpmc, 2+2 threads" ck:ck_mpmc_mops
row "ring, M items/s, more is better" weft:ring_mops \
    "ck_ring spsc, 1+1 threads" ck:ck_spsc_mops
echo
echo "raw figures ([run] name value unit; weft1/weft2: WEFT_WORKERS=1/2, weft: default workers):"
cat "$RAW"
if [ -s "$ERRS" ]; then
    echo
    echo "the programs wrote $(wc -l <"$ERRS") lines on stderr: see $ERRS"
fi
exit "$status"
