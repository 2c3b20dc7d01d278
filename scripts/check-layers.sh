#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/check-layers.sh - the layering of docs/ARCHITECTURE.md, checked.
#
# Reads every #include "..." line of the files under src/, and every
# #include <...> that names a file under src/ or include/ (src/ is on the
# include path; other <...> headers are the system's), and fails,
# naming file:line, when a file includes a header of a higher layer, a
# header in a folder that is in no layer, or a header that is not there.
# A header resolves as the compiler finds it: beside the including file
# first ("..." only), then under src/, then under include/. The public headers
# (include/) may be included from anywhere; a layer may include its own
# headers and those of every layer below it.
#
# Usage: scripts/check-layers.sh [root]   (default: the repository root)
set -eu

# The layers, lowest first: each folder src/<layer>/ may include only
# itself and the ones before it. Keep in step with docs/ARCHITECTURE.md.
LAYERS="common arch trace core sync chan par async dist"

root=${1:-"$(dirname "$0")/.."}
cd "$root"

rank() { # rank LAYER: its position in LAYERS, or nothing
    local i=0 l
    for l in $LAYERS; do
        if [ "$l" = "$1" ]; then
            echo "$i"
            return
        fi
        i=$((i + 1))
    done
}

normalize() { # normalize PATH: drop "." and resolve ".." textually
    local out=() part IFS=/
    for part in $1; do
        case $part in
        '' | .) ;;
        ..) [ ${#out[@]} -gt 0 ] && unset 'out[${#out[@]}-1]' ;;
        *) out+=("$part") ;;
        esac
    done
    echo "${out[*]}"
}

bad=0
checked=0
while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    text=${rest#*:}
    if [[ $text == *'"'* ]]; then
        inc=${text#*\"}
        inc=${inc%%\"*}
        cands=("$(dirname "$file")/$inc" "src/$inc" "include/$inc")
    else
        # <...>: src/ is on the include path too; one found in neither
        # src/ nor include/ is a system header.
        inc=${text#*<}
        inc=${inc%%>*}
        cands=("src/$inc" "include/$inc")
        [ -f "src/$inc" ] || [ -f "include/$inc" ] || continue
    fi
    checked=$((checked + 1))

    target=
    for cand in "${cands[@]}"; do
        if [ -f "$cand" ]; then
            target=$(normalize "$cand")
            break
        fi
    done
    if [ -z "$target" ]; then
        echo "$file:$line: \"$inc\" not found (beside the file, in src/ or include/)"
        bad=1
        continue
    fi
    case $target in
    include/*) continue ;; # the public API: fine everywhere
    src/*/*) ;;
    *)
        echo "$file:$line: \"$inc\" resolves to $target, outside src/<layer>/ and include/"
        bad=1
        continue
        ;;
    esac

    from=${file#src/}
    from=${from%%/*}
    to=${target#src/}
    to=${to%%/*}
    rf=$(rank "$from")
    rt=$(rank "$to")
    if [ -z "$rf" ]; then
        echo "$file:$line: src/$from/ is in no layer (LAYERS in $0)"
        bad=1
    elif [ -z "$rt" ]; then
        echo "$file:$line: \"$inc\" is in src/$to/, which is in no layer (LAYERS in $0)"
        bad=1
    elif [ "$rt" -gt "$rf" ]; then
        echo "$file:$line: $from includes $target of $to, a higher layer (order: $LAYERS)"
        bad=1
    fi
done <<EOF
$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' src | sort -t: -k1,1 -k2,2n)
EOF

if [ "$bad" -ne 0 ]; then
    echo "check-layers: FAILED (see docs/ARCHITECTURE.md, Layers)"
    exit 1
fi
echo "check-layers: $checked includes under src/ keep the layer order ($LAYERS)"
