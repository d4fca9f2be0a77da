#!/usr/bin/env bash
# Builds one libFuzzer entry straight from the sources with clang (ASan + UBSan) and runs it.
# Usage: tools/fuzz/run.sh TARGET|all [SECONDS, default 60]
#   targets: gguf safetensors config tokenizer_json bpe template http grammar
# Needs clang++ and Debian's libclang-rt-14-dev (libFuzzer runtime). Seeds and dictionaries come from
# tools/fuzz/{corpus,dict}; the growing corpus, binaries and crashes go to $BF_FUZZ_DIR (default
# /tmp/bf_fuzz). Extra libFuzzer flags can be passed in BF_FUZZ_FLAGS. Exit status: non-zero on a crash.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
all=(gguf safetensors config tokenizer_json bpe template http grammar)
target="${1:?usage: tools/fuzz/run.sh TARGET|all [SECONDS] (targets: ${all[*]})}"
secs="${2:-60}"
if [ "$target" = all ]; then
    for t in "${all[@]}"; do "$0" "$t" "$secs"; done
    exit 0
fi
out="${BF_FUZZ_DIR:-/tmp/bf_fuzz}"
mkdir -p "$out"
cxx="${CXX_FUZZ:-clang++}"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root/src")
s="$root/src"
core=("$s/core/error.cpp" "$s/core/dtype.cpp")
gguf=("$s/formats/gguf_value.cpp" "$s/formats/gguf_reader.cpp")
tok=("$s/tokenizer/bpe.cpp" "$s/tokenizer/hf_json.cpp" "$s/tokenizer/tokenizer.cpp" "$s/tokenizer/unicode.cpp")
libs=()
maxlen=8192
case "$target" in
    gguf) srcs=("${gguf[@]}") ;;
    safetensors) srcs=("$s/formats/safetensors.cpp") ;;
    config) srcs=("$s/model/config.cpp" "${gguf[@]}" "$s/formats/gguf_writer.cpp") ;;
    tokenizer_json | bpe) srcs=("${tok[@]}"); libs=($(pkg-config --libs libpcre2-8)) ;;
    template) srcs=("$s"/jinja/*.cpp) ;;
    http) srcs=("$s/server/protocol.cpp" "$s/server/structured_output.cpp" "$s/server/tool_calls.cpp" "$s"/grammar/*.cpp "$s/engine/reasoning.cpp" "$s/sample/sampler.cpp") ;;
    grammar) srcs=("$s"/grammar/*.cpp) ;;
    *) echo "unknown target '$target' (${all[*]})" >&2; exit 2 ;;
esac
[ "$target" = tokenizer_json ] && maxlen=16384  # the twin's tokenizer.json seed is 8 KB
bin="$out/fuzz_$target"
# Rebuilt only when a source or any header is newer than the binary (BF_FUZZ_REBUILD=0: never, if it exists).
if [ ! -x "$bin" ] || { [ "${BF_FUZZ_REBUILD:-1}" != 0 ] && [ -n "$(find "$here/fuzz_$target.cpp" "${srcs[@]}" "${core[@]}" "$s" -name '*.[ch]*' -newer "$bin" | head -n 1)" ]; }; then
    echo "== building $bin"
    "$cxx" "${flags[@]}" "$here/fuzz_$target.cpp" "${srcs[@]}" "${core[@]}" "${libs[@]}" -o "$bin"
fi
corpus="$out/corpus_$target"
crashes="$out/crashes_$target"
mkdir -p "$corpus" "$crashes"
cp -n "$here/corpus/$target"/* "$corpus/" 2>/dev/null || true
dict=()
[ -f "$here/dict/$target.dict" ] && dict=(-dict="$here/dict/$target.dict")
export BF_FUZZ_TOKENIZER="$root/models/sambay-math-f32twin/tokenizer.json"
echo "== running $target for ${secs}s"
log="$out/log_$target.txt"
set +e
# shellcheck disable=SC2086
"$bin" "$corpus" "${dict[@]}" -max_total_time="$secs" -max_len="$maxlen" -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$crashes/" -print_final_stats=1 ${BF_FUZZ_FLAGS:-} >"$log" 2>&1
rc=$?
set -e
{ grep -E "^#[0-9]+.*(DONE|cov:)" "$log" || true; } | tail -n 1
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
if [ $rc -ne 0 ]; then
    tail -n 40 "$log"
    echo "== $target: FAILED (exit $rc), see $log and $crashes" >&2
    exit $rc
fi
echo "== $target: ok"
