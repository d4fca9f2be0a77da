#!/usr/bin/env python3
# Tests of the NumPy reference against independent oracles: PyTorch primitives (bf16 rounding,
# conv1d, layer_norm, softplus) in a second, differently structured float64 forward pass written
# here, the λ_init table of architecture.md §4.5, and safetensors/CLI round trips.
# Run: /usr/bin/python3 -m unittest discover -s tools/reference -p 'test_*.py'

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures  # noqa: E402
import sambay_ref as ref  # noqa: E402
import st_io  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures")


def torch_forward(cfg_json, tensors, tokens, ternary=False):
    """Second implementation, float64 torch, vectorised differently from sambay_ref: F.conv1d with
    padding d_conv-1 truncated (the §4.3 step 2 PyTorch formulation), F.layer_norm, F.softplus
    (threshold 20), '(H two) D' head split as HUB's split_heads, GQA by repeat_interleave."""
    c = ref.Config(cfg_json)
    W = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in tensors.items()}
    T = len(tokens)
    H, KV, hd, di, N, R, K = c.n_head, c.n_kv_head, c.head_dim, c.d_inner, c.d_state, c.dt_rank, c.d_conv

    def lin(name, x, bias=False):
        w = W[name + ".weight"]
        b = W[name + ".bias"] if bias else None
        if ternary and w.shape[1] % 256 == 0:
            a = w.abs()
            nz = a[a > 0]
            g = nz.mean() if (nz.max() - nz.min()) <= nz.max() / 128 else a.mean()
            wq = torch.clamp(torch.round(w / g), -1, 1)
            amax = x.abs().amax(dim=-1, keepdim=True)
            s = 127.0 / amax
            xq = torch.clamp(torch.round(x * s), -127, 127)
            y = (xq @ wq.T) * g / s
            return y if b is None else y + b
        return F.linear(x, w, b)

    def ln(name, x):
        return F.layer_norm(x, (x.shape[-1],), W[name + ".weight"], W[name + ".bias"], eps=1e-5)

    x = W["model.embed_tokens.weight"][torch.tensor(tokens)]
    ii = torch.arange(T)[:, None]
    jj = torch.arange(T)[None, :]
    mem = kv_shared = None
    for l in range(c.n_layer):
        p = f"model.layers.{l}."
        a = ln(p + "input_layernorm", x)
        kind = c.kind(l)
        if kind == "mamba":
            xz = lin(p + "attn.in_proj", a)
            xs, z = xz.chunk(2, dim=-1)
            conv = F.conv1d(xs.T[None], W[p + "attn.conv1d.weight"], W[p + "attn.conv1d.bias"],
                            padding=K - 1, groups=di)[0, :, :T].T
            u = F.silu(conv)
            dbc = lin(p + "attn.x_proj", u)
            dt, B, C = torch.split(dbc, [R, N, N], dim=-1)
            delta = F.softplus(lin(p + "attn.dt_proj", dt, bias=True), threshold=20)
            A = -torch.exp(W[p + "attn.A_log"])
            h = torch.zeros(di, N, dtype=torch.float64)
            ys = []
            for t in range(T):
                h = torch.exp(torch.einsum("c,cn->cn", delta[t], A)) * h + torch.outer(delta[t] * u[t], B[t])
                ys.append(torch.einsum("cn,n->c", h, C[t]) + W[p + "attn.D"] * u[t])
            y = torch.stack(ys)
            if l == c.half:
                mem = y
            out = lin(p + "attn.out_proj", F.silu(z) * y)
        elif kind == "gmu":
            out = lin(p + "attn.out_proj", F.silu(lin(p + "attn.in_proj", a)) * mem)
        else:
            qkv = lin(p + "attn.Wqkv", a, bias=True)
            if kind == "attn":
                q, k, v = torch.split(qkv, [H * hd, KV * hd, KV * hd], dim=-1)
                mask = jj <= ii
                if c.windows[l] is not None:
                    mask = mask & (ii - jj < c.windows[l])
                if l == c.half + 1:
                    kv_shared = (k, v)
            else:
                q, (k, v) = qkv, kv_shared
                mask = jj <= ii
            q2 = q.view(T, H // 2, 2, hd)
            k2 = k.view(T, KV // 2, 2, hd).repeat_interleave(H // KV, dim=1)
            v2 = v.view(T, KV // 2, 2 * hd).repeat_interleave(H // KV, dim=1)  # [V1;V2] of a kv pair
            ci = p + "attn.inner_cross_attn."
            outs = []
            for stripe in range(2):
                sc = torch.einsum("ihd,jhd->hij", q2[:, :, stripe], k2[:, :, stripe]) / math.sqrt(hd)
                sc = sc.masked_fill(~mask, float("-inf")).softmax(-1)
                outs.append(torch.einsum("hij,jhe->ihe", sc, v2))
            li = 0.8 - 0.6 * math.exp(-0.3 * l)
            lam = (torch.exp(W[ci + "lambda_q1"] @ W[ci + "lambda_k1"])
                   - torch.exp(W[ci + "lambda_q2"] @ W[ci + "lambda_k2"]) + li)
            U = outs[0] - lam * outs[1]
            U = U * torch.rsqrt(U.pow(2).mean(-1, keepdim=True) + 1e-5) * W[ci + "subln.weight"] * (1 - li)
            out = lin(p + "attn.out_proj", U.reshape(T, H * hd), bias=True)
        x = x + out
        g, up = lin(p + "mlp.fc1", ln(p + "post_attention_layernorm", x)).chunk(2, dim=-1)
        x = x + lin(p + "mlp.fc2", F.silu(g) * up)
    y = ln("model.final_layernorm", x)
    head = W["model.embed_tokens.weight"] if c.tie else W["lm_head.weight"]
    return (y @ head.T).numpy()


class TestPrimitives(unittest.TestCase):
    def test_bf16_rounding_matches_torch(self):
        rng = np.random.default_rng(5)
        x = np.concatenate([rng.normal(0, 3, 10000), rng.normal(0, 1e-30, 100),
                            [0.0, -0.0, 1.0, 1.00390625, 1.01171875, 65504.0, 3.4e38, -np.inf, np.inf]]
                           ).astype(np.float32)
        # Exact ties: 1 + 2^-8 rounds down to 1 (even), 1 + 3*2^-8 rounds up.
        ours = st_io.round_to_bf16(x)
        theirs = torch.tensor(x).to(torch.bfloat16).to(torch.float32).numpy()
        np.testing.assert_array_equal(ours, theirs)
        self.assertEqual(float(st_io.round_to_bf16(np.float32(1.00390625))), 1.0)
        self.assertTrue(np.isnan(st_io.round_to_bf16(np.float32("nan"))))

    def test_lambda_init_table(self):
        table = {1: 0.355509068, 3: 0.556058204, 5: 0.666121904, 17: 0.796341952, 31: 0.799945145}
        for l, v in table.items():
            self.assertAlmostEqual(ref.lambda_init(l), v, places=8)

    def test_quantize_activation(self):
        # max|x| = 127 makes s = 1 so the ties are exact: half-to-even gives 62, -62, 0, 2, 2
        # where half-up would give 63, -62, 1, 2, 3 and half-away-from-zero 63, -63, 1, 2, 3.
        x = np.array([[127.0, 62.5, -62.5, 0.5, 1.5, 2.5], [0.0] * 6, [0.5, -1.0, 0.25, 0.0, 0.0, 0.0]])
        xq, s = ref.quantize_activation(x)
        np.testing.assert_array_equal(xq, [[127, 62, -62, 0, 2, 2], [0] * 6, [64, -127, 32, 0, 0, 0]])
        np.testing.assert_array_equal(s, [1.0, 0.0, 127.0])

    def test_ternary_scale_detection(self):
        g = float(st_io.round_to_bf16(np.float32(0.07)))
        W = g * np.array([[1, 0, -1, 1], [0, 0, 1, -1]], dtype=np.float64)
        self.assertEqual(ref.ternary_scale(W), (g, True))
        W2 = np.array([[0.5, -1.0], [0.25, 0.0]])
        self.assertEqual(ref.ternary_scale(W2), (0.4375, False))

    def test_safetensors_round_trip_and_errors(self):
        rng = np.random.default_rng(7)
        t = {"a": rng.normal(size=(3, 5)), "b.bias": rng.normal(size=(7,)), "c": rng.normal(size=(2, 1, 4))}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.safetensors")
            st_io.write_tensors(path, t, {"a": "F32", "b.bias": "BF16", "c": "F16"})
            back, tags = st_io.read_tensors(path)
            self.assertEqual(tags, {"a": "F32", "b.bias": "BF16", "c": "F16"})
            np.testing.assert_array_equal(back["a"], t["a"].astype(np.float32))
            np.testing.assert_array_equal(back["b.bias"], st_io.round_to_bf16(t["b.bias"]))
            np.testing.assert_array_equal(back["c"], t["c"].astype(np.float16).astype(np.float32))
            with open(path, "rb") as f:
                raw = f.read()
            with open(path, "wb") as f:
                f.write(raw[:-4])  # truncated data
            with self.assertRaises(st_io.SafetensorsError):
                st_io.read_tensors(path)


class TestModel(unittest.TestCase):
    def fixture(self, name):
        d = os.path.join(FIXTURES, name)
        if not os.path.isdir(d):
            self.skipTest(f"fixture {name} not generated")
        cfg, tensors = ref.load_checkpoint(d)
        with open(os.path.join(d, "tokens.txt")) as f:
            tokens = [int(t) for t in f.read().split()]
        return d, cfg, tensors, tokens

    def check_against_torch(self, name, ternary=False):
        d, cfg, tensors, tokens = self.fixture(name)
        model = ref.Model(cfg, tensors, ternary=ternary)
        ours = ref.forward(model, tokens)
        theirs = torch_forward(cfg, tensors, tokens, ternary=ternary)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9 * np.abs(theirs).max())
        stored = np.fromfile(os.path.join(d, "logits_ternary.f32" if ternary else "logits.f32"), "<f4")
        np.testing.assert_allclose(stored.reshape(ours.shape), ours, rtol=1e-6, atol=1e-5)
        inc = ref.decode_all(model, tokens)
        np.testing.assert_allclose(inc, ours, rtol=0, atol=1e-10 * np.abs(ours).max())

    def test_tiny8(self):
        self.check_against_torch("tiny8")

    def test_bf16_untied(self):
        self.check_against_torch("bf16_untied")

    def test_ternary256_full(self):
        self.check_against_torch("ternary256")

    def test_ternary256_ternary(self):
        self.check_against_torch("ternary256", ternary=True)

    def test_greedy_tokens(self):
        _, cfg, tensors, tokens = self.fixture("bf16_untied")
        logits = ref.forward(ref.Model(cfg, tensors), tokens)
        self.assertEqual(list(logits[5:-1].argmax(axis=1)), tokens[6:])

    def test_config_forms_agree(self):
        """int, per-layer list and layer_types forms of sliding_window give the same layout."""
        base = make_fixtures.base_config(32, 64, 8, 4, 2, 64)
        as_int = ref.Config({**base, "sliding_window": 4})
        as_list = ref.Config({**base, "sliding_window": [None, 4, None, 4, None, None, None, None]})
        lt = ["full_attention", "sliding_attention"] * 2 + ["full_attention"] * 4
        as_types = ref.Config({**base, "sliding_window": 4, "layer_types": lt})
        self.assertEqual(as_int.windows, [None, 4, None, 4, None, None, None, None])
        self.assertEqual(as_list.windows, as_int.windows)
        self.assertEqual(as_types.windows, as_int.windows)
        self.assertEqual(ref.Config(base | {"sliding_window": 4}).dt_rank, 2)  # ceil(32/16)
        with self.assertRaises(ref.RefError):
            ref.Config({**base, "num_hidden_layers": 6, "sliding_window": 4})
        with self.assertRaises(ref.RefError):
            ref.Config({**base, "sliding_window": [4, 4]})

    def test_cli_writes_same_logits(self):
        d, _, _, tokens = self.fixture("tiny8")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "o.f32")
            r = subprocess.run([sys.executable, os.path.join(HERE, "sambay_ref.py"), "--model", d,
                                "--tokens", ",".join(map(str, tokens)), "-o", out, "--decode"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            got = np.fromfile(out, "<f4")
            want = np.fromfile(os.path.join(d, "logits.f32"), "<f4")
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
            cli = [sys.executable, os.path.join(HERE, "sambay_ref.py"), "--model", d,
                   "--tokens", ",".join(map(str, tokens))]
            r = subprocess.run(cli + ["--compare", out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            bad = got.copy()
            bad[17] += 0.01  # one perturbed logit must be reported
            bad.astype("<f4").tofile(out)
            r = subprocess.run(cli + ["--compare", out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            r = subprocess.run([sys.executable, os.path.join(HERE, "sambay_ref.py"), "--model", d,
                                "--tokens", "1,64"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("token id 64 out of range", r.stderr)


if __name__ == "__main__":
    unittest.main()
