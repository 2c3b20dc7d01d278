#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/check-format.sh [BASE] - the C lines changed since BASE must be
# formatted as .clang-format says.
#
# BASE defaults to the commit that last changed .clang-format: the rules
# bind every line written or edited since they were set, and code older
# than that is reformatted only when it is edited (git clang-format looks
# at changed lines only). Uncommitted changes count as changed.
# Needs clang-format and git-clang-format (Debian: clang-format); exits 1
# naming what to run when a changed line is not formatted.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v git-clang-format >/dev/null 2>&1; then
    # shellcheck source=scripts/deps.sh
    . scripts/deps.sh
    weft_need_debs clang-format
fi

base=${1:-$(git log -n 1 --format=%H -- .clang-format)}
if [ -z "$base" ]; then
    echo "check-format: .clang-format is not committed yet: nothing to compare" >&2
    exit 0
fi
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
    echo "check-format: $base is not in this clone (shallow?): run with a BASE" >&2
    exit 1
fi

out=$(git clang-format --quiet --diff --extensions c,h "$base" -- src include tests bench examples tools 2>&1) || true
if [ -n "$out" ] && ! grep -qE '^(no modified files to format|clang-format did not modify any files)$' <<<"$out"; then
    printf '%s\n' "$out"
    echo "check-format: the lines above, changed since ${base:0:12}, are not formatted;" >&2
    echo "check-format: run 'git clang-format $base' (or format them by hand) and commit" >&2
    exit 1
fi
echo "check-format: the C lines changed since ${base:0:12} are formatted"
