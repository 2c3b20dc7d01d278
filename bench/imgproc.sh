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
#                 (runs of the commands compared alternate, see medians)
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
mkdir -p "$work/in$nimg" "$work/out"

make_ppm() { # W H FILE: random RGB
  { printf 'P6\n%d %d\n255\n' "$1" "$2"; head -c $(($1 * $2 * 3)) /dev/urandom; } > "$3"
}
[ -f "$work/big$size.ppm" ] || make_ppm "$size" "$size" "$work/big$size.ppm"
for i in $(seq -w 1 "$nimg"); do
  [ -f "$work/in$nimg/img$i.ppm" ] || make_ppm 640 480 "$work/in$nimg/img$i.ppm"
done

# Medians of RUNS timed runs of each function named; the runs alternate
# between the functions (f1 f2 f1 f2 ...), so that a load that comes and
# goes (a shared machine) falls on all of them alike. Sets T_<function>.
medians() {
  local f r s e
  declare -A times
  for r in $(seq "$runs"); do
    for f in "$@"; do
      s=$(date +%s.%N)
      "$f" >/dev/null 2>&1 || { echo "failed: $f" >&2; exit 1; }
      e=$(date +%s.%N)
      times[$f]+="$(echo "$e - $s" | bc) "
    done
  done
  for f in "$@"; do
    printf -v "T_$f" '%s' "$(printf '%s\n' ${times[$f]} | sort -n | sed -n "$(((runs + 1) / 2))p")"
  done
}

ncpu=$(nproc)
echo "weft-imgproc: $tool"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $ncpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); median of $runs runs"
echo

row() { # LABEL SECONDS BASE
  printf '%-52s %8.3f s  %5.2fx\n' "$1" "$2" "$(echo "$3 / $2" | bc -l)"
}

echo "== blur=$sigma of a ${size}x${size} RGB PPM (read, blur, write)"
b1() { WEFT_WORKERS=1 "$tool" "$work/big$size.ppm" "$work/out/big.ppm" "blur=$sigma"; }
bn() { WEFT_WORKERS=$ncpu "$tool" "$work/big$size.ppm" "$work/out/big.ppm" "blur=$sigma"; }
# -blur 0xSIGMA: ImageMagick picks the radius (about 3 SIGMA as well).
m1() { MAGICK_THREAD_LIMIT=1 convert "$work/big$size.ppm" -blur "0x$sigma" "$work/out/im.ppm"; }
mn() { MAGICK_THREAD_LIMIT=$ncpu convert "$work/big$size.ppm" -blur "0x$sigma" "$work/out/im.ppm"; }
if command -v convert >/dev/null && grep -q ImageMagick <<<"$(convert -version 2>/dev/null)"; then
  medians b1 bn m1 mn
else
  medians b1 bn
fi
row "weft-imgproc, WEFT_WORKERS=1" "$T_b1" "$T_b1"
row "weft-imgproc, WEFT_WORKERS=$ncpu" "$T_bn" "$T_b1"
if [ -n "${T_m1:-}" ]; then
  row "ImageMagick convert -blur 0x$sigma, 1 thread" "$T_m1" "$T_b1"
  row "ImageMagick convert -blur 0x$sigma, $ncpu threads" "$T_mn" "$T_b1"
  echo "($(convert -version | sed -n 1p | cut -d' ' -f2-3); speedups against weft on 1 worker)"
else
  echo "(ImageMagick's convert not installed: no comparison)"
fi
echo

echo "== -d -j 8 on $nimg 640x480 RGB PPMs: blur=1.5 sharpen"
d1() { WEFT_WORKERS=1 "$tool" -d -j 8 "$work/in$nimg" "$work/out/d" blur=1.5 sharpen; }
dn() { WEFT_WORKERS=$ncpu "$tool" -d -j 8 "$work/in$nimg" "$work/out/d" blur=1.5 sharpen; }
medians d1 dn
row "weft-imgproc -d, WEFT_WORKERS=1" "$T_d1" "$T_d1"
row "weft-imgproc -d, WEFT_WORKERS=$ncpu" "$T_dn" "$T_d1"
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
