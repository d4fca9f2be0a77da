#!/usr/bin/env bash
# Builds the tokenizer oracle data into OUTDIR (tokenizer.json, corpus.bin, ids.bin) with the npm
# package `tiktoken`; then run: BF_TOKENIZER_ORACLE_DIR=OUTDIR bitflash_tokenizer_tests
set -euo pipefail
out=${1:?usage: run.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
if [ ! -d "$here/node_modules/tiktoken" ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >&2
fi
mkdir -p "$out"
node "$here/gen.js" "$out" "$repo"
