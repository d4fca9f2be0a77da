#!/usr/bin/env bash
# Cross-builds bitflash_kernels_tests for aarch64 (cmake/aarch64.cmake) and runs it under qemu-aarch64.
# Needs Debian's g++-aarch64-linux-gnu and qemu-user. Usage: scripts/cross_aarch64.sh [build-dir] [gtest args]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-/tmp/bitflash-build-aarch64}"
shift || true
cmake -B "$build" -S "$src" -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64.cmake"
cmake --build "$build" --target bitflash_kernels_tests -j2
file "$build/bitflash_kernels_tests"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/bitflash_kernels_tests" "$@"
