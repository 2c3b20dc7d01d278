#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/dist.sh - the MPI programs (tools/dist) at several ranks x workers:
# weft-heat (2-D stencil, halo exchange overlapped with the interior, and
# --no-overlap, which waits for the exchange first) and weft-mandel
# (dynamic balancing, and --static slices). Prints a markdown table.
#
#   bench/dist.sh [options]
#     --build DIR       where to build (default build-dist-bench/); the
#                       programs are built in Release unless --no-build
#     --no-build        use the programs already in DIR
#     --hostfile FILE   run across the hosts of FILE (Open MPI's format:
#                       "node1 slots=16"); the build dir must be at the
#                       same path on every host. Without it, everything
#                       runs on this machine with --oversubscribe.
#     --ranks "1 2 4"   rank counts (default "1 2 4")
#     --workers "1 2"   weft workers per rank (default: 1 and the CPUs of
#                       this machine; WEFT_WORKERS of each rank)
#     --reps N          repetitions, the median is reported (default 3)
#   Sizes (environment): DIST_HEAT="--rows 1026 --cols 1024 --steps 100",
#   DIST_MANDEL="--size 1000 --iters 1000". Extra mpirun options:
#   DIST_MPIRUN_FLAGS (default: --bind-to none, and --oversubscribe
#   without a hostfile).
#
# Every figure is the program's own time of its computation (heat_ms:
# the steps with their exchanges; mandel_ms: the loop, not the final
# collection of the image): the median of the repetitions and, after a
# slash, the fastest (on a busy machine, the least disturbed run). The
# repetitions are the outer loop: each round runs every configuration
# once, so a load that drifts during the run favours none. "speedup" is
# the --local run at 1 worker (one process, no MPI) divided by it. Each
# run checks that its hash equals the --local run's: a wrong answer makes
# the script fail. As root, mpirun needs OMPI_ALLOW_RUN_AS_ROOT: set here.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$ROOT/build-dist-bench
BUILD=1
HOSTFILE=
RANKS="1 2 4"
NCPU=$(nproc 2>/dev/null || echo 1)
WORKERS="1 $NCPU"
[ "$NCPU" -eq 1 ] && WORKERS=1
REPS=3
while [ $# -gt 0 ]; do
    case $1 in
    --build) DIR=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --hostfile) HOSTFILE=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--no-build] [--hostfile FILE] [--ranks LIST] [--workers LIST] [--reps N]" >&2
       exit 2 ;;
    esac
