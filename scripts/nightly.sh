#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/nightly.sh - the long checks that do not fit CI's time
# (docs/RELIABILITY.md):
#   1. every core, sync, chan and async case under valgrind's memcheck
#      (tests/valgrind.sh --full; CI runs all but the slowest few),
#      about 7 minutes on 2 cores;
#   2. the soak program for 10 minutes (scripts/soak.sh).
# Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
weft_need_debs build-essential cmake valgrind liburing-dev

start=$SECONDS
echo "========== 1/2 valgrind memcheck, every case (tests/valgrind.sh --full)"
tests/valgrind.sh --full
echo "========== 2/2 soak, 10 minutes (scripts/soak.sh)  ($((SECONDS - start))s elapsed)"
scripts/soak.sh --minutes 10
echo "========== nightly passed  ($((SECONDS - start))s)"
