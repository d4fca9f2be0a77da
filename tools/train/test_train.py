# Tests for tools/train: quantizers vs NumPy, recurrent step vs parallel forward, the exported
# checkpoint vs the independent float64 reference (tools/reference), tokenizer file semantics, data split.
#   OPENBLAS_NUM_THREADS=1 nice -n 19 /usr/bin/python3 -m unittest tools/train/test_train.py -v
import json
import os
import random
import re
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import mathdata  # noqa: E402
import sambay_torch as st  # noqa: E402
from bpe_tokenizer import SPLIT_REGEX, Tokenizer, train_bpe  # noqa: E402

TOK_DIR = os.path.join(ROOT, "models", "sambay-math-f32twin")


def small_cfg(vocab=384):
    return {"hidden_size": 256, "intermediate_size": 256, "num_hidden_layers": 8,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": vocab,
            "sliding_window": 16, "mb_per_layer": 2, "mamba_d_state": 16, "mamba_d_conv": 4,
            "mamba_expand": 1, "mamba_dt_rank": 16, "layer_norm_eps": 1e-5,
            "tie_word_embeddings": True, "model_type": "phi4flash"}


def randomized(model):
    """Larger-than-init random weights so every path (lambda, D, conv bias, biases) matters."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("A_log"):
                continue
            p.add_(torch.randn(p.shape, generator=g) * (0.05 if p.dim() > 1 else 0.3))
    return model


class QuantTest(unittest.TestCase):
    def test_weight_ternary_matches_numpy(self):
        w = torch.randn(64, 256)
        got = st.quant_weight_ternary(w).numpy()
        wn = w.numpy().astype(np.float64)
        gamma = np.abs(wn).mean()
        want = np.clip(np.rint(wn / gamma), -1, 1) * gamma
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        vals = np.unique(np.abs(got))
        self.assertEqual(len(vals), 2)  # {0, gamma}

    def test_activation_int8_matches_numpy(self):
        x = torch.randn(5, 256) * 3
        got = st.quant_act_int8(x).numpy()
        xn = x.numpy()
        s = np.float32(127.0) / np.abs(xn).max(axis=1, keepdims=True)
        want = np.clip(np.rint(xn * s), -127, 127) / s
        np.testing.assert_allclose(got, want, rtol=1e-6)
        self.assertTrue(np.all(np.abs(got * s - np.rint(got * s)) < 1e-3))

    def test_bitlinear_rule_and_straight_through(self):
        m = st.SambaY(st.Cfg(small_cfg()), ternary=True)
        names = set(m.bitlinear_names())
        self.assertIn("model.layers.0.attn.x_proj.weight", names)
        self.assertIn("model.layers.0.attn.in_proj.weight", names)
        self.assertNotIn("model.layers.0.attn.dt_proj.weight", names)
        self.assertNotIn("model.embed_tokens.weight", names)
        lin = m.model.layers[1].mlp.fc1
        x = torch.randn(3, 256, requires_grad=True)
        lin(x).sum().backward()
        self.assertIsNotNone(lin.weight.grad)
        self.assertGreater(lin.weight.grad.abs().sum().item(), 0)


class ScanTest(unittest.TestCase):
    def test_hand_written_backward(self):
        torch.manual_seed(0)
        b, T, d, N = 3, 11, 5, 4
        args = [torch.randn(b, T, d), torch.rand(b, T, d) * 0.5, -torch.rand(d, N) * 3,
                torch.randn(b, T, N), torch.randn(b, T, N)]
        args = [a.double().requires_grad_() for a in args]
        self.assertTrue(torch.autograd.gradcheck(st.selective_scan, args))
        y = st.selective_scan(*args)
        # independent definition: explicit float64 NumPy recurrence
        u, dt, A, B, C = (a.detach().numpy() for a in args)
        h = np.zeros((b, d, N))
        for t in range(T):
            h = np.exp(dt[:, t, :, None] * A) * h + (dt[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]
            np.testing.assert_allclose(y[:, t].detach().numpy(), (h * C[:, t, None, :]).sum(-1), rtol=1e-12)
        g = torch.randn_like(y)
        got = torch.autograd.grad(y, args, g)
        want = torch.autograd.grad(st.scan_reference(*args), args, g)
        for a, w in zip(got, want):
            np.testing.assert_allclose(a.numpy(), w.numpy(), rtol=1e-10, atol=1e-12)


class ForwardTest(unittest.TestCase):
    def _step_vs_forward(self, ternary, tol):
        torch.manual_seed(0)
        m = randomized(st.SambaY(st.Cfg(small_cfg()), ternary=ternary)).eval()
        ids = torch.randint(0, 384, (2, 40))
        with torch.no_grad():
            full = m(ids)
            cache = m.init_cache(2)
            stepped = torch.stack([m.step(ids[:, t], cache) for t in range(40)], 1)
        diff = (full - stepped).abs().max().item() / full.abs().max().item()
        self.assertLess(diff, tol)

    def test_step_matches_forward_f32(self):
        self._step_vs_forward(False, 1e-5)

    def test_step_matches_forward_ternary(self):
        # per-token int8 rounding may flip on ulp-level differences between the two paths
        self._step_vs_forward(True, 2e-2)

    def _vs_reference(self, ternary):
        ref_dir = os.path.join(ROOT, "tools", "reference")
        if not os.path.exists(os.path.join(ref_dir, "sambay_ref.py")):
            self.skipTest("tools/reference not present")
        sys.path.insert(0, ref_dir)
        import sambay_ref
        torch.manual_seed(1)
        m = randomized(st.SambaY(st.Cfg(small_cfg()), ternary=ternary)).eval()
        with tempfile.TemporaryDirectory() as d:
            cfg = small_cfg()
            if ternary:
                cfg["quantization_config"] = {"quant_method": "bitnet"}
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            st.save_safetensors(os.path.join(d, "model.safetensors"), m.export_state())
            shipped = st.load_exported(d)
            cj, tensors = sambay_ref.load_checkpoint(d)
            ref = sambay_ref.Model(cj, tensors, ternary=ternary)
        ids = list(range(3, 3 + 37)) + [7, 7, 9]
        want = sambay_ref.forward(ref, ids)
        with torch.no_grad():
            got = shipped(torch.tensor([ids]))[0].double().numpy()
            own = m(torch.tensor([ids]))[0].double().numpy()
        scale = np.abs(want).max()
        if ternary:
            # reload uses gamma*Wq as is; ulp-level differences may flip single int8 activation codes
            self.assertLess(np.abs(got - own).max() / scale, 3e-2)
            self.assertGreater((got.argmax(1) == own.argmax(1)).mean(), 0.9)
        else:
            np.testing.assert_allclose(got, own, atol=1e-6 * scale)  # export/reload is lossless
        if ternary:
            # float32 vs float64 activation rounding may flip single int8 codes: compare loosely
            self.assertLess(np.abs(got - want).max() / scale, 3e-2)
            self.assertGreater((got.argmax(1) == want.argmax(1)).mean(), 0.9)
        else:
            self.assertLess(np.abs(got - want).max() / scale, 1e-5)

    def test_matches_reference_f32(self):
        self._vs_reference(False)

    def test_matches_reference_ternary(self):
        self._vs_reference(True)

    def test_export_is_exactly_ternary(self):
        m = randomized(st.SambaY(st.Cfg(small_cfg()), ternary=True))
        sd = m.export_state()
        for n in m.bitlinear_names():
            a = sd[n].abs().unique()
            self.assertEqual(len(a), 2, n)
            self.assertEqual(a[0].item(), 0.0)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.safetensors")
            st.save_safetensors(p, sd)
            back = st.load_safetensors(p)
        for k in sd:
            self.assertTrue(torch.equal(sd[k], back[k]), k)


class TokenizerTest(unittest.TestCase):
    def test_regex_split_and_roundtrip(self):
        merges = train_bpe(["Solve the equation x^2 + 12x = 0", "the answer"] * 3, 20)
        tok = Tokenizer(merges)
        text = "<|user|>Solve 345 + 12x = 0<|end|><|assistant|><think>ok</think>The answer is \\boxed{-3, 2}.<|end|>"
        ids = tok.encode(text)
        self.assertEqual(tok.decode(ids), text)
        # digits are single tokens; byte tokens have id = byte value
        self.assertEqual(tok.encode("345"), [tok.vocab["3"], tok.vocab["4"], tok.vocab["5"]])
        self.assertEqual(re.findall(SPLIT_REGEX, "x^2 + 3x = -41."),
                         ["x", "^", "2", " +", " ", "3", "x", " =", " -", "4", "1", "."])

    def test_rstrip_added_tokens(self):
        tok = Tokenizer([])
        self.assertEqual(tok.encode("<|end|>  Hi"), tok.encode("<|end|>Hi"))
        self.assertNotEqual(tok.encode("<think>  Hi"), tok.encode("<think>Hi"))

    def test_shipped_files(self):
        if not os.path.exists(os.path.join(TOK_DIR, "tokenizer.json")):
            self.skipTest("model folder not exported yet")
        tok = Tokenizer.load_hf(TOK_DIR)
        with open(os.path.join(TOK_DIR, "generation_config.json")) as f:
            gc = json.load(f)
        self.assertEqual(gc["eos_token_id"], [tok.token_id("<|end|>"), tok.token_id("<|endoftext|>")])
        with open(os.path.join(TOK_DIR, "config.json")) as f:
            cfg = json.load(f)
        self.assertGreaterEqual(cfg["vocab_size"], tok.size)
        self.assertEqual(cfg["vocab_size"] % 64, 0)


class TokenizerOracleTest(unittest.TestCase):
    """Our encoder vs Hugging Face tokenizers.js reading the shipped tokenizer.json (npm test oracle)."""

    def test_matches_tokenizers_js(self):
        import shutil
        import subprocess
        mods = os.environ.get("BF_TOKJS_NODE_PATH", os.path.join(HERE, "oracle", "node_modules"))
        if not shutil.which("node") or not os.path.isdir(os.path.join(mods, "@huggingface", "tokenizers")):
            # scripts/test.sh installs the oracle and sets BF_TOKJS_REQUIRED: there a missing oracle fails.
            if os.environ.get("BF_TOKJS_REQUIRED"):
                self.fail("node or @huggingface/tokenizers missing: npm ci --prefix tools/train/oracle")
            self.skipTest("node or @huggingface/tokenizers missing (see tools/train/README.md)")
        if not os.path.exists(os.path.join(TOK_DIR, "tokenizer.json")):
            self.skipTest("model folder not exported yet")
        tok = Tokenizer.load_hf(TOK_DIR)
        rng = random.Random(11)
        texts = [mathdata.render(*mathdata.sample_problem(rng)[1:]) for _ in range(200)]
        texts += ["<|user|>  Hi there!<|end|>\n <|assistant|>\tok", "Hello  world   \n\n x",
                  "<think> a </think>", "\u00fcn\u00efc\u00f6d\u00e9 12ab", "a<|end|>b<|endoftext|>"]
        inp = "".join(json.dumps(t) + "\n" for t in texts)
        r = subprocess.run(["node", os.path.join(HERE, "oracle", "encode_hf.mjs"), TOK_DIR], input=inp,
                           capture_output=True, text=True, env={"NODE_PATH": mods, "PATH": os.environ["PATH"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        outs = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(len(outs), len(texts))
        for t, o in zip(texts, outs):
            self.assertEqual(tok.encode(t), o["ids"], t)
            self.assertEqual(tok.decode(o["ids"]), o["back"], t)


class DataTest(unittest.TestCase):
    def test_heldout_disjoint_from_training(self):
        held = mathdata.make_heldout(500, 1234)
        keys = {h["key"] for h in held}
        self.assertEqual(len(keys), 500)
        rng = random.Random(5)
        n_seen = 0
        for _ in range(20000):
            k, q, s, a = mathdata.sample_problem(rng)
            n_seen += k in keys
        self.assertGreater(n_seen, 0)  # the filter is needed at all
        stream = mathdata.training_stream(keys, 5)
        held_text = {h["problem"] for h in held}
        for _ in range(5000):
            text = next(stream)
            problem = text[len("<|user|>"):text.index("<|end|>")]
            self.assertNotIn(problem, held_text)

    def test_answers(self):
        self.assertTrue(mathdata.answers_match("The answer is \\boxed{2, -3}.", "-3,2"))
        self.assertTrue(mathdata.answers_match("so x = -3 or x = 2", "-3,2"))
        self.assertFalse(mathdata.answers_match("\\boxed{2}", "-3,2"))
        self.assertTrue(mathdata.answers_match("it is 42", "42"))
        rng = random.Random(9)
        for _ in range(300):  # the rendered solution must grade as correct
            k, q, s, a = mathdata.sample_problem(rng)
            text = mathdata.render(q, s, a)
            self.assertTrue(mathdata.answers_match(text.split("<|assistant|>")[1], str(a)), text)

    def test_answers_are_mathematically_right(self):
        # independent check: evaluate the problem text with Python itself
        rng = random.Random(10)
        for _ in range(500):
            k, q, s, a = mathdata.sample_problem(rng)
            if k[0] in ("add", "sub", "mul"):
                x, y = map(int, re.findall(r"\d+", q))
                if q.startswith("Subtract"):  # "Subtract b from a"
                    x, y = y, x
                want = {"add": x + y, "sub": x - y, "mul": x * y}[k[0]]
                self.assertEqual(int(a), want, q)
            else:
                expr = q.split(":")[-1] if ":" in q else q
                expr = re.sub(r"^(Solve the equation|Solve|Find the roots of|Find x if)", "", expr)
                lhs, rhs = expr.strip().rstrip(".").split(" = ")
                py = re.sub(r"(\d)x", r"\1*x", lhs.replace("^", "**"))
                roots = [int(v) for v in str(a).split(",")]
                for r in roots:
                    self.assertEqual(eval(py, {"x": r}), int(rhs), q)
                if k[0] == "quad":  # no other integer root in range
                    others = [r for r in range(-30, 31) if eval(py, {"x": r}) == 0]
                    self.assertEqual(others, roots, q)


if __name__ == "__main__":
    unittest.main()
