# Post-training ternarization rules for one weight matrix W [out, in]: absmean per tensor/row/256-block,
# (importance-weighted) MSE-optimal block scales, GPTQ error feedback on a ternary grid, and a residual
# second ternary plane. Every rule returns the dequantized matrix (values s * t, t in {-1, 0, 1}).
import torch

BLOCK = 256  # TQ2_0 block width along the input


def tq2_0_blocks(w, scales):
    """What bitflash's TQ2_0 writer stores for per-block scales [out, in/256] (src/convert/ternarize.cpp):
    codes clip(rint(w * (1/s)), -1, 1) with the f32 scale, d = f16(s); returns d * code."""
    o, i = w.shape
    s = scales.float().reshape(o, i // BLOCK, 1)
    inv = torch.where(s > 0, 1.0 / s, torch.zeros_like(s))
    t = torch.clamp(torch.round(w.reshape(o, i // BLOCK, BLOCK) * inv), -1, 1)
    return (t * s.half().float()).reshape(o, i)


def absmean_tensor(w):
    """BitNet b1.58 / the engine's converter: gamma = mean|W| over the whole tensor."""
    g = w.abs().double().mean().float().clamp(min=1e-8)  # double sum, like the converter
    return tq2_0_blocks(w, torch.full((w.shape[0], w.shape[1] // BLOCK), float(g)))


def absmean_rows(w):
    g = w.abs().double().mean(dim=1).float().clamp(min=1e-8)
    return tq2_0_blocks(w, g[:, None].expand(-1, w.shape[1] // BLOCK))


def absmean_blocks(w):
    o, i = w.shape
    g = w.abs().reshape(o, i // BLOCK, BLOCK).double().mean(-1).float().clamp(min=1e-8)
    return tq2_0_blocks(w, g)


def mse_scales(w, imp=None, span=BLOCK):
    """Per `span`-wide block (256; the row for per-row) the scale minimising sum_c imp_c (w_c - s t_c)^2 over s and the ternary support.
    Given s the best t is sign(w) [|w| > s/2] (imp_c > 0 factors out), so the support is the top-k of |w|
    for some k; for a top-k support the best s is sum imp|w| / sum imp, and the error is
    sum imp w^2 - (sum_topk imp|w|)^2 / sum_topk imp. Exhaustive over k with cumulative sums."""
    o, i = w.shape
    a = w.abs().reshape(o, i // span, span).double()
    p = (torch.ones(i, dtype=torch.float64) if imp is None else imp.double().clamp(min=1e-12))
    p = p.reshape(1, i // span, span).expand_as(a)
    order = a.argsort(dim=-1, descending=True)
    a_s, p_s = a.gather(-1, order), p.gather(-1, order)
    num = torch.cumsum(p_s * a_s, -1)
    den = torch.cumsum(p_s, -1)
    gain = num * num / den  # error reduction of the top-k support with its best scale
    k = gain.argmax(-1, keepdim=True)
    s = (num.gather(-1, k) / den.gather(-1, k)).squeeze(-1)
    return s.float().clamp(min=1e-8).repeat_interleave(span // BLOCK, dim=1)


def mse_blocks(w, imp=None):
    return tq2_0_blocks(w, mse_scales(w, imp))


def mse_rows(w):
    return tq2_0_blocks(w, mse_scales(w, span=w.shape[1]))


def gptq(w, H, rounds=2, damp=0.01):
    """GPTQ (Frantar et al.) on the ternary grid s_r * {-1, 0, 1}, s per row (here = per 256-block when
    in = 256, else per row shared by the row's blocks): quantize column by column, spreading each column's
    error over the not-yet-quantized columns through the inverse Hessian of the calibration inputs.
    Between rounds the row scales are refitted by least squares under H for the chosen codes."""
    o, i = w.shape
    W = w.double()
    Hd = H.double().clone()
    dead = torch.diag(Hd) == 0
    Hd[dead, dead] = 1
    Hd += damp * torch.diag(Hd).mean() * torch.eye(i, dtype=torch.float64)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(Hd)), upper=True)
    s = mse_scales(w, torch.diag(H)).double().mean(-1)  # start from the importance-weighted fit
    for _ in range(rounds):
        R = W.clone()
        T = torch.zeros_like(W)
        for c in range(i):
            t = torch.clamp(torch.round(R[:, c] / s), -1, 1)
            T[:, c] = t
            err = (R[:, c] - s * t) / U[c, c]
            R[:, c + 1:] -= err[:, None] * U[c, c + 1:][None, :]
        TH = T @ Hd
        num, den = (W * TH).sum(1), (T * TH).sum(1)
        s = torch.where(den > 0, num / den.clamp(min=1e-30), s).clamp(min=1e-8)
    # codes are not rint(w/s) here, so this is not a TQ2_0 writer rule: store s (f16) * T directly
    return (T * s[:, None].float().half().double()).float()


def residual_two_planes(w, imp=None):
    """W ~ s1 T1 + s2 T2: the second ternary plane fits what the first leaves (both per-block scales)."""
    q1 = mse_blocks(w, imp)
    return q1 + mse_blocks(w - q1, imp)


def proxy_error(w, q, H):
    """tr((W-Q) H (W-Q)^T) / tr(W H W^T): the layer-output error the calibration inputs would see."""
    d = (w - q).double()
    return float((d @ H.double() * d).sum() / (w.double() @ H.double() * w.double()).sum())
