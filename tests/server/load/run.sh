#!/usr/bin/env bash
# Load test of `bitflash serve` from a second process: starts the server binary on 127.0.0.1, waits for /health,
# runs the node scripts, stops the server. SUITE "load" (default): 64 openai-client streams, 1200 malformed
# requests, 5-turn conversations; "api": openai_api.mjs (tool calls, json_schema, metrics, slots, logprobs).
# Usage: tests/server/load/run.sh [path/to/bitflash] [model.gguf] [load|api]   Exit code 0 = pass.
# Needs node and `npm ci --prefix tests/server/load` (the official `openai` package and ajv, pinned by the lock).
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "$HERE/../../.." && pwd)"
BIN="${1:-$SRC/build/bitflash}"
MODEL="${2:-}"
SUITE="${3:-load}"
WORK="$(mktemp -d /tmp/bitflash_load.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v node >/dev/null || { echo "run.sh: node is not installed"; exit 1; }
[ -d "$HERE/node_modules/openai" ] && [ -d "$HERE/node_modules/ajv" ] || { echo "run.sh: run 'npm ci --prefix $HERE' first"; exit 1; }
[ -x "$BIN" ] || { echo "run.sh: no bitflash binary at $BIN"; exit 1; }

if [ -z "$MODEL" ]; then
  node "$HERE/make_model.mjs" "$WORK/tok" "$SRC" || exit 1
  MODEL="$WORK/tiny.gguf"
  "$BIN" convert --random "$WORK/tok/config.json" --tokenizer-dir "$WORK/tok" -o "$MODEL" -q || exit 1
fi

# --port 0: the kernel picks a free port; the server prints it.
"$BIN" serve -m "$MODEL" --host 127.0.0.1 --port 0 -np 4 -c 1024 -t 1 --slot-save-path "$WORK" ${BF_SERVE_ARGS:-} 2>"$WORK/server.log" &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 300); do
  PORT="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.log" | head -1)"
  if [ -n "$PORT" ] && node -e "fetch('http://127.0.0.1:$PORT/health').then(r=>process.exit(r.status===200?0:1)).catch(()=>process.exit(1))"; then
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "run.sh: the server exited:"; cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done
[ -n "$PORT" ] || { echo "run.sh: the server did not start"; cat "$WORK/server.log"; exit 1; }
echo "run.sh: server on port $PORT"

status=0
if [ "$SUITE" = api ]; then
  timeout 600 node "$HERE/openai_api.mjs" "http://127.0.0.1:$PORT/v1" || status=1
else
  timeout 900 node "$HERE/streams.mjs" "http://127.0.0.1:$PORT/v1" 64 || status=1
  timeout 300 node "$HERE/abuse.mjs" "$PORT" 1200 || status=1
  timeout 600 node "$HERE/conversation.mjs" "http://127.0.0.1:$PORT/v1" 2 || status=1
fi
kill -0 "$SERVER_PID" 2>/dev/null || { echo "run.sh: the server died"; status=1; }
[ $status -eq 0 ] && echo "run.sh: PASS" || { echo "run.sh: FAIL (server log: )"; tail -20 "$WORK/server.log"; }
exit $status
