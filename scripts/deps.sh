# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# scripts/deps.sh - sourced by the other scripts: make sure Debian packages
# are installed.
#
#   weft_need_debs PKG...
#
# installs the missing ones with apt-get when running as root, else through
# sudo when it exists; otherwise it names the missing packages and exits 1.

weft_need_debs() {
    local missing=() p
    for p in "$@"; do
        if ! grep -q 'install ok installed' <<<"$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)"; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0

    local run=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            run=(sudo)
        else
            echo "weft: missing Debian packages: ${missing[*]}" >&2
            echo "weft: install them as root: apt-get install ${missing[*]}" >&2
            exit 1
        fi
    fi
    echo "weft: installing Debian packages: ${missing[*]}"
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
