# Checks that a bitflash TQ2_0 GGUF holds exactly the ternary weights a tools/ptq rule computes for the same
# model (every ternarizable projection, element by element).
#   /usr/bin/python3 tools/ptq/check_gguf.py FILE.gguf --rule mse-block [--model DIR]
import argparse
import struct

import numpy as np
import torch

import run_ptq as rp

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
TQ2_0 = 35  # ggml type id


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.d[self.p:self.p + n].decode()
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(_SCALARS[t])


def tq2_0_tensors(path):
    """name -> dequantized float32 [rows, cols] for every TQ2_0 tensor of a GGUF (v3)."""
    with open(path, "rb") as f:
        r = Reader(f.read())
    assert r.take("<I") == 0x46554747, "not a GGUF"
    r.take("<I")
    n_t, n_kv = r.take("<Q"), r.take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_t):
        name = r.string()
        ne = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    align = kv.get("general.alignment", 32)
    base = (r.p + align - 1) // align * align
    out = {}
    for name, ne, t, off in infos:
        if t != TQ2_0:
            continue
        cols, rows = ne[0], int(np.prod(ne[1:]))
        nb = rows * cols // 256
        blk = np.frombuffer(r.d, dtype=np.uint8, count=nb * 66, offset=base + off).reshape(nb, 66)
        d = blk[:, 64:66].copy().view(np.float16).astype(np.float32)  # [nb, 1]
        qs = blk[:, :64]
        codes = np.empty((nb, 256), dtype=np.int8)
        for j in (0, 32):  # element 128*(j/32) + 32*l + m is in qs[j+m] at bits 2l
            for l in range(4):
                e = 4 * j + 32 * l
                codes[:, e:e + 32] = (qs[:, j:j + 32] >> (2 * l)) & 3
        out[name] = torch.from_numpy(((codes.astype(np.float32) - 1) * d).reshape(rows, cols))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("--rule", required=True)
    ap.add_argument("--model", default=rp.TWIN)
    ap.add_argument("--calib-n", type=int, default=256)
    args = ap.parse_args()
    tok, cfg_dict, ref = rp.load(args.model)
    H, table = rp.calibration(ref, tok, args.calib_n)
    model, _, _ = rp.build(args.rule, cfg_dict, ref, tok, H, table, args.calib_n)
    want = {n: m.weight.detach() for n, m in rp.bitlinears(model)}
    got = list(tq2_0_tensors(args.gguf).values())
    # match by content shape and order-independent: each Python tensor must equal exactly one GGUF tensor
    bad, matched = [], 0
    for n, w in want.items():
        if any(g.shape == w.shape and torch.equal(g, w) for g in got):
            matched += 1
        else:
            bad.append(n)
    print(f"{matched}/{len(want)} projections identical; TQ2_0 tensors in file: {len(got)}")
    for n in bad:
        print("differs:", n)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
