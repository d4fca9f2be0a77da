#!/usr/bin/env python3
"""Greedy continuation with the float64 reference (incremental decoder), for the engine's generation
tests: prompt = tokens.txt of a fixture; writes N greedy tokens and reports the smallest top-1/top-2
logit gap met on the way (a small gap means a quantized engine may legitimately pick the other token).

usage: /usr/bin/python3 tools/reference/greedy.py FIXTURE_DIR -n 32 -o OUT.txt [--ternary]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sambay_ref as R  # noqa: E402
from make_fixtures import greedy_continue  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--ternary", action="store_true")
    ap.add_argument("--prompt-file", help="prompt ids (default: FIXTURE/tokens.txt)")
    args = ap.parse_args()
    cfg_json, tensors = R.load_checkpoint(args.fixture)
    model = R.Model(cfg_json, tensors, ternary=args.ternary)
    with open(args.prompt_file or os.path.join(args.fixture, "tokens.txt")) as f:
        prompt = R.parse_tokens(f.read())
    print("prompt:", " ".join(map(str, prompt)))
    tokens, gap = greedy_continue(model, prompt, args.n)
    out = tokens[len(prompt):]
    with open(args.output, "w") as f:
        f.write(" ".join(map(str, out)) + "\n")
    print(f"{args.output}: {len(out)} tokens, smallest top-1/top-2 gap {gap:.4f}")


if __name__ == "__main__":
    main()
