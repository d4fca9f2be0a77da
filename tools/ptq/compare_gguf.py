# How close two TQ2_0 files are, tensor by tensor (e.g. bitflash's --ternary-scales gptq against the
# Python tool's export): share of equal codes, row scales' relative difference, ||A - B|| / ||A||.
#   /usr/bin/python3 tools/ptq/compare_gguf.py A.gguf B.gguf
import argparse

import torch

from check_gguf import tq2_0_tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    a, b = tq2_0_tensors(args.a), tq2_0_tensors(args.b)
    same = total = 0
    worst_scale, rel = 0.0, []
    for name in sorted(set(a) & set(b)):
        x, y = a[name], b[name]
        same += int((torch.sign(x) == torch.sign(y)).sum())
        total += x.numel()
        sx, sy = x.abs().amax(1), y.abs().amax(1)
        ok = (sx > 0) & (sy > 0)
        worst_scale = max(worst_scale, float(((sx - sy).abs() / sx)[ok].max()) if ok.any() else 0.0)
        rel.append(float((x - y).norm() / x.norm()))
        print(f"{name:28s} codes equal {float((torch.sign(x) == torch.sign(y)).float().mean()):.4f}  "
              f"||A-B||/||A|| {rel[-1]:.4f}")
    print(f"{len(rel)} tensors: codes equal {same / total:.4f}, mean ||A-B||/||A|| {sum(rel) / len(rel):.4f}, "
          f"largest row-scale difference {worst_scale:.4f}")


if __name__ == "__main__":
    main()
