#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/demo/render.sh WEFT_DEMO WORKDIR - render weft-demo's HTML report
# in headless Chromium and check what it shows (check_render.py): the
# screenshot is not blank, and the results table has a row per variant.
# Exits 77 (skipped) where chromium or python3 is missing; .ci/run
# installs chromium.
set -euo pipefail
demo=$1
work=$2
timelines=${3:-yes} # "no": a build without the tracer (-DWEFT_TRACE=OFF)
here=$(cd "$(dirname "$0")" && pwd)

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    echo "SKIP: chromium is not installed (Debian package chromium)"
    exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 is not installed"
    exit 77
fi

rm -rf "$work"
mkdir -p "$work"
"$demo" --quick --csv --out "$work/report" >"$work/results.csv"

url="file://$work/report/index.html"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars
       --no-first-run --user-data-dir="$work/profile")
timeout 120 "$chromium" "${flags[@]}" --window-size=1024,1024 \
    --screenshot="$work/report.png" "$url" >"$work/chromium.log" 2>&1 || {
    cat "$work/chromium.log"
    echo "FAIL: chromium --screenshot failed"
    exit 1
}
timeout 120 "$chromium" "${flags[@]}" --dump-dom "$url" \
    >"$work/dom.html" 2>>"$work/chromium.log" || {
    cat "$work/chromium.log"
    echo "FAIL: chromium --dump-dom failed"
    exit 1
}
python3 "$here/check_render.py" "$work/report.png" "$work/dom.html" \
    "$work/results.csv" "$timelines"
