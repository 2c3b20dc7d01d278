#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/hash/hash_test.sh TOOL WORKDIR CASE - one case of weft-hash's
# tests (tests/hash/CMakeLists.txt lists them). The expected output is
# sha256sum's own, on the same files in the same order; exit 77 (skipped)
# only where sha256sum is missing.
set -u
tool=$1 work=$2 case=$3
command -v sha256sum > /dev/null || { echo "SKIP: sha256sum not found"; exit 77; }
export LC_ALL=C
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

fail() { echo "FAIL: $*"; exit 1; }
# What the tool wrote on stderr, less the runtime's stall reports ("weft:
# fiber 'main' has run for 136 ms on worker 0 without switching: ..."):
# advice that depends on the machine's speed (a sanitizer build on a
# loaded machine), not part of weft-hash's output.
tool_stderr() { grep -v "^weft: .* has run for [0-9]* ms on worker [0-9]* without switching: " err; }

# The tree: empty files, a file of several MiB, names with spaces, a
# newline, a backslash and a carriage return, subdirectories.
make_tree() {
    mkdir -p t/sub/deeper t/"dir with space"
    : > t/empty
    : > t/sub/empty2
    head -c $((5 * 1024 * 1024 + 123)) /dev/urandom > t/big
    printf 'hello\n' > t/a
    printf 'spaces' > "t/name with spaces"
    printf 'newline' > "t/$(printf 'new\nline')"
    printf 'backslash' > 't/back\slash'
    printf 'cr' > "t/$(printf 'carriage\rreturn')"
    printf 'deep' > t/sub/deeper/f
    printf 'x' > "t/dir with space/x"
    for i in $(seq 1 40); do printf '%s' "$i" > "t/sub/n$i"; done
}

# sha256sum of every regular file under $@, sorted by name as bytes.
expected() {
    find "$@" -type f -print0 | sort -z | xargs -0 sha256sum --
}

case $case in
tree_matches_sha256sum)
    make_tree
    expected t > exp || fail "sha256sum failed"
    "$tool" t > out 2> err; rc=$?
    [ "$rc" = 0 ] || { cat err; fail "exit $rc"; }
    [ -n "$(tool_stderr)" ] && { cat err; fail "unexpected stderr"; }
    cmp out exp || { diff out exp | head; fail "output differs from sha256sum's"; }
    grep -c '' out
    sha256sum -c --quiet out || fail "sha256sum -c rejects the output"
    # Small -j and a trailing slash change nothing.
    "$tool" -j 1 t/ > out1 || fail "-j 1 exit $?"
    cmp out1 exp || fail "-j 1 output differs"
    ;;
unordered)
    make_tree
    expected t | sort > exp
    "$tool" --unordered -j 3 t > out || fail "exit $?"
    sort out > sorted
    cmp sorted exp || fail "--unordered lines differ from sha256sum's"
    ;;
