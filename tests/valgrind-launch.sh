#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/valgrind-launch.sh PROGRAM ARGS... - run one test case under a
# valgrind tool: the test launcher of the build tests/valgrind.sh makes
# (WEFT_TEST_LAUNCHER in tests/CMakeLists.txt). The tool is
# WEFT_VALGRIND_TOOL (memcheck by default; helgrind or drd). Any error the
# tool reports fails the case (exit 1); with memcheck so does a leak
# (definite, indirect or possible: --errors-for-leak-kinds' default).
# Suppressions: tests/valgrind.supp (each one says why it is there).
# WEFT_TEST_SCALE (tests/common/wtest.h) divides the heaviest cases'
# counts: 100 unless set.
dir=$(dirname "$0")
export WEFT_TEST_SCALE=${WEFT_TEST_SCALE:-100}
tool=${WEFT_VALGRIND_TOOL:-memcheck}
case $tool in
memcheck) set -- --leak-check=full "$@" ;;
helgrind | drd) ;;
*)
    echo "valgrind-launch.sh: WEFT_VALGRIND_TOOL must be memcheck, helgrind or drd" >&2
    exit 2
    ;;
esac
exec "${WEFT_VALGRIND:-valgrind}" --tool="$tool" -q --error-exitcode=1 \
    --suppressions="$dir/valgrind.supp" "$@"
