#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/dist/expect_abort.sh [--reject RE] PATTERN COMMAND... - run an MPI
# job that must end with a non-zero status (not hang: ctest's TIMEOUT
# bounds it) and whose output must match the extended regular expression
# PATTERN, and must not match RE when given.
reject=
if [ "$1" = "--reject" ]; then
    reject=$2
    shift 2
fi
pattern=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out" | tail -n 40
if [ "$rc" -eq 0 ]; then
    echo "expect_abort: the job exited 0; it should have failed"
    exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq "$pattern"; then
    echo "expect_abort: exit status $rc, but no line matches: $pattern"
    exit 1
fi
if [ -n "$reject" ] && printf '%s\n' "$out" | grep -Eq "$reject"; then
    echo "expect_abort: exit status $rc, but a line matches: $reject"
    exit 1
fi
echo "expect_abort: exit status $rc and a line matching '$pattern': as expected"
