#!/usr/bin/env bash
# Builds the libFuzzer entries straight from the sources with clang (ASan + UBSan) and runs each one.
# Usage: tools/fuzz/run.sh [seconds per target, default 60] [target ...]   (targets: gguf safetensors)
# Needs clang++ and Debian's libclang-rt-14-dev (libFuzzer runtime). Corpora and crashes go to
# $BF_FUZZ_DIR (default /tmp/bf_fuzz); seeds are written there on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(gguf safetensors)
out="${BF_FUZZ_DIR:-/tmp/bf_fuzz}"
mkdir -p "$out"
cxx="${CXX_FUZZ:-clang++}"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root/src")
core=("$root/src/core/error.cpp" "$root/src/core/dtype.cpp")

seed_gguf() {  # a small valid GGUF: two kvs, one f32 tensor [2] at offset 0
    python3 - "$1" <<'PY'
import struct, sys
b = b"GGUF" + struct.pack("<IQQ", 3, 1, 2)
def s(x): return struct.pack("<Q", len(x)) + x
b += s(b"general.architecture") + struct.pack("<I", 8) + s(b"test")
b += s(b"tok") + struct.pack("<IIQ", 9, 8, 2) + s(b"a") + s(b"bc")
b += s(b"w") + struct.pack("<IQIQ", 1, 2, 0, 0)
b += b"\0" * ((32 - len(b) % 32) % 32) + struct.pack("<ff", 1.0, 2.0)
open(sys.argv[1], "wb").write(b)
PY
}
seed_st() {
    python3 - "$1" <<'PY'
import struct, sys
h = b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}'
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + struct.pack("<ffHH", 1.0, 2.0, 0x3f80, 0xc000))
PY
}

for t in "${targets[@]}"; do
    case "$t" in
        gguf) srcs=("$root/src/formats/gguf_value.cpp" "$root/src/formats/gguf_reader.cpp") ;;
        safetensors) srcs=("$root/src/formats/safetensors.cpp") ;;
        *) echo "unknown target $t (gguf, safetensors)" >&2; exit 2 ;;
    esac
    bin="$out/fuzz_$t"
    echo "== building $bin"
    "$cxx" "${flags[@]}" "$here/fuzz_$t.cpp" "${srcs[@]}" "${core[@]}" -o "$bin"
    corpus="$out/corpus_$t"
    mkdir -p "$corpus" "$out/crashes_$t"
    if [ -z "$(ls -A "$corpus")" ]; then
        if [ "$t" = gguf ]; then seed_gguf "$corpus/seed"; else seed_st "$corpus/seed"; fi
    fi
    echo "== running $t for ${secs}s"
    "$bin" "$corpus" -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 \
        -artifact_prefix="$out/crashes_$t/" -print_final_stats=1 2>&1 | tail -n 25
done
