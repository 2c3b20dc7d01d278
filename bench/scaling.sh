#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/scaling.sh - speedup of weft's parallel groups against OpenMP and
# oneTBB at 1, 2, 4, 8 and 16 workers (capped at the online CPUs).
#
#   bench/scaling.sh                 build, then run (about 3 minutes on
#                                    16 cores; each program reports medians)
#   bench/scaling.sh --build DIR     only build into DIR (copy DIR to the
#                                    big machine, with the tree)
#   bench/scaling.sh --run DIR       only run what DIR holds
#
# What is built (in $WEFT_SCALING_BUILD, default build-scaling/):
#   weft-bench  Release, linked statically (-static: libweft, libc,
#               libpthread), so it runs on a machine without our toolchain;
#               where a dependency has no static archive (liburing on
#               Debian), dynamically with rpath $ORIGIN and the libraries
#               copied beside it;
#   par_omp     gcc -fopenmp, libgomp linked statically (-static);
#   par_tbb     g++ with oneTBB; Debian ships no static libtbb, so it is
#               linked dynamically with rpath $ORIGIN and libtbb.so.12
#               copied beside it.
# A peer that cannot be built is skipped (n/a).
#
# Figures: fib(32) forking at every call, mandelbrot 2000x2000 x 1000
# iterations, the sum of 1e8 doubles, the sort of 1e7 uint64 (weft and
# tbb::parallel_sort; OpenMP has no sort; weft's sort with a comparator
# function and its typed wf_parallel_sort_u64). Speedup = time at 1 worker of
# the same implementation / time at k; "vs serial" divides the serial
# C time (weft-bench's fib_serial_ms, mandel_serial_ms, ...) by it.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${WEFT_SCALING_BUILD:-$ROOT/build-scaling}
LIMIT=${WEFT_BENCH_LIMIT:-300}
mode=all
case "${1:-}" in
--build) mode=build; DIR=${2:-$DIR} ;;
--run) mode=run; DIR=${2:-$DIR} ;;
"") ;;
*) echo "usage: $0 [--build DIR | --run DIR]" >&2; exit 2 ;;
esac
say() { printf '%s\n' "$*" >&2; }

build() {
    mkdir -p "$DIR" || exit 1
    local jobs
    jobs=$(nproc 2>/dev/null || echo 2)
    if cmake -S "$ROOT" -B "$DIR/cmake" -DCMAKE_BUILD_TYPE=Release -DWEFT_TESTS=OFF \
        -DWEFT_TOOLS=OFF -DCMAKE_EXE_LINKER_FLAGS=-static >"$DIR/build.log" 2>&1 &&
        cmake --build "$DIR/cmake" -j"$jobs" --target weft-bench >>"$DIR/build.log" 2>&1; then
        cp "$DIR/cmake/bench/weft-bench" "$DIR/weft-bench"
    elif cmake -S "$ROOT" -B "$DIR/cmake-dyn" -DCMAKE_BUILD_TYPE=Release -DWEFT_TESTS=OFF \
        -DWEFT_TOOLS=OFF '-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath,$ORIGIN' >>"$DIR/build.log" 2>&1 &&
        cmake --build "$DIR/cmake-dyn" -j"$jobs" --target weft-bench >>"$DIR/build.log" 2>&1; then
        # A library without a static archive (liburing on Debian): link
        # dynamically and carry the non-libc libraries beside the program.
        say "scaling.sh: static weft-bench impossible here; linked dynamically (see $DIR/build.log)"
        cp "$DIR/cmake-dyn/bench/weft-bench" "$DIR/weft-bench"
        ldd "$DIR/weft-bench" | awk '$3 ~ /^\// && $1 !~ /^(libc|libm|libpthread|libdl|librt|ld-linux)/ { print $3 }' |
            while read -r lib; do cp -L "$lib" "$DIR/"; done
    else
        say "scaling.sh: building weft-bench FAILED (see $DIR/build.log)"
    fi
    cc -O2 -std=c11 -fopenmp -static -I"$ROOT/bench" -o "$DIR/par_omp" \
        "$ROOT/bench/peers/par_omp.c" >"$DIR/omp.log" 2>&1 ||
        cc -O2 -std=c11 -fopenmp -I"$ROOT/bench" -o "$DIR/par_omp" \
            "$ROOT/bench/peers/par_omp.c" >>"$DIR/omp.log" 2>&1 ||
        say "scaling.sh: building the OpenMP peer FAILED (see $DIR/omp.log)"
    if g++ -O2 -std=c++17 -o "$DIR/par_tbb" "$ROOT/bench/peers/par_tbb.cpp" -ltbb \
        -Wl,-rpath,'$ORIGIN' >"$DIR/tbb.log" 2>&1; then
        lib=$(ldd "$DIR/par_tbb" | awk '/libtbb\.so/ { print $3; exit }')
        [ -n "$lib" ] && cp -L "$lib" "$DIR/"
    else
        say "scaling.sh: building the oneTBB peer FAILED (see $DIR/tbb.log; apt-get install libtbb-dev)"
    fi
}

