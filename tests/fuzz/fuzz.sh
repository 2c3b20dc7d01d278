#!/bin/sh
# SPDX-License-Identifier: MIT
# Run weft's own libFuzzer targets (tests/fuzz/: chan, timer, future,
# config, trace, flags) for a bounded time each, from the corpus kept in
# tests/fuzz/corpus/<target>/.
#   tests/fuzz/fuzz.sh [BUILD_DIR] [SECONDS] [TARGET...]
# BUILD_DIR must be configured with clang and -DWEFT_FUZZ=ON, e.g.
#   CC=clang cmake -S . -B build-fuzz -DWEFT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-fuzz -j2 --target fuzz_chan fuzz_timer fuzz_future \
#       fuzz_config fuzz_trace fuzz_flags
# Default: build-fuzz, 30 s per target, every target built; FUZZ_JOBS=N
# runs N targets at once (each a single process). The corpus in
# the tree is only read: new inputs go to BUILD_DIR/fuzz-weft/<target>/.
# Exit 0 when every target ran to its time without a crash; 77 when none
# is built; else the fuzzer's status, the crashing input left as
# BUILD_DIR/fuzz-weft/crash-* (replay it with
# BUILD_DIR/tests/fuzz/fuzz_replay_<target> FILE, or the fuzzer itself).
set -eu
build=${1:-build-fuzz}
secs=${2:-30}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
targets=${*:-chan timer future config trace flags}
src=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz-weft
mkdir -p "$work"
work=$(realpath "$work")
jobs=${FUZZ_JOBS:-1}
found=0
status=0
# One target: its output to $work/$t.log, its result in $work/$t.rc.
run() {
  t=$1
  bin=$(realpath "$build/tests/fuzz/fuzz_$t")
  mkdir -p "$work/$t"
  # From $work, where libFuzzer leaves crash-* files. Inputs are small
  # scripts; a run is bounded by its deadlines (a few ms), so an input
  # slower than 20 s is a hang and a finding too. Memory is not judged
  # (-rss_limit_mb=0): ASan keeps freed memory in quarantine.
  rc=0
  (cd "$work" && "$bin" -max_total_time="$secs" -max_len=512 -timeout=20 \
      -rss_limit_mb=0 -print_final_stats=1 "$work/$t" "$src/corpus/$t") \
      >"$work/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t.rc"
}
# Show a finished target's log tail and figures; remember a failure.
report() {
  t=$1
  rc=$(cat "$work/$t.rc")
  echo "---- fuzz_$t (${secs}s): exit $rc"
  if [ "$rc" != 0 ]; then
    tail -n 60 "$work/$t.log"
    status=$rc
  else
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)' \
      "$work/$t.log" || tail -n 5 "$work/$t.log"
  fi
}
batch=""
for t in $targets; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || continue
  found=1
  echo "fuzz_$t: ${secs}s"
  run "$t" &
  batch="$batch $t"
  if [ "$(echo $batch | wc -w)" -ge "$jobs" ]; then
    wait
    for b in $batch; do report "$b"; done
    batch=""
  fi
done
wait
for b in $batch; do report "$b"; done
if [ "$found" = 0 ]; then
  echo "no fuzz target in $build/tests/fuzz (configure with clang and -DWEFT_FUZZ=ON)" >&2
  exit 77
fi
exit "$status"
