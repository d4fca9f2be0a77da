# Writes tests/data/gptq_case.txt: what tools/ptq/ternarize.py's gptq() gives a small 4 x 512 matrix under
# a correlated Hessian built from exactly representable inputs, as (row, f16 scale bits, codes '+0-');
# tests/convert/gptq_test.cpp builds the same W and X and checks the C++ GPTQ against it.
#   /usr/bin/python3 tools/ptq/make_gptq_case.py
import os

import torch

import ternarize as tz

ROWS, COLS, TOKENS = 4, 512, 600


def case_matrix():
    """Integers / 1024 (exact in f32); row 2 is 4x larger in its second half."""
    w = torch.zeros(ROWS, COLS)
    for r in range(ROWS):
        for i in range(COLS):
            v = float((i * 7919 + r * 104729) % 2001 - 1000) / 1024.0
            w[r, i] = v * 4.0 if (r == 2 and i >= 256) else v
    return w


def case_inputs():
    """Integers / 64; each column also carries its neighbour's pattern (correlated inputs), and column 5
    is never active (a dead input). Products and their sums are exact in double."""
    a = [[(t * 131 + i * 71 + (t * i) % 17) % 201 - 100 for i in range(COLS)] for t in range(TOKENS)]
    x = torch.zeros(TOKENS, COLS, dtype=torch.float64)
    for t in range(TOKENS):
        for i in range(COLS):
            x[t, i] = 0.0 if i == 5 else (a[t][i] + a[t][(i + 1) % COLS]) / 64.0
    return x


def main():
    w, x = case_matrix(), case_inputs()
    q = tz.gptq(w, x.T @ x)
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "gptq_case.txt")
    with open(path, "w") as f:
        f.write("# row f16_scale_bits codes (tools/ptq/make_gptq_case.py: tools/ptq/ternarize.py gptq())\n")
        for r in range(ROWS):
            d = float(q[r].abs().max())
            bits = int(torch.tensor([d]).half().view(torch.int16)[0]) & 0xFFFF
            codes = "".join("+" if v > 0 else "-" if v < 0 else "0" for v in q[r].tolist())
            f.write(f"{r} {bits:04x} {codes}\n")


if __name__ == "__main__":
    main()
