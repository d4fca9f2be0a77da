# Tests for tools/train/distill.py: loss pieces, the global-batch sharding rule, checkpoint loading, and a
# 2-process torch.distributed (gloo) run against a 1-process run on a tiny random teacher.
#   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -m unittest tools/train/test_distill.py -v
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import types
import unittest

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import distill  # noqa: E402
import sambay_torch as st  # noqa: E402
from test_train import randomized, small_cfg  # noqa: E402

TOK_FOLDER = os.path.join(ROOT, "models", "sambay-math-f32twin")
# 2 processes x 1 micro-batch vs 1 process x 2 micro-batches (same global batch, same micro-batch
# shapes): the gradients are g_a/2 + g_b/2 vs (g_a + g_b)/2, equal up to rounding. With different
# micro-batch shapes they are not: BLAS rounds differently per shape, that flips a few int8 activation
# codes, the quantized network amplifies the flips, and Adam's first steps (~LR * sign(g)) turn them
# into differences of up to 2 * LR per step on a few % of the weights (measured: 3.9e-3 after 3 steps).
STEPS, LR, TOL = 3, 1e-3, 1e-6


def write_teacher(folder, layers=8):
    """A random full-precision phi4flash folder with the shipped tokenizer files."""
    os.makedirs(folder, exist_ok=True)
    d = dict(small_cfg(), num_hidden_layers=layers, sliding_window=16)
    torch.manual_seed(5)
    model = randomized(st.SambaY(st.Cfg(d)))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(d, f)
    st.save_safetensors(os.path.join(folder, "model.safetensors"), model.export_state())
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"):
        shutil.copy(os.path.join(TOK_FOLDER, name), folder)
    return d, model


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loss_args(**kw):
    a = dict(kl=1.0, ce=0.5, hidden=0.3, temperature=2.0)
    a.update(kw)
    return types.SimpleNamespace(**a)


class PiecesTest(unittest.TestCase):
    def test_kl_matches_definition(self):
        s, t = torch.randn(3, 7, 11), torch.randn(3, 7, 11)
        want = F.kl_div(F.log_softmax(s / 2, -1), F.softmax(t / 2, -1), reduction="none").sum(-1) * 4
        torch.testing.assert_close(distill.kl_per_token(s, t, 2.0), want)
        self.assertLess(distill.kl_per_token(t, t, 2.0).abs().max().item(), 1e-6)

    def test_shards_sum_to_global_batch_gradient(self):
        """What DDP computes (mean over ranks of each rank's scaled loss gradient) == the 1-process one.
        Full-precision student: a ternary one's int8 activation codes can flip with the batch shape's
        float rounding (the 2-process test below covers the ternary student with a tolerance)."""
        d = dict(small_cfg(), num_hidden_layers=4)
        torch.manual_seed(1)
        teacher = randomized(st.SambaY(st.Cfg(d)))
        student = st.SambaY(st.Cfg(d), ternary=False)
        student.load_state_dict(teacher.state_dict())
        ids = torch.randint(0, 370, (4, 12))
        mask = (torch.rand(4, 12) < 0.7).float()
        n = mask[:, 1:].sum().item()
        args = loss_args()

        def grads(pieces, world):
            student.zero_grad()
            for i, m in pieces:
                loss, _ = distill.distill_loss(student, teacher, i, m, n, world, args)
                (loss / world).backward()
            return [p.grad.clone() for p in student.parameters()]

        full = grads([(ids, mask)], 1)
        halves = grads([(ids[:2], mask[:2]), (ids[2:], mask[2:])], 2)
        for a, b in zip(full, halves):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

    def test_load_checkpoint_shards_and_tied_head(self):
        with tempfile.TemporaryDirectory() as tmp:
            d, model = write_teacher(tmp, layers=4)
            sd = model.export_state()
            names = sorted(sd)
            half = len(names) // 2
            os.remove(os.path.join(tmp, "model.safetensors"))
            st.save_safetensors(os.path.join(tmp, "a.safetensors"), {k: sd[k] for k in names[:half]})
            st.save_safetensors(os.path.join(tmp, "b.safetensors"),
                                dict({k: sd[k] for k in names[half:]}, **{"lm_head.weight": sd[names[0]]}))
            with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
                json.dump({"weight_map": {k: ("a" if i < half else "b") + ".safetensors"
                                          for i, k in enumerate(names)}}, f)
            _, got = distill.load_checkpoint(tmp)
            self.assertEqual(sorted(got), names)
            for k in names:
                self.assertTrue(torch.equal(got[k], sd[k]), k)
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump(dict(d, quantization_config={"quant_method": "bitnet"}), f)
            with self.assertRaises(SystemExit):
                distill.load_checkpoint(tmp)


    def test_released_config_defaults(self):
        """configs/phi-4-mini-flash-reasoning.json (no mamba_* keys, as released) gets the HF defaults."""
        with open(os.path.join(ROOT, "configs", "phi-4-mini-flash-reasoning.json")) as f:
            c = st.Cfg(json.load(f))
        self.assertEqual((c.d_inner, c.dt_rank, c.d_state, c.d_conv, c.head_dim), (5120, 160, 16, 4, 64))


