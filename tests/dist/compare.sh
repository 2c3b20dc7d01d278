#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/dist/compare.sh NP PROGRAM ARGS... - run PROGRAM as one process
# without MPI (--local) and as an MPI job of NP ranks ($WEFT_MPIEXEC, a
# command line such as "mpirun --oversubscribe -np"), and require the same
# "hash 0x..." line from both: the distributed result is bit-identical.
np=$1
shift
prog=$1
shift
local_out=$("$prog" --local "$@") || { echo "compare: $prog --local failed"; exit 1; }
# shellcheck disable=SC2086 # WEFT_MPIEXEC is a command line
mpi_out=$($WEFT_MPIEXEC "$np" "$prog" "$@") || { echo "compare: the $np-rank job failed"; exit 1; }
want=$(printf '%s\n' "$local_out" | grep '^hash ')
got=$(printf '%s\n' "$mpi_out" | grep '^hash ')
printf 'local:\n%s\n%s ranks:\n%s\n' "$local_out" "$np" "$mpi_out"
if [ -z "$want" ] || [ "$want" != "$got" ]; then
    echo "compare: hashes differ ('$want' alone, '$got' on $np ranks)"
    exit 1
fi
echo "compare: $np ranks give the single-process result ($want)"
