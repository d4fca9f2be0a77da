#!/usr/bin/env bash
# The test command (README, .ci/run): installs dependencies, builds, runs every test in a release
# build and again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

jobs=${BF_JOBS:-$(nproc)}
# ctest runs test processes side by side: idle OpenMP threads should sleep, not spin.
export OMP_WAIT_POLICY=PASSIVE
# Test oracles from the npm registry (node_modules are not committed).
oracle=build/oracle
mkdir -p "$oracle"
bash tests/tokenizer/oracle/run.sh "$oracle/tokenizer"
export BF_TOKENIZER_ORACLE_DIR="$PWD/$oracle/tokenizer"
# Every npm oracle is pinned by its committed package-lock.json (npm ci installs exactly that).
[ -d tests/formats/oracle/node_modules ] || npm ci --prefix tests/formats/oracle --no-audit --no-fund --loglevel=error
# The server load test (64 streaming `openai` clients, 1,000+ malformed requests) and the openai-client API
# test (tool calls, json_schema, metrics, slots, logprobs) run in the release build.
[ -d tests/server/load/node_modules/ajv ] || npm ci --prefix tests/server/load --no-audit --no-fund --loglevel=error
export BF_SERVER_LOAD_TEST=1
# The chat page test (Debian's chromium driven by puppeteer-core, pinned by the lock file) runs with it.
[ -d tests/server/web/node_modules/puppeteer-core ] || npm ci --prefix tests/server/web --no-audit --no-fund --loglevel=error
export BF_SERVER_WEB_TEST=1
# nginx in front of 2 replicas, 32 conversations x 3 turns hashed to the replica that holds their state.
export BF_SERVER_NGINX_TEST=1

echo "== layers (README's drawing, CMake dependencies, docs/ARCHITECTURE.md and every #include agree)"
/usr/bin/python3 scripts/check_layers.py

echo "== layout (.clang-format: every C++ file in src/, tests/ and tools/ as clang-format leaves it)"
git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'tools/*.cpp' 'tools/*.h' |
    xargs clang-format-14 --dry-run --Werror

echo "== reference (float64 NumPy SambaY) self-tests"
/usr/bin/python3 -m unittest discover -s tools/reference -p 'test_*.py'
echo "== goldens (every file of tests/fixtures/ equals what make_fixtures.py and make_goldens.py write; ~3 CPU s)"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/reference/make_goldens.py --check
# tools/train: the distillation test (~20 s, 15 CPU s: a tiny model, 3 steps, 1 vs 2 gloo processes) and
# test_train.py (~7 CPU s: quantizers, scan backward, step vs forward, export vs the reference, data
# split, and the token ids against Hugging Face tokenizers.js, pinned by tools/train/oracle's lock file).
echo "== training code (tools/train/test_distill.py, test_train.py)"
[ -d tools/train/oracle/node_modules/@huggingface ] || npm ci --prefix tools/train/oracle --no-audit --no-fund --loglevel=error
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -m unittest tools/train/test_distill.py
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 BF_TOKJS_REQUIRED=1 /usr/bin/python3 -m unittest tools/train/test_train.py

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

# The server under faults (tests/server/soak): disconnects, slow readers, trickled headers, 413, 401, bursts
# past the queue, then SIGTERM under load. BF_SERVER_SOAK_SECONDS=0 skips it.
echo "== server soak (${BF_SERVER_SOAK_SECONDS:-120} s)"
[ "${BF_SERVER_SOAK_SECONDS:-120}" = 0 ] || bash tests/server/soak/run.sh build/bitflash "${BF_SERVER_SOAK_SECONDS:-120}"

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBF_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== aarch64 kernels (cross-built, run under qemu: a CPU with the dot product, then one without)"
bash scripts/cross_aarch64.sh build-aarch64 --gtest_brief=1
QEMU_CPU=cortex-a53 qemu-aarch64 -L /usr/aarch64-linux-gnu build-aarch64/bitflash_kernels_tests --gtest_brief=1 \
    --gtest_filter='Matmul.KernelSelection:ActQuant.*:KvAttn*'

# Short libFuzzer runs of every target (ASan + UBSan) from the committed seeds; the long campaign's
# figures are in docs/RELIABILITY.md. Fails on any crash, leak, timeout or sanitizer report.
echo "== fuzz targets (${BF_FUZZ_SECONDS:-20} s each)"
BF_FUZZ_DIR="$PWD/build/fuzz" bash tools/fuzz/run.sh all "${BF_FUZZ_SECONDS:-20}"
