#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/valgrind.sh - run the core, sync, chan and async tests, and the
# short soak (tests/soak, every workload at once), under a valgrind tool:
# memcheck by default, every error and every leak fatal
# (tests/valgrind-launch.sh). Builds build-valgrind (Debug, with
# WEFT_TEST_LAUNCHER set to the launcher, so that ctest starts each case
# under valgrind) and runs ctest there. Counts of the heaviest cases are
# divided by WEFT_TEST_SCALE (100 unless set; tests/common/wtest.h).
#
#   tests/valgrind.sh [--full] [--tool memcheck|helgrind|drd] [-j N]
#                     [-- CTEST_ARGS...]
#
#   --full    every case of the four labels; without it the few that take
#             10 s or more each under memcheck are left out (SLOW below):
#             the CI run (.ci/run: 130 s on 2 idle cores at 1683bc9,
#             6-10 min on a loaded machine). The full
#             run is scripts/nightly.sh's.
#   --tool    the valgrind tool (helgrind and drd do not understand weft's
#             atomics and futexes: docs/RELIABILITY.md, Valgrind)
#   -j N      cases at once (default 2)
#
# Left out everywhere: the <prog>_uring.* duplicates (the reactor uses
# epoll under valgrind, so they would repeat the epoll cases) - the
# test_io_valgrind* cases, which start valgrind themselves, do run - and
# the test_rings.* / test_rings_migrate.* cases and the multishot ones
# (test_rings_ms.*, test_rings_mshot*, test_rings_macc*, test_io_mshot*):
# weft refuses io_uring rings under valgrind (weft/io.h), so they skip,
# from inside a running runtime; test_rings_off.* runs the same cases on
# the readiness path.
set -euo pipefail
cd "$(dirname "$0")/.."

# Seconds each took under memcheck with WEFT_TEST_SCALE=100 (2 cores,
# loaded): chan_tree_depth_first 49 and 38, prime_sieve 27 and 16,
# stress_chan.model 25, echo_tcp4_10000 16, errgroup_racing_failures 12,
# joinset_consumers_race 10. Together a quarter of the full run.
SLOW='test_overload\.chan_tree_depth_first_|test_chan\.prime_sieve|stress_chan\.model'
SLOW+='|test_io\.echo_tcp4_10000|test_core\.errgroup_racing_failures'
SLOW+='|test_core\.joinset_consumers_race'

full=0
tool=memcheck
jobs=2
while [ $# -gt 0 ]; do
    case $1 in
    --full) full=1; shift ;;
    --tool) tool=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    --) shift; break ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "valgrind.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

exclude='_uring\.|^test_rings(_migrate|_ms|_mshot_[a-z]+|_macc_[a-z]+)?\.|^test_rings_(mshot|macc)\.|^test_io_mshot'
[ "$full" = 1 ] || exclude+="|$SLOW"

cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=Debug -DWEFT_WERROR=ON \
    -DWEFT_BENCH=OFF -DWEFT_TOOLS=OFF \
    -DWEFT_TEST_LAUNCHER="$PWD/tests/valgrind-launch.sh" >/dev/null
cmake --build build-valgrind -j "$jobs"
WEFT_VALGRIND_TOOL=$tool ctest --test-dir build-valgrind --output-on-failure \
    --no-tests=error -j "$jobs" -L '^(core|sync|chan|async|soak)$' -E "$exclude" "$@"
