#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/hash.sh - weft-hash next to sha256sum on the same tree, in one run
# (not run by CI).
#
#   bench/hash.sh [DIR]    (DIR: where the tree goes; default build-bench/hash-tree)
#
# Builds weft-hash in Release in build-bench/ (WEFT_BENCH_BUILD overrides
# the folder), makes a tree of 10,000 small files (1-16 KiB, 100
# directories) and 4 large ones (64 MiB each) once, then times, warm cache
# (one untimed run first), the median of 5 runs each of:
#   weft-hash DIR
#   WEFT_WORKERS=1 weft-hash DIR   (one worker: how much comes from
#                                   OpenSSL's SHA-256, SHA-NI where the
#                                   CPU has it, rather than parallelism)
#   find DIR -type f -print0 | xargs -0 sha256sum
#   find DIR -type f -print0 | xargs -0 -P$(nproc) sha256sum
# and, if `echo 3 > /proc/sys/vm/drop_caches` works (root), the same with
# the page cache dropped before each run. Prints `name seconds` lines and
# the ratios. Results drift between sittings: compare within one run.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BENCH_BUILD:-$ROOT/build-bench}
TREE=${1:-$BUILD/hash-tree}
N=$(nproc 2>/dev/null || echo 2)
mkdir -p "$BUILD"
RUNS=5

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > "$BUILD/hash-cmake.log" 2>&1 &&
    cmake --build "$BUILD" -j "$N" --target weft-hash > "$BUILD/hash-build.log" 2>&1 ||
    { echo "build failed: see $BUILD/hash-*.log"; exit 1; }
HASH=$BUILD/tools/weft-hash

if [ ! -e "$TREE/.done" ]; then
    echo "making the tree in $TREE ..."
    rm -rf "$TREE" && mkdir -p "$TREE"
    for d in $(seq 0 99); do
        mkdir -p "$TREE/d$d"
        for f in $(seq 0 99); do
            head -c $(( (RANDOM % 16 + 1) * 1024 )) /dev/urandom > "$TREE/d$d/f$f"
        done
    done
    mkdir -p "$TREE/large"
    for f in 0 1 2 3; do
        head -c $((64 * 1024 * 1024)) /dev/urandom > "$TREE/large/big$f"
    done
    touch "$TREE/.done"
fi

now() { date +%s.%N; }
# time_one CMD: seconds taken by one run of the shell command CMD.
time_one() {
    local t0 t1
    [ "$cold" = 1 ] && { sync; echo 3 > /proc/sys/vm/drop_caches; }
    t0=$(now)
    bash -c "$1" > /dev/null || echo "failed: $1" >&2
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }

declare -A cmds=(
    [weft-hash]="'$HASH' '$TREE'"
    [weft-hash-1w]="WEFT_WORKERS=1 '$HASH' '$TREE'"
    [sha256sum]="find '$TREE' -type f -print0 | xargs -0 sha256sum"
    [sha256sum-P$N]="find '$TREE' -type f -print0 | xargs -0 -P$N sha256sum"
)
order=(weft-hash weft-hash-1w sha256sum "sha256sum-P$N")

# The outputs agree (sorted: xargs -P interleaves).
"$HASH" "$TREE" | sort > "$BUILD/hash-a.txt"
find "$TREE" -type f -print0 | xargs -0 sha256sum | sort > "$BUILD/hash-b.txt"
cmp -s "$BUILD/hash-a.txt" "$BUILD/hash-b.txt" || { echo "outputs differ"; exit 1; }

modes=(warm)
if [ -w /proc/sys/vm/drop_caches ] && (echo 3 > /proc/sys/vm/drop_caches) 2> /dev/null; then
    modes+=(cold)
else
    echo "(cold cache skipped: cannot write /proc/sys/vm/drop_caches)"
fi

echo "machine: $(nproc) CPUs, $(uname -r); tree: $(find "$TREE" -type f | wc -l) files, $(du -sh "$TREE" | cut -f1)"
for mode in "${modes[@]}"; do
    cold=0; [ "$mode" = cold ] && cold=1
    declare -A med=()
    for name in "${order[@]}"; do
        [ "$cold" = 0 ] && bash -c "${cmds[$name]}" > /dev/null   # warm the cache
        # Interleaving would be fairer for drift; runs of one tool back to
        # back keep its own caches (binaries, dentries) as a user sees them.
        med[$name]=$(for _ in $(seq $RUNS); do time_one "${cmds[$name]}"; done | median)
        printf 'hash.%s.%s %.3f s (median of %d)\n' "$mode" "$name" "${med[$name]}" "$RUNS"
    done
    for name in "${order[@]:1}"; do
        printf 'hash.%s.speedup_vs_%s %.2f x\n' "$mode" "$name" \
            "$(awk -v a="${med[$name]}" -v b="${med[weft-hash]}" 'BEGIN { print a / b }')"
    done
    unset med
done
