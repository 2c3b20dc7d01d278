#!/bin/sh
# SPDX-License-Identifier: MIT
# Run weft-httpd's request parser under libFuzzer for a bounded time,
# starting from the corpus kept in tests/httpd/corpus (copied: the repo's
# corpus is not changed) with the dictionary tests/httpd/http.dict.
#   tests/httpd/fuzz.sh [BUILD_DIR] [SECONDS]
# BUILD_DIR must be configured with clang and -DWEFT_FUZZ=ON, e.g.
#   CC=clang cmake -S . -B build-fuzz -DWEFT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-fuzz -j2 --target fuzz_http_parse
# Default: build-fuzz, 30 s. Exit 0 when the fuzzer ran its time without
# a crash; 77 when it is not built; else the fuzzer's status, with the
# crashing input left in BUILD_DIR/fuzz-httpd. A crash becomes a
# regression test by copying that file into tests/httpd/crashes/
# (test_http_parse.fuzz_regressions parses each file there).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build-fuzz}
secs=${2:-30}
bin=$build/tools/httpd/fuzz_http_parse
if [ ! -x "$bin" ]; then
  echo "no fuzzer at $bin (configure with clang and -DWEFT_FUZZ=ON)" >&2
  exit 77
fi
work=$build/fuzz-httpd
mkdir -p "$work/corpus"
cp "$here"/corpus/* "$work/corpus/"
cp "$here"/crashes/* "$work/corpus/"
bin=$(realpath "$bin")
echo "fuzz_http_parse: ${secs}s"
(cd "$work" && "$bin" -max_total_time="$secs" -max_len=4096 \
    -dict="$here/http.dict" -print_final_stats=1 corpus)
