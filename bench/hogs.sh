# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# bench/hogs.sh - compare.sh's --hogs mode (sourced by bench/compare.sh,
# which has built weft-bench as $WB and defines run, go_peer, say, val,
# $RAW, $JOBS and status). Not a program of its own.
#
# The chan, mutex and chameneos groups of weft-bench and of the Go peer
# (bench/peers/gochan.go) run in a quiet pass, then in a loaded pass beside
# one busy process per online CPU (a shell loop at normal priority, started
# before the pass and killed after it, and by the trap on any exit). The
# table gives each pass's weft/Go ratio; "kept" says whether weft's ratio
# under load is at least as good as its quiet one (issue 16's aim).

GC=$(go_peer gochan)
[ -n "$WB" ] || say "compare.sh: --hogs: no weft-bench; only Go figures"
[ -n "$GC" ] || say "compare.sh: --hogs: no Go peer; ratios are n/a"

hog_pids=""
stop_hogs() {
    local p
    for p in $hog_pids; do
        kill "$p" 2>/dev/null
    done
    for p in $hog_pids; do
        wait "$p" 2>/dev/null
    done
    hog_pids=""
}
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM

start_hogs() {
    local i
    for ((i = 0; i < JOBS; i++)); do
        sh -c 'while :; do :; done' &
        hog_pids="$hog_pids $!"
    done
    sleep 0.5 # the hogs are on their CPUs before the first figure
}

# hog_pass SUFFIX: one pass; tags weft1SUFFIX, weft2SUFFIX, goSUFFIX.
hog_pass() {
    local x=$1
    loads[$x]=$(cut -d' ' -f1-4 /proc/loadavg)
    if [ -n "$WB" ]; then
        run "weft$x" "$WB" chan
        run "weft2$x" env WEFT_WORKERS=2 "$WB" mutex
        run "weft1$x" env WEFT_WORKERS=1 "$WB" chameneos
        run "weft2$x" env WEFT_WORKERS=2 "$WB" chameneos
    fi
    if [ -n "$GC" ]; then
        run "go$x" "$GC" chan
        run "go$x" "$GC" mutex
        run "go$x" "$GC" chameneos
    fi
    loads[$x]="${loads[$x]} -> $(cut -d' ' -f1-4 /proc/loadavg)"
}

declare -A loads
say "compare.sh: --hogs: quiet pass..."
hog_pass q
say "compare.sh: --hogs: loaded pass beside $JOBS CPU hogs..."
start_hogs
hog_pass l
stop_hogs

# ratio A B: A / B to two places, or "-".
ratio() {
    awk -v a="${1:-}" -v b="${2:-}" \
        'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "-" }'
}

# hrow FIGURE WEFT_TAG WEFT_NAME GO_NAME KIND (cost: smaller is better;
# rate: more is better).
hrow() {
    local wq=${val[${2}q:$3]:-} gq=${val[goq:$4]:-}
    local wl=${val[${2}l:$3]:-} gl=${val[gol:$4]:-}
    local rq rl kept="-"
    rq=$(ratio "$wq" "$gq")
    rl=$(ratio "$wl" "$gl")
    if [ "$rq" != "-" ] && [ "$rl" != "-" ]; then
        kept=$(awk -v q="$rq" -v l="$rl" -v k="$5" \
            'BEGIN { ok = (k == "cost") ? (l <= q) : (l >= q); print ok ? "yes" : "no" }')
    fi
    printf '%-36s %10s %10s %6s %10s %10s %6s %5s\n' "$1" "${wq:-n/a}" "${gq:-n/a}" "$rq" \
        "${wl:-n/a}" "${gl:-n/a}" "$rl" "$kept"
}

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) CPUs online, ${cpu:-unknown CPU}, Linux $(uname -r)"
echo "load (1/5/15 min, runnable/all) quiet pass: ${loads[q]}"
echo "load (1/5/15 min, runnable/all) with $JOBS hogs: ${loads[l]}"
echo "ratio = weft / Go; ns and ms: smaller is better; Mops: more is better;"
echo "kept: weft's ratio under load is at least as good as its quiet one"
echo
printf '%-36s %10s %10s %6s %10s %10s %6s %5s\n' figure "weft" "Go" ratio \
    "weft+hogs" "Go+hogs" ratio kept
printf '%-36s %10s %10s %6s %10s %10s %6s %5s\n' ------ ---- -- ----- \
    --------- ------- ----- ----
hrow "chan ping-pong, ns rtt (1 worker)" weft chan_pingpong_w1_ns go_chan_pingpong_ns_p1 cost
hrow "chan ping-pong, ns rtt (2w pinned)" weft chan_pingpong_w2_ns go_chan_pingpong_ns_p2 cost
hrow "chan ping-pong, ns rtt (2w free)" weft chan_pingpong_w2_unpinned_ns go_chan_pingpong_ns_p2 cost
hrow "chan buffered 1w, M items/s" weft chan_buffered_w1_mops go_chan_buffered_mops_p1 rate
hrow "chan buffered 2w, M items/s" weft chan_buffered_w2_mops go_chan_buffered_mops_p2 rate
hrow "mutex 2 workers, M ops/s" weft2 mutex_contended_mops go_mutex_mops_p2 rate
hrow "chameneos 6M, ms (1 worker)" weft1 chameneos_ms go_chameneos_ms_p1 cost
hrow "chameneos 6M, ms (2 workers)" weft2 chameneos_ms go_chameneos_ms_p2 cost
echo
echo "raw figures ([run] name value unit; q: quiet pass, l: beside the hogs):"
cat "$RAW"
