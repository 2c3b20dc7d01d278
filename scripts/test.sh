#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/test.sh - build weft in Debug mode (warnings are errors) and run
# every test. For a fresh Debian 12 machine: installs what the build needs
# if missing (valgrind brings the headers weft uses to describe its stacks;
# libxml2-utils the xmllint that checks the SVG weft-trace draws;
# libssl-dev the libcrypto whose SHA-256 weft-hash uses; libpng-dev PNG
# support in weft-imgproc; python3 and curl the end-to-end tests of
# weft-httpd; spin the model checker of tests/model, ctest label model).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

weft_need_debs build-essential cmake valgrind liburing-dev libxml2-utils libssl-dev libpng-dev python3 curl spin

cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DWEFT_WERROR=ON
cmake --build build-test -j "$(nproc)"
ctest --test-dir build-test --output-on-failure --no-tests=error -j2
