#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/imgproc.sh - weft-imgproc on all workers against WEFT_WORKERS=1,
# and against ImageMagick's convert where it is installed, in one sitting.
# Measured, never gating (not run by CI).
#
#   bench/imgproc.sh [BUILD_DIR]
#
# BUILD_DIR (default build-imgproc-bench) is configured Release and
# weft-imgproc built there unless it exists already. Environment:
#   RUNS=5        runs of each command; the median wall time is reported
#   SIZE=4000     the big image is SIZE x SIZE RGB
#   SIGMA=3       its blur (kernel radius ceil(3 SIGMA))
#   NIMG=100      images of directory mode, 640x480 RGB each, run through
#                 blur=1.5 sharpen with -j 8
# Inputs are random noise (the operations' cost does not depend on the
# content), generated once into BUILD_DIR/bench-imgproc/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-imgproc-bench}
runs=${RUNS:-5}
size=${SIZE:-4000}
sigma=${SIGMA:-3}
nimg=${NIMG:-100}
if [ ! -x "$build/tools/imgproc/weft-imgproc" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEFT_TESTS=OFF \
    -DWEFT_BENCH=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target weft-imgproc >/dev/null
fi
tool=$(realpath "$build/tools/imgproc/weft-imgproc")
work=$build/bench-imgproc
mkdir -p "$work/in" "$work/out"

make_ppm() { # W H FILE: random RGB
  { printf 'P6\n%d %d\n255\n' "$1" "$2"; head -c $(($1 * $2 * 3)) /dev/urandom; } > "$3"
}
[ -f "$work/big.ppm" ] || make_ppm "$size" "$size" "$work/big.ppm"
for i in $(seq -w 1 "$nimg"); do
  [ -f "$work/in/img$i.ppm" ] || make_ppm 640 480 "$work/in/img$i.ppm"
done

# median wall seconds of RUNS runs of "$@"
median() {
  local t=()
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    e=$(date +%s.%N)
    t+=("$(echo "$e - $s" | bc)")
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

ncpu=$(nproc)
echo "weft-imgproc: $tool"
echo "machine: $ncpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); median of $runs runs"
echo

row() { # LABEL SECONDS BASE
  printf '%-52s %8.3f s  %5.2fx\n' "$1" "$2" "$(echo "$3 / $2" | bc -l)"
}

echo "== blur=$sigma of a ${size}x${size} RGB PPM (read, blur, write)"
b1=$(WEFT_WORKERS=1 median "$tool" "$work/big.ppm" "$work/out/big.ppm" "blur=$sigma")
bn=$(WEFT_WORKERS=$ncpu median "$tool" "$work/big.ppm" "$work/out/big.ppm" "blur=$sigma")
row "weft-imgproc, WEFT_WORKERS=1" "$b1" "$b1"
row "weft-imgproc, WEFT_WORKERS=$ncpu" "$bn" "$b1"
if command -v convert >/dev/null && convert -version 2>/dev/null | grep -q ImageMagick; then
  # -blur 0xSIGMA: ImageMagick picks the radius (about 3 SIGMA as well).
  m1=$(MAGICK_THREAD_LIMIT=1 median convert "$work/big.ppm" -blur "0x$sigma" "$work/out/im.ppm")
  mn=$(MAGICK_THREAD_LIMIT=$ncpu median convert "$work/big.ppm" -blur "0x$sigma" "$work/out/im.ppm")
  row "ImageMagick convert -blur 0x$sigma, 1 thread" "$m1" "$b1"
  row "ImageMagick convert -blur 0x$sigma, $ncpu threads" "$mn" "$b1"
  echo "($(convert -version | head -1 | cut -d' ' -f2-3); speedups against weft on 1 worker)"
else
  echo "(ImageMagick's convert not installed: no comparison)"
fi
echo

echo "== -d -j 8 on $nimg 640x480 RGB PPMs: blur=1.5 sharpen"
d1=$(WEFT_WORKERS=1 median "$tool" -d -j 8 "$work/in" "$work/out/d" blur=1.5 sharpen)
dn=$(WEFT_WORKERS=$ncpu median "$tool" -d -j 8 "$work/in" "$work/out/d" blur=1.5 sharpen)
row "weft-imgproc -d, WEFT_WORKERS=1" "$d1" "$d1"
row "weft-imgproc -d, WEFT_WORKERS=$ncpu" "$dn" "$d1"
