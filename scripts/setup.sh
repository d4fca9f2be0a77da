#!/usr/bin/env bash
# Installs what bitflash needs to build and test on Debian 12 (run as root, or with sudo available).
set -euo pipefail
pkgs=(cmake g++ make pkg-config git
      libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libpcre2-dev
      libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev   # Debian's httplib .pc enables TLS/zlib/brotli
      clang libclang-rt-14-dev             # libFuzzer for tools/fuzz
      clang-format-14                      # the layout check (.clang-format)
      python3-numpy python3-torch          # tools/reference (float64 reference) and tools/train
      libopenblas0-pthread                 # torch on Debian is ~30x slower with the reference BLAS
      nodejs npm                           # test oracles from the npm registry (tiktoken, openai, @huggingface/gguf)
      g++-aarch64-linux-gnu qemu-user      # ARM kernels: cross-built and tested under qemu
      gnuplot-nox                          # bitflash bench --plot
      chromium                             # the chat page of `bitflash serve`, tested headless (tests/server/web)
      nginx-light)                         # 2 `serve` replicas behind nginx's consistent hashing (docs/SERVER.md)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine may ship node/npm outside apt; do not fight it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
filtered=()
for p in "${missing[@]}"; do [ -n "$p" ] && filtered+=("$p"); done
if [ ${#filtered[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${filtered[@]}"
fi