class TeacherDataTest(unittest.TestCase):
    def test_generate_then_train_on_tokens(self):
        """--gen-teacher writes the teacher's solutions as {"ids","mask"}; --tokens trains on them;
        a token id outside the vocabulary is a clear error."""
        with tempfile.TemporaryDirectory() as tmp:
            teacher = os.path.join(tmp, "teacher")
            write_teacher(teacher, layers=4)
            data = os.path.join(tmp, "gen.jsonl")
            distill.main(["--teacher", teacher, "--gen-teacher", "4", "--gen-out", data])
            with open(data) as f:
                rows = [json.loads(l) for l in f]
            self.assertEqual(len(rows), 4)
            end = 364  # <|end|>: every written solution is closed
            for r in rows:
                self.assertEqual(len(r["ids"]), len(r["mask"]))
                self.assertEqual((r["ids"][-1], r["mask"][-1], r["mask"][0]), (end, 1, 0))
            out, master = os.path.join(tmp, "out"), os.path.join(tmp, "m.pt")
            distill.main(["--teacher", teacher, "--tokens", data, "--out", out, "--steps", "1", "--batch", "2",
                          "--save-master", master])
            # --init: one step at lr 0 from the saved master weights exports exactly the same model (from
            # the teacher instead, gamma and codes would differ: the first run moved every weight)
            out2 = os.path.join(tmp, "out2")
            distill.main(["--teacher", teacher, "--tokens", data, "--out", out2, "--steps", "1", "--batch", "2",
                          "--init", master, "--lr", "0"])
            a, b = (st.load_safetensors(os.path.join(o, "model.safetensors")) for o in (out, out2))
            self.assertTrue(all(torch.equal(a[k], b[k]) for k in a))
            with open(data, "a") as f:
                f.write(json.dumps({"ids": [1, 384], "mask": [0, 1]}) + "\n")
            with self.assertRaisesRegex(SystemExit, "gen.jsonl:5"):
                distill.main(["--teacher", teacher, "--tokens", data, "--out", out, "--steps", "3", "--batch", "2"])


class DistributedTest(unittest.TestCase):
    def _run(self, tmp, teacher, tag, nproc):
        out, master = os.path.join(tmp, "out" + tag), os.path.join(tmp, f"master{tag}.pt")
        flags = ["--teacher", teacher, "--out", out, "--steps", str(STEPS), "--batch", "4", "--lr", str(LR),
                 "--warmup", "1", "--ce", "0.5", "--hidden", "0.5", "--temperature", "2",
                 "--save-master", master, "--log-every", "1"]
        script = os.path.join(HERE, "distill.py")
        if nproc == 1:
            cmd = [sys.executable, script, "--accum", "2"] + flags
        else:
            # --redirects/--tee 2: torch 1.13 on Python 3.11 cannot parse their default "0" (IntFlag NONE)
            cmd = [sys.executable, "-m", "torch.distributed.run", "--redirects", "2", "--tee", "2",
                   "--nnodes", "1", "--nproc_per_node",
                   str(nproc), "--master_addr", "127.0.0.1", "--master_port", str(free_port()), script] + flags
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        return out, torch.load(master)["model"]

    def test_two_processes_match_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            teacher = os.path.join(tmp, "teacher")
            _, tmodel = write_teacher(teacher)
            out1, m1 = self._run(tmp, teacher, "1", 1)
            out2, m2 = self._run(tmp, teacher, "2", 2)
            t0 = tmodel.state_dict()
            moved = max((m1[k] - t0[k]).abs().max().item() for k in m1)
            diff = max((m1[k] - m2[k]).abs().max().item() for k in m1)
            self.assertGreater(moved, 1000 * TOL)  # the runs trained (so agreement is not vacuous)
            self.assertLess(diff, TOL)
            # the exports: exactly {-g, 0, +g} per ternary tensor; the same codes in both runs
            e1, e2 = (st.load_safetensors(os.path.join(o, "model.safetensors")) for o in (out1, out2))
            with open(os.path.join(teacher, "config.json")) as f:
                names = st.SambaY(st.Cfg(json.load(f)), ternary=True).bitlinear_names()
            self.assertEqual(len(names), 35)
            agree = total = 0
            for n in names:
                vals = e1[n].abs().unique()
                self.assertEqual(len(vals), 2, n)
                c1, c2 = torch.sign(e1[n]), torch.sign(e2[n])
                agree += (c1 == c2).sum().item()
                total += c1.numel()
            self.assertGreater(agree / total, 0.999)
            with open(os.path.join(out1, "config.json")) as f:
                cfg = json.load(f)
            self.assertEqual(cfg["quantization_config"]["quant_method"], "bitnet")
            self.assertTrue(os.path.exists(os.path.join(out1, "tokenizer.json")))


if __name__ == "__main__":
    unittest.main()
