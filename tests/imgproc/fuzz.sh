#!/bin/sh
# SPDX-License-Identifier: MIT
# Run weft-imgproc's libFuzzer targets (PNM and PNG readers) for a bounded
# time each, starting from a small corpus of valid files made here.
#   tests/imgproc/fuzz.sh [BUILD_DIR] [SECONDS]
# BUILD_DIR must be configured with clang and -DWEFT_FUZZ=ON, e.g.
#   CC=clang cmake -S . -B build-fuzz -DWEFT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-fuzz -j2 --target fuzz_imgproc_pnm fuzz_imgproc_png weft-imgproc
# Default: build-fuzz, 60 s per fuzzer. Exit 0 when every fuzzer ran to
# its time without finding a crash; 77 when no fuzzer is built; else the
# fuzzer's status (the crashing input is left in BUILD_DIR/fuzz-work).
set -eu
build=${1:-build-fuzz}
secs=${2:-60}
dir=$build/tools/imgproc
work=$build/fuzz-work
found=0
mkdir -p "$work"
# Seeds: small valid PGM/PPM files, with comments, and PNGs of them.
seeds=$work/seeds
mkdir -p "$seeds"
printf 'P5\n3 2\n255\nabcdef' > "$seeds/a.pgm"
printf 'P6\n# comment\n2 1\n255\nabcdef' > "$seeds/b.ppm"
printf 'P6 1 1 255 xyz' > "$seeds/c.ppm"
if [ -x "$dir/weft-imgproc" ]; then
  "$dir/weft-imgproc" "$seeds/a.pgm" "$seeds/a.png" >/dev/null 2>&1 || true
  "$dir/weft-imgproc" "$seeds/b.ppm" "$seeds/b.png" >/dev/null 2>&1 || true
fi
# More colour types, depths and interlacing where ImageMagick is installed.
if command -v convert >/dev/null && convert -version 2>/dev/null | grep -q ImageMagick; then
  convert -size 9x7 xc:none -fill red -draw 'circle 4,3 2,2' "PNG8:$seeds/pal.png" || true
  convert -size 9x7 xc:none -fill red -draw 'circle 4,3 2,2' "PNG32:$seeds/rgba.png" || true
  convert -size 9x7 gradient: -depth 16 "PNG48:$seeds/rgb16.png" || true
  convert -size 9x7 gradient: -monochrome "$seeds/mono.png" || true
  convert -size 9x7 gradient: -interlace PNG "$seeds/inter.png" || true
fi
for f in pnm png; do
  bin=$dir/fuzz_imgproc_$f
  [ -x "$bin" ] || continue
  found=1
  corpus=$work/corpus_$f
  mkdir -p "$corpus"
  if [ "$f" = png ]; then cp "$seeds"/*.png "$corpus"/ 2>/dev/null || true
  else cp "$seeds"/*.p?m "$corpus"/; fi
  echo "fuzz_imgproc_$f: ${secs}s"
  # from $work, where libFuzzer leaves crash-* files. Memory is not
  # judged here (-rss_limit_mb=0: no RSS or single-allocation limit):
  # crashes, sanitizer reports and aborts are. Under ASan the PNG target's
  # RSS passed libFuzzer's default 2 GB within a minute while the live
  # heap stayed near 24 MB (CI run at ce0d610), and libpng itself
  # allocates about 960 MB for some small inputs (a 512 MB limit caught it
  # at aed0d90): known, not fixed.
  bin=$(realpath "$bin")
  corpus=$(realpath "$corpus")
  (cd "$work" && "$bin" -max_total_time="$secs" -max_len=65536 \
      -rss_limit_mb=0 -print_final_stats=1 "$corpus")
done
if [ "$found" = 0 ]; then
  echo "no fuzzer in $dir (configure with clang and -DWEFT_FUZZ=ON)" >&2
  exit 77
fi
