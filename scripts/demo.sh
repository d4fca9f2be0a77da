#!/usr/bin/env bash
# The main job: install, build, convert the shipped ternary SambaY (models/sambay-math-ternary-distilled: a
# full-precision twin distilled into BitNet b1.58 here) to a 1.58-bit GGUF, and ask it a math question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target bitflash
model=models/sambay-math-ternary-distilled
gguf=models/sambay-math-ternary-distilled.gguf
if [ ! -f "$gguf" ] || [ "$model/model.safetensors" -nt "$gguf" ]; then
  ./build/bitflash convert "$model" -o "$gguf" --outtype tq2_0 -q
fi
prompt=${1:-"Solve the equation x^2 + 2x + 1 = 0"}
echo "bitflash run -m $gguf -p \"$prompt\" --temp 0 --reasoning show"
./build/bitflash run -m "$gguf" -p "$prompt" -n 256 --temp 0 --reasoning show
