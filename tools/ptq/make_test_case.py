# Writes tests/data/ternarize_case.txt: the TQ2_0 blocks (f16 d bits and codes) that tools/ptq/ternarize.py
# gives a small 3 x 512 matrix under each --ternary-scales rule; tests/convert checks the C++ rules
# reproduce them exactly.  /usr/bin/python3 tools/ptq/make_test_case.py
import os

import torch

import ternarize as tz

ROWS, COLS = 3, 512


def case_matrix():
    """Exactly representable values (integers / 1024), one 8x outlier block, one all-zero block;
    tests/convert/ternarize_test.cpp builds the same matrix."""
    w = torch.zeros(ROWS, COLS)
    for r in range(ROWS):
        for i in range(COLS):
            v = float((i * 7919 + r * 104729) % 2001 - 1000) / 1024.0
            if r == 1 and i >= 256:
                v *= 8.0
            if r == 2 and i < 256:
                v = 0.0
            w[r, i] = v
    return w


def blocks(q):
    """(f16 d bits, code string '+0-') per 256-block of a dequantized matrix d * t."""
    out = []
    for r in range(q.shape[0]):
        for b in range(q.shape[1] // tz.BLOCK):
            v = q[r, b * tz.BLOCK:(b + 1) * tz.BLOCK]
            d = float(v.abs().max())
            bits = int(torch.tensor([d]).half().view(torch.int16)[0]) & 0xFFFF
            out.append((bits, "".join("+" if x > 0 else "-" if x < 0 else "0" for x in v.tolist())))
    return out


def main():
    w = case_matrix()
    rules = {"tensor": tz.absmean_tensor, "row": tz.absmean_rows, "block": tz.absmean_blocks,
             "row-mse": tz.mse_rows, "block-mse": tz.mse_blocks}
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "ternarize_case.txt")
    with open(path, "w") as f:
        f.write("# rule row block f16_d_bits codes (written by tools/ptq/make_test_case.py)\n")
        for name, rule in rules.items():
            for k, (bits, codes) in enumerate(blocks(rule(w))):
                f.write(f"{name} {k // (COLS // tz.BLOCK)} {k % (COLS // tz.BLOCK)} {bits:04x} {codes}\n")


if __name__ == "__main__":
    main()
