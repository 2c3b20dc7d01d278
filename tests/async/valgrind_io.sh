#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/async/valgrind_io.sh NOTICES VALGRIND PROGRAM CASE - run one case
# of an I/O test program under valgrind's memcheck (any error fails). The
# case must finish: under valgrind weft's reactor uses epoll, because
# io_uring waits hang there. weft must say so on stderr NOTICES times (1
# when WEFT_IO=uring asks for io_uring in a build that has it, else 0),
# however often the reactor starts.
notices=$1
vg=$2
shift 2
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
"$vg" -q --error-exitcode=1 "$@" 2>"$err"
rc=$?
cat "$err" >&2
[ "$rc" -eq 0 ] || exit "$rc"
n=$(grep -c '^weft: running under valgrind: the reactor uses epoll, not io_uring' "$err")
if [ "$n" -ne "$notices" ]; then
    echo "valgrind_io.sh: expected the valgrind notice $notices time(s) on stderr, saw it $n" >&2
    exit 1
fi
