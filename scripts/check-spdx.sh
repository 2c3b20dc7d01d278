#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/check-spdx.sh - every source file names weft's license (MIT) in
# an SPDX line among its first five lines: C, C++, assembly, Go, Python,
# shell, CMake files and .ci/run. Exits 1 listing the files without one.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=0
while IFS= read -r f; do
    if ! grep -q 'SPDX-License-Identifier: MIT' <<<"$(head -n 5 "$f")"; then
        echo "check-spdx: $f has no 'SPDX-License-Identifier: MIT' line at the top"
        missing=$((missing + 1))
    fi
done < <(git ls-files -- '*.c' '*.h' '*.cpp' '*.hpp' '*.S' '*.go' '*.py' \
             '*.sh' '*.cmake' '*.in' 'CMakeLists.txt' '*/CMakeLists.txt' \
             '.ci/run')
if [ "$missing" -ne 0 ]; then
    echo "check-spdx: $missing file(s) without the license identifier" >&2
    exit 1
fi
echo "check-spdx: every source file names its license"
