#!/usr/bin/env bash
# Decode speed on a busy machine: `bitflash bench` decode at -t 1 and -t 2, first unloaded, then with one
# busy process pinned to a core (what a desktop usually runs next to us), printing the four rows.
# Usage: scripts/bench_contention.sh MODEL.gguf [N_GEN (default 64)] [REPS (default 3)]
# Env: BF_BIN (default ./build/bitflash), BF_BUSY_CPU (the core the busy process sits on; default: the
# last core this process may use). Timing is only meaningful on an otherwise quiet machine.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 MODEL.gguf [N_GEN] [REPS]" >&2
  exit 2
fi
model=$1
n_gen=${2:-64}
reps=${3:-3}
bf=${BF_BIN:-./build/bitflash}
[ -x "$bf" ] || { echo "$0: $bf not found (build it, or set BF_BIN)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "$0: taskset (util-linux) is needed" >&2; exit 2; }
busy_cpu=${BF_BUSY_CPU:-$(taskset -cp $$ | sed 's/.*: //' | tr ',' '\n' | tail -1 | sed 's/.*-//')}

busy_pid=
stop_busy() {
  if [ -n "$busy_pid" ]; then
    kill "$busy_pid" 2>/dev/null || true
    wait "$busy_pid" 2>/dev/null || true
    busy_pid=
  fi
}
trap stop_busy EXIT
trap 'stop_busy; exit 130' INT TERM

# Prints "load threads t/s": avg_ts of the decode test (n_gen N) from the bench's jsonl output.
row() {
  local load=$1 t=$2 ts
  ts=$("$bf" bench -m "$model" -p 0 -n "$n_gen" -t "$t" -r "$reps" --no-bandwidth -o jsonl |
       grep "\"n_gen\":$n_gen," | head -1 | grep -o '"avg_ts":[0-9.eE+-]*' | cut -d: -f2)
  [ -n "$ts" ] || { echo "$0: no tg$n_gen result from bitflash bench" >&2; exit 1; }
  printf '%-10s %-8s %.2f\n' "$load" "$t" "$ts"
}

printf '%-10s %-8s %s\n' load threads "decode t/s"
row unloaded 1
row unloaded 2
taskset -c "$busy_cpu" sh -c 'while :; do :; done' &
busy_pid=$!
row "busy@cpu$busy_cpu" 1
row "busy@cpu$busy_cpu" 2
stop_busy
