#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/check-install.sh - install weft into a temporary prefix and use it
# the three ways the README describes:
#   1. pkg-config:            cc hello.c $(pkg-config --cflags --libs weft)
#   2. CMake find_package:    examples/consumer against the installed tree
#   3. CMake add_subdirectory examples/consumer with weft's source tree
# Each program built is run. Also checks that every installed header
# compiles on its own (as C11, and as C++ when g++ is there) and that no
# test target was installed. Leaves nothing behind (WEFT_KEEP_TMP=1 keeps
# the temporary folder for inspection).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

weft_need_debs build-essential cmake pkg-config

src=$PWD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install.XXXXXX")
cleanup() {
    if [ "${WEFT_KEEP_TMP:-0}" = 1 ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
prefix=$tmp/prefix
jobs=$(nproc)
step() { printf -- '--- %s\n' "$*"; }
fail() { echo "check-install: FAIL: $*" >&2; exit 1; }

step "build and install into $prefix"
cmake -S . -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
    -DWEFT_TESTS=OFF -DWEFT_BENCH=OFF -DWEFT_TOOLS=OFF >/dev/null
cmake --build "$tmp/build" -j "$jobs" >/dev/null
# The prefix is given only at install time: the installed files must not
# depend on the configure-time CMAKE_INSTALL_PREFIX.
cmake --install "$tmp/build" --prefix "$prefix" >"$tmp/install.log"
sed "s|$prefix/||" "$tmp/install.log" | grep -v '^-- Install configuration'

step "installed files"
pc=$(find "$prefix" -name weft.pc)
[ -n "$pc" ] || fail "weft.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/include/weft.h" "$libdir/libweft.a" "$libdir/libweft.so" \
         "$libdir/cmake/weft/weftConfig.cmake" \
         "$libdir/cmake/weft/weftConfigVersion.cmake" \
         "$libdir/cmake/weft/weftTargets.cmake" \
         "$prefix/share/doc/weft/LICENSE"; do
    [ -e "$f" ] || fail "missing ${f#"$prefix"/}"
done
grep -qx 'License: MIT' "$pc" || fail "weft.pc does not name the license"
for h in include/weft/*.h; do
    [ -e "$prefix/$h" ] || fail "header $h not installed"
done
if grep -rqs -e weft_testlib -e weft_obj "$prefix"; then
    fail "an internal target is installed or exported"
fi
# Each check reads a command's whole output before matching: under
# pipefail, `cmd | grep -q` fails whenever grep's early exit makes cmd die
# of SIGPIPE (CI saw it once on the ldd check below).
tests_found=$(find "$prefix" -name '*test*')
if [ -n "$tests_found" ]; then
    fail "test files installed: $tests_found"
fi
echo "ok"

step "each installed header compiles on its own"
for h in weft.h $(cd "$prefix/include" && ls weft/*.h); do
    echo "#include <$h>" | cc -std=c11 -Wall -Wextra -pedantic -Werror \
        -fsyntax-only -I"$prefix/include" -x c - || fail "$h (C11)"
    if command -v g++ >/dev/null 2>&1; then
        echo "#include <$h>" | g++ -Wall -Wextra -Werror -fsyntax-only \
            -I"$prefix/include" -x c++ - || fail "$h (C++)"
    fi
done
echo "ok"

step "pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
echo "pkg-config --modversion weft: $(pkg-config --modversion weft)"
echo "pkg-config --cflags --libs weft: $(pkg-config --cflags --libs weft | sed "s|$prefix|PREFIX|g")"
# shellcheck disable=SC2046 # word splitting of the flags is intended
cc -std=c11 -Wall -Wextra -Werror examples/hello.c \
    $(pkg-config --cflags --libs weft) -Wl,-rpath,"$libdir" -o "$tmp/hello-pc"
"$tmp/hello-pc"

step "CMake find_package(weft)"
cmake -S examples/consumer -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release | grep 'Found weft' | sed "s|$prefix|PREFIX|g"
cmake --build "$tmp/consumer" -j "$jobs" >/dev/null
echo "hello (weft::weft):"
"$tmp/consumer/hello"
echo "hello_static (weft::weft_static):"
"$tmp/consumer/hello_static"
if grep -q libweft <<<"$(ldd "$tmp/consumer/hello_static")"; then
    fail "hello_static links libweft.so"
fi
grep -qF "$libdir/libweft.so" <<<"$(ldd "$tmp/consumer/hello")" \
    || fail "hello does not use the installed libweft.so"

step "CMake add_subdirectory(weft)"
cmake -S examples/consumer -B "$tmp/subdir" -DWEFT_SOURCE_DIR="$src" \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/subdir" -j "$jobs" >/dev/null
"$tmp/subdir/hello"
"$tmp/subdir/hello_static"

echo "check-install: all passed"