done
HEAT_ARGS=${DIST_HEAT:---rows 1026 --cols 1024 --steps 100}
MANDEL_ARGS=${DIST_MANDEL:---size 1000 --iters 1000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none

if [ "$BUILD" = 1 ]; then
    mkdir -p "$DIR"
    log=$DIR/dist-build.log
    cmake -S "$ROOT" -B "$DIR" -DCMAKE_BUILD_TYPE=Release -DWEFT_TESTS=OFF \
        -DWEFT_BENCH=OFF >"$log" 2>&1 &&
        cmake --build "$DIR" -j"$NCPU" --target weft-heat weft-mandel >>"$log" 2>&1 ||
        { echo "dist.sh: build failed (see $log; is libopenmpi-dev installed?)" >&2; exit 1; }
fi
HEAT=$DIR/tools/dist/weft-heat
MANDEL=$DIR/tools/dist/weft-mandel
[ -x "$HEAT" ] && [ -x "$MANDEL" ] || { echo "dist.sh: no programs in $DIR/tools/dist" >&2; exit 1; }

mpirun_flags=(--bind-to none)
if [ -n "$HOSTFILE" ]; then
    mpirun_flags+=(--hostfile "$HOSTFILE")
else
    mpirun_flags+=(--oversubscribe --mca btl self,vader)
fi
# shellcheck disable=SC2206 # a list of options on purpose
[ -n "${DIST_MPIRUN_FLAGS:-}" ] && mpirun_flags=($DIST_MPIRUN_FLAGS)

# one KEY RANKS WORKERS PROGRAM ARGS...: run once; print "<ms> <hash>".
# RANKS 0 means --local (no mpirun).
one() {
    local key=$1 np=$2 w=$3 out
    shift 3
    if [ "$np" = 0 ]; then
        out=$(WEFT_WORKERS=$w "$@" --local)
    else
        # shellcheck disable=SC2086 # split the program's arguments
        out=$(mpirun "${mpirun_flags[@]}" -x WEFT_WORKERS="$w" -np "$np" "$@")
    fi
    printf '%s %s\n' "$(printf '%s\n' "$out" | awk -v k="$key" '$1 == k { t = $2 } END { print t == "" ? "-" : t }')" \
        "$(printf '%s\n' "$out" | awk '$1 == "hash" { print $2 }')"
}

# shellcheck disable=SC2206
heat=($HEAT $HEAT_ARGS)
# shellcheck disable=SC2206
heat_no=($HEAT $HEAT_ARGS --no-overlap)
# shellcheck disable=SC2206
mandel=($MANDEL $MANDEL_ARGS)
# shellcheck disable=SC2206
mandel_st=($MANDEL $MANDEL_ARGS --static)

# The references: one process, no MPI, 1 worker (hashes and speedup base).
declare -A want times
read -r _ want[heat] < <(one x 0 1 "${heat[@]}")
read -r _ want[mandel] < <(one x 0 1 "${mandel[@]}")

# sample NAME KEY RANKS WORKERS PROGRAM ARGS...: run once, append the
# time to times[NAME@RANKSxWORKERS], check the hash against want[KEY-ish].
sample() {
    local name=$1 key=$2 np=$3 w=$4 t h ref
    shift 2
    read -r t h < <(one "$key" "$@")
    ref=${want[${name%%_*}]}
    if [ "$h" != "$ref" ]; then
        echo "dist.sh: $name on $np ranks x $w workers: hash $h, --local gave $ref" >&2
        exit 1
    fi
    times["$name@${np}x$w"]+="$t "
}

# stat NAME@CONFIG: "median/fastest" of its samples (on a busy machine the
# fastest is the least disturbed run).
stat() {
    # shellcheck disable=SC2086 # the samples, one per word
    printf '%s\n' ${times[$1]} | sort -g |
        awk '{ a[NR] = $1 } END { printf "%.1f/%.1f\n", a[int((NR + 1) / 2)], a[1] }'
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
# Repetitions outermost, so that every configuration is sampled across
# the same stretch of time (a machine whose load drifts favours none).
for ((r = 0; r < REPS; r++)); do
    sample heat heat_ms 0 1 "${heat[@]}"
    sample mandel mandel_ms 0 1 "${mandel[@]}"
    for np in $RANKS; do
        for w in $WORKERS; do
            sample heat heat_ms "$np" "$w" "${heat[@]}"
            sample heat_no heat_ms "$np" "$w" "${heat_no[@]}"
            sample mandel mandel_ms "$np" "$w" "${mandel[@]}"
            sample mandel_st mandel_ms "$np" "$w" "${mandel_st[@]}"
        done
    done
done

base_heat=$(stat heat@0x1)
base_mandel=$(stat mandel@0x1)
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p;T;q' /proc/cpuinfo)
echo "machine: $NCPU CPUs online, ${cpu:-unknown CPU}, Linux $(uname -r); $(mpirun --version | sed -n 1p)"
echo "hosts: ${HOSTFILE:-this machine only (--oversubscribe)}; reps $REPS (interleaved); load average before: $load, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each cell: median/fastest ms of the reps; speedups and the overlap gain are of the medians"
echo "heat: $HEAT_ARGS; mandel: $MANDEL_ARGS"
echo "single process, no MPI, 1 worker: heat $base_heat ms, mandel $base_mandel ms"
echo
echo "| ranks x workers | heat ms (speedup) | heat --no-overlap ms | overlap gain | mandel dynamic ms (speedup) | mandel --static ms |"
echo "|---|---|---|---|---|---|"
# sp BASE VALUE: BASE / VALUE of the medians ("median/min" cells)
sp() { awk -v b="${1%%/*}" -v v="${2%%/*}" 'BEGIN { if (v > 0) printf "%.2fx", b / v; else print "n/a" }'; }
for np in $RANKS; do
    for w in $WORKERS; do
        c=${np}x$w
        h=$(stat "heat@$c")
        hn=$(stat "heat_no@$c")
        m=$(stat "mandel@$c")
        ms=$(stat "mandel_st@$c")
        echo "| $np x $w | $h ($(sp "$base_heat" "$h")) | $hn | $(sp "$hn" "$h") | $m ($(sp "$base_mandel" "$m")) | $ms |"
    done
done
