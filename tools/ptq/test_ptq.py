# Tests of tools/ptq/ternarize.py: the weighted MSE scale against brute force, the TQ2_0 emulation,
# GPTQ against round-to-nearest under a correlated Hessian, residual planes, and the data split.
#   OMP_NUM_THREADS=1 nice -n 15 /usr/bin/python3 -m unittest tools/ptq/test_ptq.py -v
import itertools
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternarize as tz  # noqa: E402


def weighted_err(w, q, imp):
    return float((imp * (w - q) ** 2).sum())


class TernarizeTest(unittest.TestCase):
    def test_weighted_mse_scale_is_the_brute_force_optimum(self):
        g = torch.Generator().manual_seed(3)
        for _ in range(5):
            w = torch.randn(1, 256, generator=g)
            imp = torch.rand(256, generator=g) * 3 + 0.01
            s = float(tz.mse_scales(w, imp)[0, 0])
            t = torch.clamp(torch.round(w[0] / s), -1, 1)
            got = weighted_err(w[0], s * t, imp)
            # brute force on the first 8 weights only (3^8 codes), scale by weighted least squares
            w8, p8 = w[0, :8].double(), imp[:8].double()
            s8 = float(tz.mse_scales(torch.cat([w[:, :8], torch.zeros(1, 248)], 1),
                                     torch.cat([imp[:8], torch.ones(248)]))[0, 0])
            best = float((p8 * w8 ** 2).sum())
            for code in itertools.product((-1, 0, 1), repeat=8):
                tt = torch.tensor(code, dtype=torch.float64)
                den = float((p8 * tt * tt).sum())
                if den > 0:
                    sc = max(float((p8 * w8 * tt).sum()) / den, 0.0)
                    best = min(best, float((p8 * (w8 - sc * tt) ** 2).sum()))
            t8 = torch.clamp(torch.round(w8 / s8), -1, 1)
            self.assertAlmostEqual(float((p8 * (w8 - s8 * t8) ** 2).sum()), best, places=5)
            # and the 256-wide fit beats absmean under the same weights
            self.assertLessEqual(got, weighted_err(w[0], tz.absmean_blocks(w)[0], imp) + 1e-9)

    def test_tq2_0_emulation(self):
        w = torch.randn(2, 512)
        scales = torch.tensor([[0.5, 0.25], [1.0, 0.125]])
        q = tz.tq2_0_blocks(w, scales)
        for r in range(2):
            for b in range(2):
                blk = q[r, 256 * b:256 * (b + 1)]
                vals = set(blk.abs().unique().tolist()) - {0.0}
                self.assertLessEqual(vals, {float(scales[r, b])})

    def test_gptq_beats_rounding_under_correlated_inputs(self):
        g = torch.Generator().manual_seed(5)
        x = torch.randn(2000, 256, generator=g) @ (torch.eye(256) + 0.3 * torch.randn(256, 256, generator=g))
        H = x.T @ x
        w = torch.randn(64, 256, generator=g) * 0.02
        e_rtn = tz.proxy_error(w, tz.mse_blocks(w, torch.diag(H)), H)
        e_gptq = tz.proxy_error(w, tz.gptq(w, H), H)
        self.assertLess(e_gptq, 0.8 * e_rtn)
        self.assertLessEqual(len(tz.gptq(w, H)[3].abs().unique()), 2)  # {0, s}: still ternary per row

    def test_residual_plane_reduces_error(self):
        w = torch.randn(8, 256)
        e1 = float(((w - tz.mse_blocks(w)) ** 2).sum())
        e2 = float(((w - tz.residual_two_planes(w)) ** 2).sum())
        self.assertLess(e2, 0.5 * e1)


class DataSplitTest(unittest.TestCase):
    def test_calibration_and_kl_text_are_unseen(self):
        import run_ptq as rp
        seen = rp.seen_keys()
        calib = rp.unseen_texts(rp.CALIB_SEED, 64, seen)
        kl = rp.unseen_texts(rp.KL_SEED, 64, seen | {k for k, _ in calib})
        keys = [k for k, _ in calib] + [k for k, _ in kl]
        self.assertEqual(len(set(keys)), len(keys))
        self.assertFalse(set(keys) & seen)


if __name__ == "__main__":
    unittest.main()
