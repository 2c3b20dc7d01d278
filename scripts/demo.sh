#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/demo.sh - build weft in Release mode and run its demo.
# For a fresh Debian 12 machine: installs the compiler and CMake if missing.
# Arguments go to weft-demo (see ./build/tools/weft-demo --help), e.g.
#   scripts/demo.sh --quick --out report   (HTML in report/index.html)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

weft_need_debs build-essential cmake

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --target weft-demo -j "$(nproc)"
./build/tools/weft-demo "$@"
