#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/stress.sh - run the channel stress program (tests/chan/stress_chan.c)
# for a long time: rounds of every case (mixed, selects, close_storm, model),
# each round with a fresh seed, in the Debug build and optionally the TSan
# build. Stops at the first failure and prints how to replay it.
#
#   scripts/stress.sh [-s SECONDS] [-r ROUNDS] [-t THREADS] [--tsan] [--migrate]
#
#   -s SECONDS  per case and round (default 30)
#   -r ROUNDS   rounds (default 10; 0: until interrupted or a failure)
#   -t THREADS  workers (WT_THREADS; default: the program's, 3)
#   --seed N    the first round's seed (default: from the clock); round i
#               uses N + i
#   --tsan      also run each round under ThreadSanitizer (build-tsan)
#   --migrate   run with WEFT_DEBUG_MIGRATE=1 (a fiber moves at every switch)
#   --no-build  use the builds as they are
#
# Builds build-test (Debug) and, with --tsan, build-tsan when they are
# missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=30
rounds=10
threads=
tsan=0
migrate=0
build=1
seed=
while [ $# -gt 0 ]; do
    case $1 in
    -s) secs=$2; shift 2 ;;
    -r) rounds=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --tsan) tsan=1; shift ;;
    --migrate) migrate=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "stress.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$build" = 1 ]; then
    cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DWEFT_WERROR=ON >/dev/null
    cmake --build build-test -j2 --target stress_chan
    if [ "$tsan" = 1 ]; then
        cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=thread \
            -DWEFT_WERROR=ON -DWEFT_BENCH=OFF >/dev/null
        cmake --build build-tsan -j2 --target stress_chan
    fi
fi

# TSan in GCC 12 cannot cope with the wide mmap randomisation of newer
# kernels; .ci/run probes for it the same way.
tsan_wrap=()
if [ "$tsan" = 1 ]; then
    probe=$(mktemp)
    echo 'int main(void) { return 0; }' | cc -fsanitize=thread -x c - -o "$probe"
    out=$("$probe" 2>&1 || true)
    if grep -q 'unexpected memory mapping' <<<"$out"; then
        tsan_wrap=(setarch "$(uname -m)" -R)
    fi
    rm -f "$probe"
fi

[ -n "$seed" ] || seed=$(( $(date +%s%N) % 1000000000 ))
cases=(mixed selects close_storm model)
env_common=(WT_STRESS_SECONDS="$secs")
[ -n "$threads" ] && env_common+=(WT_THREADS="$threads")
[ "$migrate" = 1 ] && env_common+=(WEFT_DEBUG_MIGRATE=1)

run_one() { # build-dir label wrapper... -- case seed
    local dir=$1 label=$2
    shift 2
    local wrap=()
    while [ "$1" != -- ]; do wrap+=("$1"); shift; done
    shift
    local c=$1 s=$2
    local extra=()
    [ "$label" = tsan ] && extra=(TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1)
    # A generous hang guard: the case itself stops after $secs.
    if ! env "${env_common[@]}" "${extra[@]}" WT_SEED="$s" \
        timeout $((secs * 4 + 120)) "${wrap[@]}" "$dir/tests/chan/stress_chan" "$c"; then
        echo
        echo "FAILED: $label $c, seed $s. Replay with:"
        echo "  ${env_common[*]} WT_SEED=$s ${wrap[*]} $dir/tests/chan/stress_chan $c"
        exit 1
    fi
}

i=0
while [ "$rounds" = 0 ] || [ "$i" -lt "$rounds" ]; do
    s=$((seed + i))
    of=
    [ "$rounds" = 0 ] || of="/$rounds"
    echo "== round $((i + 1))$of, seed $s"
    for c in "${cases[@]}"; do
        run_one build-test debug -- "$c" "$s"
        [ "$tsan" = 1 ] && run_one build-tsan tsan "${tsan_wrap[@]}" -- "$c" "$s"
    done
    i=$((i + 1))
done
echo "stress.sh: $i rounds passed"