files_from)
    make_tree
    expected t > exp
    find t -type f -print0 | "$tool" -0 --files-from - > out || fail "-0 exit $?"
    cmp out exp || fail "--files-from - -0 differs"
    # Newline-separated: names without a newline; a directory is walked.
    { find t -maxdepth 1 -type f ! -name '*
*'; echo t/sub; } | "$tool" --files-from - > out2 || fail "newline exit $?"
    expected t/sub $(find t -maxdepth 1 -type f ! -name '*
*' ! -name '* *') "t/name with spaces" > exp2
    sort exp2 > exp2s; sort out2 > out2s
    cmp out2s exp2s || { diff out2s exp2s; fail "--files-from - differs"; }
    ;;
errors)
    make_tree
    "$tool" t missing-file > out 2> err; rc=$?
    [ "$rc" = 1 ] || fail "missing operand: exit $rc, want 1"
    grep -qx 'weft-hash: missing-file: No such file or directory' err ||
        { cat err; fail "no message for the missing operand"; }
    expected t > exp
    cmp out exp || fail "the other files were not all hashed"
    # Unreadable files and directories: as root (CI), which reads mode-000
    # files, the checks run as nobody (setpriv), on a copy of the tree and
    # the tool in a directory under /tmp that nobody can reach; the
    # shell, still root, makes the redirections.
    run=() bin=$tool dir=.
    if [ "$(id -u)" = 0 ]; then
        if ! command -v setpriv > /dev/null; then
            echo "running as root without setpriv: unreadable-file check skipped"
            exit 0
        fi
        dir=$(mktemp -d /tmp/weft-hash-test.XXXXXX) || fail "mktemp"
        trap 'rm -rf "$dir"' EXIT
        chmod 755 "$dir"
        cp "$tool" "$dir/weft-hash" && chmod 755 "$dir/weft-hash"
        cp -a t "$dir/t"
        bin=$dir/weft-hash
        run=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        "${run[@]}" true || fail "setpriv cannot run a command as nobody"
        chmod -R a+rX "$dir/t"
    fi
    printf 'secret' > "$dir/t/sub/unreadable"
    chmod 000 "$dir/t/sub/unreadable"
    (cd "$dir" && "${run[@]}" "$bin" t) > out 2> err; rc=$?
    [ "$rc" = 1 ] || fail "unreadable file: exit $rc, want 1"
    grep -qx 'weft-hash: t/sub/unreadable: Permission denied' err ||
        { cat err; fail "no message for the unreadable file"; }
    cmp out exp || fail "the readable files were not all hashed"
    chmod 000 "$dir/t/sub/deeper"
    (cd "$dir" && "${run[@]}" "$bin" t) > out 2> err; rc=$?
    [ "$rc" = 1 ] || fail "unreadable directory: exit $rc, want 1"
    grep -qx 'weft-hash: t/sub/deeper: Permission denied' err ||
        { cat err; fail "no message for the unreadable directory"; }
    chmod 755 "$dir/t/sub/deeper"
    ;;
symlinks)
    make_tree
    ln -s a t/link-to-file
    ln -s sub t/link-to-dir
    ln -s nowhere t/dangling
    # Default: symlinks met while walking are skipped, as find -type f.
    expected t > exp
    "$tool" t > out 2> err || { cat err; fail "exit $?"; }
    cmp out exp || fail "default walk differs from find -type f"
    # Operands are followed.
    "$tool" t/link-to-file > out || fail "operand symlink: exit $?"
    [ "$(cut -c1-64 out)" = "$(sha256sum < t/a | cut -c1-64)" ] || fail "operand symlink hash"
    # A pipe named as an operand is read to its end.
    "$tool" /dev/stdin < t/big > out || fail "pipe operand: exit $?"
    [ "$(cut -c1-64 out)" = "$(sha256sum < t/big | cut -c1-64)" ] || fail "pipe operand hash"
    ;;
progress_tty)
    # The progress line shows only when stderr is a terminal; script(1)
    # gives it one (where script is missing the terminal half is skipped).
    make_tree
    "$tool" t > out 2> err || fail "exit $?"
    [ -n "$(tool_stderr)" ] && { cat err; fail "progress drawn on a non-terminal"; }
    if command -v script > /dev/null; then
        for i in $(seq 1 3000); do printf '%s' "$i" > "t/sub/p$i"; done
        script -qc "'$tool' -j 1 t > out" /dev/null > tty < /dev/null || fail "under script: exit $?"
        grep -q 'weft-hash: .* files' tty || { od -c tty | head; echo "(no progress line: the run took under 250 ms?)"; }
        expected t > exp
        cmp out exp || fail "output differs under a terminal"
    fi
    ;;
loop_L)
    make_tree
    ln -s .. t/sub/loop
    ln -s ../a t/sub/link-to-a
    "$tool" -L t > out 2> err; rc=$?
    [ "$rc" = 1 ] || { cat err; fail "-L loop: exit $rc, want 1"; }
    grep -q "^weft-hash: t/sub/loop: directory loop" err ||
        { cat err; fail "no message for the loop"; }
    { find t -type f -print0; printf 't/sub/link-to-a\0'; } | sort -z | xargs -0 sha256sum -- > exp
    cmp out exp || { diff out exp; fail "-L output differs"; }
    # Without -L the loop is not followed and nothing fails.
    "$tool" t > out 2> err || { cat err; fail "no -L: exit $?"; }
    ;;
*)
    fail "unknown case $case"
    ;;
esac
echo PASS
