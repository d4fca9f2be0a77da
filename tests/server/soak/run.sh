#!/usr/bin/env bash
# Soak test of `bitflash serve` under faults (soak.mjs): makes the tiny random model of the load test, then
# runs the mix for SECONDS on 127.0.0.1 and SIGTERMs the server under load. Plain node, no npm packages.
# Usage: tests/server/soak/run.sh [path/to/bitflash] [SECONDS=120] [SEED]   Exit code 0 = every invariant held.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "$HERE/../../.." && pwd)"
BIN="${1:-$SRC/build/bitflash}"
SECONDS_RUN="${2:-120}"
WORK="$(mktemp -d /tmp/bitflash_soak.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

command -v node >/dev/null || { echo "soak: node is not installed"; exit 1; }
[ -x "$BIN" ] || { echo "soak: no bitflash binary at $BIN"; exit 1; }
node "$SRC/tests/server/load/make_model.mjs" "$WORK/tok" "$SRC" || exit 1
"$BIN" convert --random "$WORK/tok/config.json" --tokenizer-dir "$WORK/tok" -o "$WORK/tiny.gguf" -q || exit 1
# The soak ends itself after SECONDS plus the shutdown; the timeout only catches a hang.
timeout $((SECONDS_RUN + 600)) node "$HERE/soak.mjs" "$BIN" "$WORK/tiny.gguf" "$SECONDS_RUN" ${3:-}
