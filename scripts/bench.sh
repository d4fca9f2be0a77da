#!/usr/bin/env bash
# Reproduces the figures in docs/BENCHMARKS.md on this machine. Run on an otherwise idle machine:
# every number is a measurement, and anything else running changes it. Needs ~25 GB of disk for the
# full-size random models (in $BF_BENCH_DIR, default /tmp/bitflash-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BF_BENCH_DIR:-/tmp/bitflash-bench}
mkdir -p "$dir"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target bitflash membw kernel_bench
bf=./build/bitflash
echo "== machine"; lscpu | grep -E "Model name|^CPU\(s\)|Thread|Flags" | cut -c1-120; date -u
echo "== memory read bandwidth"; ./build/membw
for t in ${BF_BENCH_TYPES:-q8_0 tq2_0 i2_s f32}; do
  m="$dir/full-$t.gguf"
  [ -f "$m" ] || $bf convert --random configs/phi-4-mini-flash-reasoning.json -o "$m" --outtype "$t" -q
  echo "== $t"
  $bf bench -m "$m" -p 512 -n 128 -t 1,2 -r ${BF_BENCH_REPS:-3}
done
# the real use (prompt then generation) and decode against depth to 32K with its byte bound
for t in ${BF_BENCH_DEPTH_TYPES:-tq2_0 q8_0}; do
  m="$dir/full-$t.gguf"
  [ -f "$m" ] || continue
  echo "== $t: -pg and depth"
  $bf bench -m "$m" -p 0 -n 0 -pg 2048,512 -t 2 -r 2
  $bf bench -m "$m" -p 0 -n 32 -d 0,2048,4096,8192,16384,32768 -t 2 -r 2 --plot "$dir/depth-$t.png"
done
