#!/usr/bin/env bash
# Saved conversations: the time and file size of `POST /slots/0?action=save|restore` after a prompt of N
# tokens, next to the time the prefill of those N tokens took (what a restore saves). One server, one slot.
# Usage: scripts/bench_slots.sh MODEL.gguf [N_TOKENS... (default 1024 32768)] ; Env: BF_BIN, BF_THREADS,
# BF_REPS (default 3), BF_PORT (default 18093), BF_CACHE_TYPE (-ctk/-ctv; default: the server's).
# Prints one markdown row per N. Timing is only meaningful on an otherwise quiet machine.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 MODEL.gguf [N_TOKENS...]" >&2
  exit 2
fi
model=$1
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1024 32768)
bf=${BF_BIN:-./build/bitflash}
reps=${BF_REPS:-3}
port=${BF_PORT:-18093}
[ -x "$bf" ] || { echo "$0: $bf not found (build it, or set BF_BIN)" >&2; exit 2; }
command -v curl >/dev/null || { echo "$0: curl is needed" >&2; exit 2; }
max=0
for n in "${sizes[@]}"; do [ "$n" -gt "$max" ] && max=$n; done

dir=$(mktemp -d)
pid=
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$dir"
}
trap cleanup EXIT
args=(serve -m "$model" --port "$port" -np 1 -c $((max + 64)) --slot-save-path "$dir" --ctx-checkpoints 0)
[ -z "${BF_THREADS:-}" ] || args+=(-t "$BF_THREADS")
[ -z "${BF_CACHE_TYPE:-}" ] || args+=(-ctk "$BF_CACHE_TYPE" -ctv "$BF_CACHE_TYPE")
"$bf" "${args[@]}" >"$dir/server.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 600); do
  curl -sf "$url/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$url/health" >/dev/null || { echo "$0: server did not come up" >&2; exit 1; }

post() { curl -s --fail-with-body -X POST -H 'Content-Type: application/json' "$url$1" -d "$2" ||
         { echo "$0: POST $1 failed" >&2; exit 1; }; }
field() { grep -o "\"$1\":[0-9.eE+-]*" | head -1 | cut -d: -f2; }
mean() { awk '{s+=$1; n++} END {printf "%.1f", s/n}'; }

n_vocab=$(curl -sf "$url/v1/models" | field n_vocab)
echo "| prompt tokens | prefill ms | save ms | restore ms | file bytes | file MiB |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  post /slots/0?action=erase '' >/dev/null
  # Token ids spread over the vocabulary: a prompt of exactly n tokens, whatever the tokenizer does.
  ids=$(seq 0 $((n - 1)) | awk -v v="$n_vocab" '{printf "%s%d", (NR > 1 ? "," : ""), ($1 * 7919 + 1000) % v}')
  printf '{"prompt":[%s],"max_tokens":1,"temperature":0}' "$ids" >"$dir/prompt.json"
  reply=$(post /v1/completions @"$dir/prompt.json")
  prefill_ms=$(echo "$reply" | field prompt_ms)
  saves=() restores=() bytes=
  for r in $(seq "$reps"); do
    out=$(post /slots/0?action=save "{\"filename\":\"s$n-$r.bin\"}")
    saves+=("$(echo "$out" | field save_ms)")
    bytes=$(echo "$out" | field n_written)
  done
  for r in $(seq "$reps"); do
    post /slots/0?action=erase '' >/dev/null
    out=$(post /slots/0?action=restore "{\"filename\":\"s$n-$r.bin\"}")
    [ "$(echo "$out" | field n_restored)" = "$n" ] || { echo "$0: restore of $n tokens: $out" >&2; exit 1; }
    restores+=("$(echo "$out" | field restore_ms)")
  done
  rm -f "$dir"/s"$n"-*.bin
  printf '| %d | %s | %s | %s | %s | %.2f |\n' "$n" "$prefill_ms" \
    "$(printf '%s\n' "${saves[@]}" | mean)" "$(printf '%s\n' "${restores[@]}" | mean)" "$bytes" \
    "$(awk -v b="$bytes" 'BEGIN {print b / 1048576}')"
done
