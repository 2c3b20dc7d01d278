#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/cross-aarch64.sh - test the AArch64 context switch on an x86-64 host.
#
# Cross-compiles tests/arch/test_arch.c with src/arch/aarch64/ (static, so
# qemu needs no AArch64 sysroot) and runs every case under qemu-aarch64:
#   asm -O2, asm -O0                the assembly backend, optimised and not
#   asm -O2 -mbranch-protection     with PAC-signed return addresses in the
#                                   C code around every switch (qemu's
#                                   default CPU has pointer authentication);
#                                   BTI itself stays unenforced, as Debian's
#                                   static glibc carries no BTI marking
#   ucontext -O2                    the portable fallback on AArch64 glibc
# Each run prints the harness's per-case lines and its summary line; the
# script exits non-zero if a build or a case fails.
#
# Installs gcc-aarch64-linux-gnu and qemu-user (qemu-user-static where that
# is the one available) with apt when they are missing.
#
# Environment: CROSS_CC (default aarch64-linux-gnu-gcc), QEMU (default
# qemu-aarch64, else qemu-aarch64-static), WEFT_CROSS_DIR (where binaries
# go; default a temporary directory removed on exit).
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cc=${CROSS_CC:-aarch64-linux-gnu-gcc}

find_qemu() {
    if [ -n "${QEMU:-}" ]; then
        command -v "$QEMU" || true
        return
    fi
    command -v qemu-aarch64 || command -v qemu-aarch64-static || true
}

qemu=$(find_qemu)
if ! command -v "$cc" >/dev/null 2>&1 || [ -z "$qemu" ]; then
    sudo=
    if [ "$(id -u)" -ne 0 ]; then
        sudo=sudo
    fi
    # Both exist on Debian 12; other releases may carry only one.
    qemu_pkg='qemu-user'
    if ! apt-cache show qemu-user >/dev/null 2>&1; then
        qemu_pkg='qemu-user-static'
    fi
    echo "cross-aarch64: installing gcc-aarch64-linux-gnu $qemu_pkg"
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            gcc-aarch64-linux-gnu "$qemu_pkg" >/dev/null; then
        # A fresh container has no package lists yet.
        $sudo apt-get update -q >/dev/null
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            gcc-aarch64-linux-gnu "$qemu_pkg" >/dev/null
    fi
    qemu=$(find_qemu)
fi
command -v "$cc" >/dev/null 2>&1 || { echo "cross-aarch64: no $cc" >&2; exit 1; }
[ -n "$qemu" ] || { echo "cross-aarch64: no qemu-aarch64" >&2; exit 1; }

if [ -n "${WEFT_CROSS_DIR:-}" ]; then
    out=$WEFT_CROSS_DIR
    mkdir -p "$out"
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/weft-aarch64.XXXXXX")
    trap 'rm -rf "$out"' EXIT
fi

# The warnings CMake uses for weft (WEFT_WARNINGS), as errors.
cflags="-std=c11 -D_GNU_SOURCE -g -fno-omit-frame-pointer -static
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wno-unused-parameter -Werror
    -I$root/src -I$root/tests/common"
test_src=$root/tests/arch/test_arch.c
asm_src="$root/src/arch/aarch64/switch.S $root/src/arch/aarch64/ctx_make.c"
uc_src=$root/src/arch/generic/ctx_ucontext.c

failed=0

# run NAME SOURCES FLAGS...: build test_arch as NAME and run all its cases.
run() {
    name=$1
    srcs=$2
    shift 2
    bin=$out/test_arch-$name
    echo "== aarch64 $name: $*"
    # shellcheck disable=SC2086 # word splitting of the flag lists is meant
    if ! "$cc" $cflags "$@" "$test_src" $srcs -o "$bin"; then
        echo "build FAILED"
        failed=1
        return
    fi
    if ! "$qemu" "$bin"; then
        failed=1
    fi
}

run asm-O2 "$asm_src" -O2
run asm-O0 "$asm_src" -O0
run asm-O2-bti "$asm_src" -O2 -mbranch-protection=standard
run ucontext-O2 "$uc_src" -O2 -DWEFT_CTX_UCONTEXT

if [ "$failed" -ne 0 ]; then
    echo "cross-aarch64: FAILED"
    exit 1
fi
echo "cross-aarch64: all passed"
