#!/usr/bin/env python3
# Writes the fixtures' goldens that make_fixtures.py does not: the greedy continuations of each fixture's
# greedy_prompt.txt (greedy32.txt; ternary256 also greedy32_ternary.txt) and ternary256's logits with gamma
# rounded to f16 as a TQ2_0 block scale (logits_ternary_gf16.f32), all from the float64 reference.
# --check regenerates every fixture file (make_fixtures.py, then this) into a temporary folder and fails
# when a committed file differs. The prompts are inputs, chosen by hand for a large smallest top-1/top-2
# gap (printed here): a prompt whose greedy path meets a near-tie would let an exact engine fail.
#
# usage: /usr/bin/python3 tools/reference/make_goldens.py [FIXTURES_DIR]   (default tests/fixtures)
#        /usr/bin/python3 tools/reference/make_goldens.py --check
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402
import sambay_ref as ref  # noqa: E402

FIXTURES = os.path.join(make_fixtures.REPO, "tests", "fixtures")
N_GREEDY = 32
INPUTS = {"greedy_prompt.txt", "README.md"}  # committed by hand, not generated


def read_ids(path):
    with open(path, encoding="utf-8") as f:
        return ref.parse_tokens(f.read())


def write_ids(path, ids):
    with open(path, "w", encoding="utf-8") as f:
        f.write(" ".join(str(t) for t in ids) + "\n")


def write_greedy(d, model, name, label):
    prompt = read_ids(os.path.join(d, "greedy_prompt.txt"))
    tokens, gap = make_fixtures.greedy_continue(model, prompt, N_GREEDY)
    write_ids(os.path.join(d, name), tokens[len(prompt):])
    print(f"  {label}: {N_GREEDY} greedy tokens, smallest top-1/top-2 gap {gap:.4f}")


def make_goldens(root):
    for name in ("tiny8", "bf16_untied", "ternary256"):
        d = os.path.join(root, name)
        cfg, tensors = ref.load_checkpoint(d)
        write_greedy(d, ref.Model(cfg, tensors), "greedy32.txt", name)
        if name == "ternary256":
            write_greedy(d, ref.Model(cfg, tensors, ternary=True), "greedy32_ternary.txt", name + " ternary")
            gf16 = ref.Model(cfg, tensors, ternary=True, gamma_f16=True)
            ref.write_logits(os.path.join(d, "logits_ternary_gf16.f32"),
                             ref.forward(gf16, read_ids(os.path.join(d, "tokens.txt"))))


def same(committed, fresh):
    """Text and weights byte for byte; logits to 1e-6 of their largest value (float64 sums may end in
    another last bit on another CPU or NumPy build before the rounding to f32)."""
    if not committed.endswith(".f32"):
        with open(committed, "rb") as a, open(fresh, "rb") as b:
            return a.read() == b.read()
    a = np.fromfile(committed, dtype="<f4").astype(np.float64)
    b = np.fromfile(fresh, dtype="<f4").astype(np.float64)
    return a.shape == b.shape and float(np.abs(a - b).max()) <= 1e-6 * float(np.abs(b).max())


def check():
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in os.listdir(FIXTURES):
            src = os.path.join(FIXTURES, name)
            if os.path.isdir(src):
                os.makedirs(os.path.join(tmp, name))
                shutil.copy(os.path.join(src, "greedy_prompt.txt"), os.path.join(tmp, name))
        make_fixtures.main([tmp])
        make_goldens(tmp)
        for dirpath, _, files in os.walk(FIXTURES):
            for f in sorted(files):
                if f in INPUTS:
                    continue
                committed = os.path.join(dirpath, f)
                fresh = os.path.join(tmp, os.path.relpath(committed, FIXTURES))
                if not os.path.exists(fresh):
                    bad.append(f"{committed}: no command writes it")
                elif not same(committed, fresh):
                    bad.append(f"{committed}: differs from what the commands write")
    for line in bad:
        print("golden check:", line)
    print("golden check:", "FAILED" if bad else "every fixture file equals what its command writes")
    return 1 if bad else 0


def main(argv):
    if argv[:1] == ["--check"]:
        return check()
    root = argv[0] if argv else FIXTURES
    print(f"writing greedy continuations and gamma-f16 logits under {root}")
    make_goldens(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
