#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/model/run-model.sh - check one Promela model exhaustively with spin.
#
#   run-model.sh [--expect-violation] [--collapse] MODEL.pml WORKDIR [SPIN_DEFINE...]
#
# Generates the verifier (spin -a, with the -D defines given), compiles it
# with cc as a safety verifier (-DSAFETY: assertions and invalid end
# states, that is deadlocks; -DCOLLAPSE compresses states without loss
# for the larger models; never -DBITSTATE or -DHC, which are not
# exhaustive), runs it and reads its report:
#   - by default the model must verify: errors: 0 and a complete search
#     (no "Search not completed", no "max search depth too small", no
#     memory limit reached);
#   - with --expect-violation (a model of a protocol known to be wrong)
#     spin must find an error and write a trail; the trail is printed.
# Prints the figures (states, depth, memory, time) either way. Exits 77
# (ctest: skipped) when spin or cc is missing.
set -eu

expect_violation=0
collapse=0
while [ $# -gt 0 ]; do
    case $1 in
    --expect-violation) expect_violation=1; shift ;;
    --collapse) collapse=1; shift ;;
    *) break ;;
    esac
done
if [ $# -lt 2 ]; then
    echo "usage: $0 [--expect-violation] [--collapse] MODEL.pml WORKDIR [-DNAME=VALUE...]" >&2
    exit 2
fi
model=$1
work=$2
shift 2

if ! command -v spin >/dev/null 2>&1; then
    echo "SKIP: spin not found; install it to run the model checks (Debian: apt-get install spin)"
    exit 77
fi
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIP: no C compiler ($cc) to build the verifier"
    exit 77
fi

name=$(basename "$model")
rm -rf "$work"
mkdir -p "$work"
cp "$model" "$work/$name"
cd "$work"

echo "== spin -a $* $name"
spin -a "$@" "$name" >spin.log 2>&1 || { cat spin.log; exit 1; }

flags="-O2 -w -DSAFETY -DMEMLIM=2048"
[ $collapse = 1 ] && flags="$flags -DCOLLAPSE"
echo "== $cc $flags -o pan pan.c"
# shellcheck disable=SC2086 # flags is a list of words
"$cc" $flags -o pan pan.c

# -m: the depth bound; a search that hits it is reported as incomplete.
echo "== ./pan -m200000"
# CPU seconds of the children (user + system), before and after pan:
# the wall time depends on what else the machine runs.
cpu() {
    times >times.txt # in this shell: a subshell would count its own
    tail -n 1 times.txt | awk '{ gsub(/s/, "", $1); gsub(/s/, "", $2);
        split($1, u, "m"); split($2, y, "m");
        printf "%.2f", u[1] * 60 + u[2] + y[1] * 60 + y[2] }'
}
cpu >cpu0.txt
cpu0=$(cat cpu0.txt)
start=$(date +%s.%N)
set +e
./pan -m200000 >pan.log 2>&1
rc=$?
set -e
end=$(date +%s.%N)
cpu >cpu1.txt
cpu1=$(cat cpu1.txt)
cat pan.log
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
cpus=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')

errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.log | tail -n 1)
states=$(awk '/states, stored/ { print $1; exit }' pan.log)
depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' pan.log | tail -n 1)
mem=$(awk '/total actual memory usage/ { print $1; exit }' pan.log)
echo "model $name $*: states $states, depth $depth, memory ${mem} MB, ${secs} s wall, ${cpus} s CPU (pan exit $rc)"

if [ -z "$errors" ]; then
    echo "FAIL: no verdict from pan"
    exit 1
fi
if [ $expect_violation = 1 ]; then
    if [ "$errors" -gt 0 ] && [ -f "$name.trail" ]; then
        spin -t -p "$@" "$name" >trail.txt 2>&1 || true
        echo "== the expected counterexample: $work/trail.txt (spin -t -p); its end:"
        grep -E 'proc|violated' trail.txt | tail -n 12 || true
        echo "PASS: spin found the violation this model must show"
        exit 0
    fi
    echo "FAIL: spin found no violation in a model of a broken protocol"
    exit 1
fi
if [ "$errors" -ne 0 ]; then
    spin -t -p "$@" "$name" >trail.txt 2>&1 || true
    echo "== counterexample: $work/trail.txt (spin -t -p); its end:"
    tail -n 80 trail.txt
    echo "FAIL: spin reports $errors error(s)"
    exit 1
fi
if grep -qE 'Search not completed|max search depth too small|out of memory|MEMLIM' pan.log; then
    echo "FAIL: the search was not complete"
    exit 1
fi
echo "PASS: exhaustive search, no error"
