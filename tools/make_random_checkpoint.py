#!/usr/bin/env python3
"""Writes a random Hugging Face checkpoint of any phi4flash config, in the real release's layout
(two BF16 safetensors shards + model.safetensors.index.json; A_log and lambda_* in F32), streaming
tensor by tensor. Used to measure `bitflash convert` on a full-size 7.7 GB checkpoint without the
download. Values are random (uniform, fan-in scaled): for speed and memory measurements only.

usage: /usr/bin/python3 tools/make_random_checkpoint.py CONFIG.json OUT_DIR [--shards 2]
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import st_io  # noqa: E402


def tensor_list(c):
    d, L, H = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    KV, V, I = c.get("num_key_value_heads", H), c["vocab_size"], c["intermediate_size"]
    hd = d // H
    di = c.get("mamba_expand", 2) * d
    N, K = c.get("mamba_d_state", 16), c.get("mamba_d_conv", 4)
    R = c.get("mamba_dt_rank", "auto")
    R = math.ceil(d / 16) if R == "auto" else R
    out = [("model.embed_tokens.weight", [V, d], "BF16")]
    for l in range(L):
        p = f"model.layers.{l}."
        out += [(p + "input_layernorm.weight", [d], "BF16"), (p + "input_layernorm.bias", [d], "BF16"),
                (p + "post_attention_layernorm.weight", [d], "BF16"), (p + "post_attention_layernorm.bias", [d], "BF16"),
                (p + "mlp.fc1.weight", [2 * I, d], "BF16"), (p + "mlp.fc2.weight", [d, I], "BF16")]
        h = L // 2
        if l % 2 == 0 and l < h + 2:
            out += [(p + "attn.in_proj.weight", [2 * di, d], "BF16"), (p + "attn.conv1d.weight", [di, 1, K], "BF16"),
                    (p + "attn.conv1d.bias", [di], "BF16"), (p + "attn.x_proj.weight", [R + 2 * N, di], "BF16"),
                    (p + "attn.dt_proj.weight", [di, R], "BF16"), (p + "attn.dt_proj.bias", [di], "BF16"),
                    (p + "attn.A_log", [di, N], "F32"), (p + "attn.D", [di], "BF16"),
                    (p + "attn.out_proj.weight", [d, di], "BF16")]
        elif l % 2 == 0:
            out += [(p + "attn.in_proj.weight", [di, d], "BF16"), (p + "attn.out_proj.weight", [d, di], "BF16")]
        else:
            rows = d if l >= h + 2 else d + 2 * KV * hd
            out += [(p + "attn.Wqkv.weight", [rows, d], "BF16"), (p + "attn.Wqkv.bias", [rows], "BF16"),
                    (p + "attn.out_proj.weight", [d, d], "BF16"), (p + "attn.out_proj.bias", [d], "BF16")]
            out += [(p + f"attn.inner_cross_attn.{n}", [hd], "F32") for n in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2")]
            out += [(p + "attn.inner_cross_attn.subln.weight", [2 * hd], "BF16")]
    out += [("model.final_layernorm.weight", [d], "BF16"), ("model.final_layernorm.bias", [d], "BF16")]
    return out


def values(name, shape, rng, n_layers):
    n = int(np.prod(shape))
    if name.endswith("A_log"):
        return np.log(rng.uniform(1, 16, n)).astype(np.float32)
    if "layernorm.weight" in name or name.endswith("subln.weight") or name.endswith(".D"):
        return rng.uniform(0.9, 1.1, n).astype(np.float32)
    if name.endswith("dt_proj.bias"):
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), n))
        return (dt + np.log(-np.expm1(-dt))).astype(np.float32)
    if name.endswith(".bias") or "lambda" in name:
        return rng.uniform(-0.02, 0.02, n).astype(np.float32)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else n
    a = math.sqrt(3.0 / fan_in)
    return rng.uniform(-a, a, n).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--shards", type=int, default=2)
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    shutil.copy(args.config, os.path.join(args.out, "config.json"))
    tensors = tensor_list(cfg)
    size = {"BF16": 2, "F32": 4}
    total = sum(int(np.prod(s)) * size[t] for _, s, t in tensors)
    per_shard = total / args.shards
    shards, cur, acc = [[]], 0, 0
    for t in tensors:
        b = int(np.prod(t[1])) * size[t[2]]
        if acc + b > per_shard * (len(shards)) and shards[-1] and len(shards) < args.shards:
            shards.append([])
        shards[-1].append(t)
        acc += b
    weight_map = {}
    rng = np.random.default_rng(1)
    for i, group in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        header, off = {}, 0
        for name, shape, dt in group:
            nb = int(np.prod(shape)) * size[dt]
            header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nb]}
            off += nb
            weight_map[name] = fname
        hjson = json.dumps(header).encode()
        hjson += b" " * ((8 - len(hjson) % 8) % 8)
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            for name, shape, dt in group:
                rows = shape[0]
                step = max(1, (1 << 24) // max(1, int(np.prod(shape[1:]))))
                for r0 in range(0, rows, step):
                    sub = [min(step, rows - r0)] + list(shape[1:])
                    v = values(name, sub if len(shape) > 1 else shape, rng, cfg["num_hidden_layers"])
                    f.write((st_io.f32_to_bf16_bits(v) if dt == "BF16" else v.astype("<f4")).tobytes())
                    if len(shape) == 1:
                        break
        print(f"wrote {fname}", flush=True)
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    print(f"total_size {total}")


if __name__ == "__main__":
    main()
