#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/weft-gdb.py in gdb's batch mode: stop gdb_target where two fibers
# are parked on a channel, list the fibers (with their wait reason) and
# backtrace one by name. Exit 77 (skipped) without gdb or without ptrace.
# Usage: gdb_test.sh GDB_TARGET WEFT_GDB_PY
prog=$1
script=$2
if ! command -v gdb >/dev/null 2>&1; then
    echo "SKIP: gdb is not installed"
    exit 77
fi
out=$(gdb -batch -nx -ex 'set debuginfod enabled off' \
    -ex 'set pagination off' -ex 'break inspect_gdb_stop' -ex run \
    -ex "source $script" -ex weft-fibers -ex 'weft-bt gdb-recv-a' \
    -ex kill "$prog" 2>&1)
echo "$out"
if echo "$out" | grep -q 'ptrace: Operation not permitted\|Could not trace'; then
    echo "SKIP: this system does not let gdb trace a process"
    exit 77
fi
fail=0
for want in 'gdb-recv-a .* parked on chan' 'gdb-recv-b .* parked on chan' \
    'main .* running on worker' 'live fibers' 'wf_chan_recv' 'gdb_receiver'; do
    if ! echo "$out" | grep -q "$want"; then
        echo "FAIL: gdb's output lacks /$want/"
        fail=1
    fi
done
exit $fail
