#!/bin/sh
# SPDX-License-Identifier: MIT
# weft-trace on real traces: weft-demo --quick --out traces every variant
# of its three workloads (1 and 2 workers, fibers, futures, tasks, I/O, a
# run with no runtime); each trace must load, summarise, and draw as an
# SVG that xmllint parses, with one worker lane per worker the trace
# names (otherData.workers) and the one I/O lane.
#   real_traces.sh WEFT_DEMO WEFT_TRACE WORKDIR
set -eu
demo=$1
tool=$2
work=$3
if ! command -v xmllint >/dev/null 2>&1; then
    echo "SKIP: xmllint is not installed (Debian: libxml2-utils)"
    exit 77
fi
rm -rf "$work"
mkdir -p "$work"
"$demo" --quick --out "$work/report" >/dev/null 2>"$work/demo.log" || {
    cat "$work/demo.log"
    echo "FAIL: weft-demo --quick --out failed"
    exit 1
}
n=0
for json in "$work"/report/*.json; do
    name=$(basename "$json" .json)
    "$tool" "$json" >"$work/$name.txt" || {
        echo "FAIL: weft-trace $json (summary) failed"
        exit 1
    }
    "$tool" "$json" -o "$work/$name.svg" || {
        echo "FAIL: weft-trace $json -o failed"
        exit 1
    }
    xmllint --noout "$work/$name.svg"
    want=$(sed -n 's/.*"otherData":{[^}]*"workers":\([0-9]*\).*/\1/p' "$json")
    lanes=$(xmllint --xpath "count(//*[local-name()='g'][@class='lane worker'])" \
        "$work/$name.svg")
    io=$(xmllint --xpath "count(//*[local-name()='g'][@class='lane io'])" \
        "$work/$name.svg")
    if [ "$lanes" != "$want" ] || [ "$io" != 1 ]; then
        echo "FAIL: $name: $lanes worker lanes (trace: $want workers), $io I/O lanes"
        exit 1
    fi
    grep -q "^workers: $want" "$work/$name.txt" || {
        echo "FAIL: $name: the summary does not say 'workers: $want'"
        cat "$work/$name.txt"
        exit 1
    }
    echo "$name: $want worker lanes, summary and SVG ok"
    n=$((n + 1))
done
[ "$n" -ge 10 ] || {
    echo "FAIL: only $n traces"
    exit 1
}
echo "ok: $n real traces"