declare -A val
# run TAG PROGRAM [ARGS...]: keep its `name value unit` lines as val[TAG:name].
run() {
    local tag=$1 out name value
    shift
    out=$(timeout -k 5 "$LIMIT" "$@" 2>>"$DIR/stderr.txt") ||
        say "scaling.sh: [$tag] $* failed or timed out"
    while read -r name value _; do
        [ -n "${name:-}" ] && val["$tag:$name"]=$value
    done <<<"$out"
    printf '%s\n' "$out" | sed "s/^/[$tag] /" >>"$DIR/raw.txt"
}

measure() {
    local ncpu ks k
    ncpu=$(nproc 2>/dev/null || echo 1)
    ks=""
    for k in 1 2 4 8 16; do
        [ "$k" -le "$ncpu" ] && ks="$ks $k"
    done
    : >"$DIR/raw.txt"
    : >"$DIR/stderr.txt"
    local WB=$DIR/weft-bench OM=$DIR/par_omp TB=$DIR/par_tbb
    # Serial references once (and weft's 1-worker fib).
    if [ -x "$WB" ]; then
        for g in fib mandelbrot reduce sort; do
            run serial env WEFT_WORKERS=1 "$WB" "$g"
        done
    fi
    for k in $ks; do
        say "scaling.sh: $k worker(s)..."
        if [ -x "$WB" ]; then
            for g in fib mandelbrot reduce sort; do
                run "weft$k" env WEFT_WORKERS="$k" WEFT_BENCH_PAR_ONLY=1 "$WB" "$g"
            done
        fi
        [ -x "$OM" ] && run "omp$k" env OMP_NUM_THREADS="$k" OMP_PROC_BIND=false "$OM"
        [ -x "$TB" ] && run "tbb$k" "$TB" "$k"
    done

    cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
    echo "machine: $ncpu CPUs online, ${cpu:-unknown CPU}, Linux $(uname -r)"
    echo "serial C: fib(32) ${val[serial:fib_serial_ms]:-n/a} ms, mandelbrot ${val[serial:mandel_serial_ms]:-n/a} ms," \
        "sum ${val[serial:reduce_serial_ms]:-n/a} ms, qsort ${val[serial:sort_qsort_ms]:-n/a} ms," \
        "std::sort ${val[tbb1:std_sort_ms]:-n/a} ms"
    echo "each cell: ms (speedup over the same implementation at 1 worker; x serial C in brackets)"
    printf '%-18s' "figure"
    for k in $ks; do printf '%26s' "$k worker(s)"; done
    echo
    # line LABEL TAGPREFIX KEY SERIALKEY
    line() {
        local label=$1 pre=$2 key=$3 skey=$4 base cell k v
        base=${val[${pre}1:$key]:-}
        printf '%-18s' "$label"
        for k in $ks; do
            v=${val[$pre$k:$key]:-}
            if [ -z "$v" ]; then
                cell="n/a"
            else
                cell=$(awk -v v="$v" -v b="$base" -v s="${val[$skey]:-}" 'BEGIN {
                    out = sprintf("%.1f", v)
                    if (b != "" && v > 0) out = out sprintf(" (%.2fx", b / v)
                    if (s != "" && v > 0) out = out sprintf(" [%.2f]", s / v)
                    if (b != "" && v > 0) out = out ")"
                    print out }')
            fi
            printf '%26s' "$cell"
        done
        echo
    }
    line "fib weft" weft fib_ms serial:fib_serial_ms
    line "fib OpenMP" omp omp_fib_ms serial:fib_serial_ms
    line "fib oneTBB" tbb tbb_fib_ms serial:fib_serial_ms
    line "mandel weft" weft mandel_par_ms serial:mandel_serial_ms
    line "mandel OpenMP" omp omp_mandel_ms serial:mandel_serial_ms
    line "mandel oneTBB" tbb tbb_mandel_ms serial:mandel_serial_ms
    line "sum weft" weft reduce_ms serial:reduce_serial_ms
    line "sum OpenMP" omp omp_reduce_ms serial:reduce_serial_ms
    line "sum oneTBB" tbb tbb_reduce_ms serial:reduce_serial_ms
    line "sort weft (cmp)" weft sort_ms serial:sort_qsort_ms
    line "sort_u64 weft" weft sort_u64_ms serial:sort_qsort_ms
    line "sort oneTBB" tbb tbb_sort_ms serial:sort_qsort_ms
    echo "(fib weft at 1 worker: ${val[weft1:fib_ms]:-n/a} ms = ${val[serial:fib_w1_ms]:-n/a} ms in the serial pass;" \
        "raw lines in $DIR/raw.txt)"
}

case $mode in
build) build ;;
run) measure ;;
all) build && measure ;;
esac
