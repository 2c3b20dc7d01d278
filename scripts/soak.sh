#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/soak.sh - build weft (RelWithDebInfo, in build-soak) and run the
# soak program, tests/soak/weft-soak.c, for a long time: rounds of eight
# workloads at once (scopes and cancellation, channels and select, locks,
# parallel loops, timers, futures, loopback sockets with random
# disconnects, temporary files), each checking its invariants, and at the
# end descriptors, live fibers and memory back to their levels
# (docs/RELIABILITY.md, Soak). Not part of the default test run (ctest
# runs weft-soak for 4 s, label soak).
#
#   scripts/soak.sh [--minutes N | --seconds N] [--seed S] [--workers W]
#                   [--verbose] [--no-build]
#
#   --minutes N  how long (default 10)
#   --seconds N  how long, in seconds
#   --seed S     the seed (default: from the clock; printed first)
#   --workers W  worker threads (default: one per core)
#   --verbose    a line per round (descriptors, RSS, heap, stacks)
#   --no-build   use build-soak as it is
#
# Exits non-zero on any violation; the figures it prints at the end are
# what docs/RELIABILITY.md records.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=600
args=()
build=1
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) secs=$(($2 * 60)); shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --seed | --workers) args+=("$1" "$2"); shift 2 ;;
    --verbose) args+=("$1"); shift ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$build" = 1 ]; then
    cmake -S . -B build-soak -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_WERROR=ON \
        -DWEFT_BENCH=OFF -DWEFT_TOOLS=OFF >/dev/null
    cmake --build build-soak -j2 --target weft-soak
fi
exec build-soak/tests/soak/weft-soak --seconds "$secs" "${args[@]}"
