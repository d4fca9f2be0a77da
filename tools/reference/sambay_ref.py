#!/usr/bin/env python3
# Independent float64 NumPy reference of SambaY (Phi-4-mini-flash-reasoning), written from
# /work/shared/docs/architecture.md (cited as "§x"): config, weights, full-sequence forward,
# incremental decoder (§5), BitNet b1.58 ternary simulation, and the logits command line.
# Slow on purpose: plain loops where that keeps the math obvious. Not for the real 3.8B model's speed.

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402


class RefError(Exception):
    """Bad input (config, checkpoint, tokens): the message names what is wrong."""


def fail(msg):
    raise RefError(msg)


# ----------------------------------------------------------------------------------------------
# Configuration (§1.1 defaults, §3.1 layer layout)

DEFAULTS = {  # class defaults of §1.1 for keys absent from config.json
    "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": "auto",
    "mamba_conv_bias": True, "mamba_proj_bias": False, "mb_per_layer": 2,
    "layer_norm_eps": 1e-5, "tie_word_embeddings": True, "mlp_bias": False,
}


def _pos_int(cfg, key):
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        fail(f"config: '{key}' must be a positive integer, got {v!r}")
    return v


class Config:
    def __init__(self, cfg):
        if not isinstance(cfg, dict):
            fail("config: top level is not a JSON object")
        if cfg.get("model_type", "phi4flash") != "phi4flash":
            print(f"warning: model_type is {cfg.get('model_type')!r}, expected 'phi4flash'", file=sys.stderr)
        c = dict(DEFAULTS)
        c.update({k: v for k, v in cfg.items() if v is not None or k == "sliding_window"})
        self.d_model = _pos_int(c, "hidden_size")
        self.d_ff = _pos_int(c, "intermediate_size")
        self.n_layer = _pos_int(c, "num_hidden_layers")
        self.n_head = _pos_int(c, "num_attention_heads")
        self.n_kv_head = _pos_int(c, "num_key_value_heads")
        self.vocab = _pos_int(c, "vocab_size")
        self.d_state = _pos_int(c, "mamba_d_state")
        self.d_conv = _pos_int(c, "mamba_d_conv")
        self.d_inner = _pos_int(c, "mamba_expand") * self.d_model
        dt = c["mamba_dt_rank"]
        self.dt_rank = math.ceil(self.d_model / 16) if dt == "auto" else _pos_int(c, "mamba_dt_rank")
        self.conv_bias = bool(c["mamba_conv_bias"])
        self.proj_bias = bool(c["mamba_proj_bias"])
        self.mlp_bias = bool(c["mlp_bias"])
        self.eps = float(c["layer_norm_eps"])
        self.tie = bool(c["tie_word_embeddings"])
        if c["mb_per_layer"] != 2:
            fail(f"config: mb_per_layer {c['mb_per_layer']!r} unsupported (only 2, §3.1)")
        n, H, KV = self.n_layer, self.n_head, self.n_kv_head
        if n % 4 != 0:
            fail(f"config: num_hidden_layers {n} must be divisible by 4 (§3.1)")
        if self.d_model % H != 0:
            fail(f"config: hidden_size {self.d_model} not divisible by num_attention_heads {H}")
        if H % 2 or KV % 2 or H % KV:
            fail(f"config: heads {H}/kv heads {KV} must both be even and divide (differential striping, §4.5)")
        self.head_dim = self.d_model // H
        self.half = n // 2
        self.windows = self._windows(c)

    def _windows(self, c):
        """Per-layer SWA window (int) for self-decoder attention layers l odd < n/2, else None
        (full causal). Accepts the int, per-layer-list and layer_types forms (§0, §3.1)."""
        n, sw = self.n_layer, c.get("sliding_window")
        lt = c.get("layer_types")

        def check(w, where):
            if w is None:
                return None
            if isinstance(w, bool) or not isinstance(w, int) or w <= 0:
                fail(f"config: {where} must be a positive integer or null, got {w!r}")
            return w

        out = [None] * n
        if isinstance(sw, list):
            if len(sw) != n:
                fail(f"config: sliding_window list has {len(sw)} entries, expected {n}")
            for l in range(1, self.half, 2):
                out[l] = check(sw[l], f"sliding_window[{l}]")
        elif lt is not None:
            if not isinstance(lt, list) or len(lt) != n:
                fail(f"config: layer_types must be a list of {n} strings")
            w = check(sw, "sliding_window")
            for l in range(1, self.half, 2):
                if lt[l] not in ("sliding_attention", "full_attention"):
                    fail(f"config: layer_types[{l}] = {lt[l]!r} is not sliding_attention/full_attention")
                out[l] = w if lt[l] == "sliding_attention" else None
        else:
            w = check(sw, "sliding_window")
            for l in range(1, self.half, 2):
                out[l] = w
        return out

    def kind(self, l):
        """§3.1: 'mamba' (l even < n/2+2; l == n/2 exports memory), 'attn' (odd l <= n/2+1),
        'gmu' (even l >= n/2+2), 'cross' (odd l >= n/2+2)."""
        if l >= self.half + 2:
            return "gmu" if l % 2 == 0 else "cross"
        return "mamba" if l % 2 == 0 else "attn"


def lambda_init(l):
    """§4.5: λ_init from the global (0-based) layer index."""
    return 0.8 - 0.6 * math.exp(-0.3 * l)


# ----------------------------------------------------------------------------------------------
# Linear maps, full precision or BitNet b1.58 ternary simulation

TERNARY_BLOCK = 256  # TQ2_0 blocks run along the input dimension


def ternary_scale(W):
    """gamma of a weight tensor: mean|W| over the whole tensor, unless the tensor is already
    ternary (every nonzero |w| equal within 2^-7 relative, which covers bf16 storage), then the
    common magnitude (mean of the nonzero |w|). Returns (gamma, already_ternary)."""
    a = np.abs(np.asarray(W, dtype=np.float64))
    nz = a[a > 0]
    if nz.size == 0:
        return 0.0, True
    if nz.max() - nz.min() <= nz.max() * 2.0 ** -7:
        return float(nz.mean()), True
    return float(a.mean()), False


def quantize_activation(x):
    """Per-token absmax int8 (§ternary rules in README): s = 127/max|x|, x_q = clip(rint(x*s)).
    x: [T, n]. Returns (x_q as float64 integers, s[T]); a zero row gives x_q = 0, s = 0."""
    m = np.abs(x).max(axis=1)
    s = np.where(m > 0, 127.0 / np.where(m > 0, m, 1.0), 0.0)
    xq = np.clip(np.rint(x * s[:, None]), -127, 127)
    return xq, s


class Linear:
    """y = W x + b with W [out, in] (PyTorch layout). In ternary mode and when in % 256 == 0:
    y = (Wq x_q) * gamma / s + b, Wq = clip(rint(W/gamma), -1, 1)."""

    def __init__(self, name, W, b=None, ternary=False, gamma_f16=False):
        self.name = name
        self.out_f, self.in_f = W.shape
        self.b = None if b is None else np.asarray(b, dtype=np.float64)
        self.ternary = ternary and self.in_f % TERNARY_BLOCK == 0
        self.already_ternary = False
        if self.ternary:
            gamma, self.already_ternary = ternary_scale(W)
            self.Wq = (np.zeros(W.shape) if gamma == 0.0 else
                       np.clip(np.rint(np.asarray(W, dtype=np.float64) / gamma), -1, 1))
            # Optional: an engine storing gamma as fp16 (TQ2_0 block scale) rounds only the scale.
            self.gamma = float(np.float16(gamma)) if gamma_f16 else gamma
        else:
            # Small tensors are upcast once; huge ones (real model) stay float32 and are upcast
            # in row chunks at use, to bound memory.
            self.W = W.astype(np.float64) if W.size <= (1 << 24) else W

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        squeeze = x.ndim == 1
        x2 = x[None, :] if squeeze else x
        if x2.shape[1] != self.in_f:
            fail(f"internal: {self.name} expects {self.in_f} inputs, got {x2.shape[1]}")
        if self.ternary:
            xq, s = quantize_activation(x2)
            scale = np.where(s > 0, self.gamma / np.where(s > 0, s, 1.0), 0.0)
            y = (xq @ self.Wq.T) * scale[:, None]
        elif self.W.dtype == np.float64:
            y = x2 @ self.W.T
        else:
            y = np.empty((x2.shape[0], self.out_f))
            for r in range(0, self.out_f, 4096):
                y[:, r:r + 4096] = x2 @ self.W[r:r + 4096].astype(np.float64).T
        if self.b is not None:
            y = y + self.b
        return y[0] if squeeze else y


# ----------------------------------------------------------------------------------------------
# Weights (§2 names and shapes)

def load_checkpoint(model_dir):
    """Reads config.json and model.safetensors (or the shards of model.safetensors.index.json)."""
    try:
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"cannot read {model_dir}/config.json: {e}")
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    tensors = {}
    try:
        if os.path.exists(single):
            tensors, _ = st_io.read_tensors(single)
        elif os.path.exists(index):
            with open(index, encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            for shard in shards:
                if os.path.basename(shard) != shard:
                    fail(f"index names a shard outside the folder: {shard!r}")
                tensors.update(st_io.read_tensors(os.path.join(model_dir, shard))[0])
        else:
            fail(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")
    except st_io.SafetensorsError as e:
        fail(str(e))
    return cfg, tensors


class Model:
    def __init__(self, cfg_json, tensors, ternary=False, gamma_f16=False):
        self.cfg = cfg = Config(cfg_json)
        self.ternary = ternary
        self._t = tensors
        self._used = set()
        d, di, N, R, K = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.dt_rank, cfg.d_conv
        H, KV, hd = cfg.n_head, cfg.n_kv_head, cfg.head_dim

        def lin(name, out_f, in_f, bias):
            W = self.get(name + ".weight", (out_f, in_f))
            b = self.get(name + ".bias", (out_f,)) if bias else None
            return Linear(name, W, b, ternary, gamma_f16)

        self.embed = self.get("model.embed_tokens.weight", (cfg.vocab, d)).astype(np.float64)
        self.final_ln = self.ln("model.final_layernorm", d)
        if cfg.tie:
            self.lm_head = Linear("lm_head", self.embed)  # never ternary
        else:
            self.lm_head = Linear("lm_head", self.get("lm_head.weight", (cfg.vocab, d)))
        self.layers = []
        for l in range(cfg.n_layer):
            p = f"model.layers.{l}."
            L = {"kind": cfg.kind(l), "ln_in": self.ln(p + "input_layernorm", d),
                 "ln_post": self.ln(p + "post_attention_layernorm", d),
                 "fc1": lin(p + "mlp.fc1", 2 * cfg.d_ff, d, cfg.mlp_bias),
                 "fc2": lin(p + "mlp.fc2", d, cfg.d_ff, cfg.mlp_bias)}
            a = p + "attn."
            if L["kind"] == "mamba":
                L["in_proj"] = lin(a + "in_proj", 2 * di, d, cfg.proj_bias)
                L["conv_w"] = self.get(a + "conv1d.weight", (di, 1, K))[:, 0, :].astype(np.float64)
                L["conv_b"] = (self.get(a + "conv1d.bias", (di,)).astype(np.float64)
                               if cfg.conv_bias else np.zeros(di))
                L["x_proj"] = lin(a + "x_proj", R + 2 * N, di, False)
                L["dt_proj"] = lin(a + "dt_proj", di, R, True)
                L["A"] = -np.exp(self.get(a + "A_log", (di, N)).astype(np.float64))  # §4.3 step 5
                L["D"] = self.get(a + "D", (di,)).astype(np.float64)
                L["out_proj"] = lin(a + "out_proj", d, di, cfg.proj_bias)
            elif L["kind"] == "gmu":
                L["in_proj"] = lin(a + "in_proj", di, d, cfg.proj_bias)
                L["out_proj"] = lin(a + "out_proj", d, di, cfg.proj_bias)
            else:
                q_out = H * hd + (2 * KV * hd if L["kind"] == "attn" else 0)
                L["Wqkv"] = lin(a + "Wqkv", q_out, d, True)
                L["out_proj"] = lin(a + "out_proj", d, H * hd, True)
                c = a + "inner_cross_attn."
                lq1, lk1, lq2, lk2 = (self.get(c + k, (hd,)).astype(np.float64)
                                      for k in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"))
                L["lambda_init"] = lambda_init(l)
                L["lambda"] = math.exp(lq1 @ lk1) - math.exp(lq2 @ lk2) + L["lambda_init"]
                L["subln"] = self.get(c + "subln.weight", (2 * hd,)).astype(np.float64)
                L["window"] = cfg.windows[l] if L["kind"] == "attn" else None
            self.layers.append(L)
        unused = sorted(set(tensors) - self._used)
        if unused:
            print(f"warning: {len(unused)} unused tensors, e.g. {unused[:3]}", file=sys.stderr)

    def get(self, name, shape):
        if name not in self._t:
            fail(f"checkpoint: missing tensor '{name}'")
        arr = self._t[name]
        if tuple(arr.shape) != tuple(shape):
            fail(f"checkpoint: tensor '{name}' has shape {list(arr.shape)}, expected {list(shape)}")
        self._used.add(name)
        return arr

    def ln(self, prefix, d):
        return (self.get(prefix + ".weight", (d,)).astype(np.float64),
                self.get(prefix + ".bias", (d,)).astype(np.float64))

    def check_tokens(self, tokens):
        if len(tokens) == 0:
            fail("no tokens given")
        for t in tokens:
            if not (0 <= t < self.cfg.vocab):
                fail(f"token id {t} out of range [0, {self.cfg.vocab})")


# ----------------------------------------------------------------------------------------------
# Blocks (one function each; x is [T, features] float64)

def silu(u):
    return u / (1.0 + np.exp(-u))


def softplus(v):
    """§4.3 step 4: log1p(exp(v)) for v <= 20, v above (as both CUDA paths do)."""
    return np.where(v > 20.0, v, np.log1p(np.exp(np.minimum(v, 20.0))))


def layer_norm(x, wb, eps):
    """§4.2: LayerNorm with weight and bias, biased variance."""
    w, b = wb
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def mlp(L, b):
    """§4.7: fc2(SiLU(gate) * up), gate = first half of fc1's outputs."""
    h = L["fc1"](b)
    I = h.shape[-1] // 2
    return L["fc2"](silu(h[..., :I]) * h[..., I:])


def gmu(L, a, mem):
    """§4.4: out_proj(SiLU(in_proj(a)) * m), m = layer n/2's memory of the same token."""
    return L["out_proj"](silu(L["in_proj"](a)) * mem)


def mamba_conv_ssm_inputs(L, u):
    """§4.3 steps 3-4 on conv outputs u [T, d_inner]: returns (Δ, B, C)."""
    R, N = L["dt_proj"].in_f, L["A"].shape[1]
    dbc = L["x_proj"](u)
    delta = softplus(L["dt_proj"](dbc[:, :R]))  # dt bias inside the softplus (pitfall 3)
    return delta, dbc[:, R:R + N], dbc[:, R + N:R + 2 * N]


def mamba_mixer(L, a):
    """§4.3 over a whole sequence. Returns (mixer output [T, d], memory y [T, d_inner])."""
    T = a.shape[0]
    xz = L["in_proj"](a)
    di = xz.shape[1] // 2
    x, z = xz[:, :di], xz[:, di:]  # x (conv branch) first, z (gate) second
    K = L["conv_w"].shape[1]
    # step 2: causal depthwise conv; w[:, K-1] multiplies the current input, x_s = 0 for s < 0
    u = np.tile(L["conv_b"], (T, 1))
    for t in range(T):
        for k in range(K):
            s = t - (K - 1) + k
            if s >= 0:
                u[t] += L["conv_w"][:, k] * x[s]
    u = silu(u)
    delta, B, C = mamba_conv_ssm_inputs(L, u)
    A, D = L["A"], L["D"]
    h = np.zeros_like(A)  # step 6, h_{-1} = 0
    y = np.empty((T, di))
    for t in range(T):
        h = np.exp(delta[t][:, None] * A) * h + (delta[t] * u[t])[:, None] * B[t][None, :]
        y[t] = h @ C[t] + D * u[t]  # step 7: readout with D skip = memory m_t
    return L["out_proj"](y * silu(z)), y


def diff_attention(L, q, k, v, allowed):
    """§4.5 differential attention. q [Tq, H*hd]; k, v [Tk, KV*hd]; allowed [Tq, Tk] bool.
    Returns the concatenated 40-head-style output [Tq, H*hd] before out_proj."""
    hd = L["subln"].shape[0] // 2
    Tq, Tk = q.shape[0], k.shape[0]
    H, KV = q.shape[1] // hd, k.shape[1] // hd
    qh, kh, vh = q.reshape(Tq, H, hd), k.reshape(Tk, KV, hd), v.reshape(Tk, KV, hd)
    Q1, Q2 = qh[:, 0::2], qh[:, 1::2]  # stripes by head parity
    K1, K2 = kh[:, 0::2], kh[:, 1::2]
    V12 = np.concatenate([vh[:, 0::2], vh[:, 1::2]], axis=-1)  # [Tk, KV/2, 2*hd]
    group = H // KV
    scale = 1.0 / math.sqrt(hd)
    lam, lam_init = L["lambda"], L["lambda_init"]
    out = np.empty((Tq, H * hd))

    def attend(Qp, Kr, Vr):
        s = np.where(allowed, (Qp @ Kr.T) * scale, -np.inf)
        s = np.exp(s - s.max(axis=1, keepdims=True))
        return (s / s.sum(axis=1, keepdims=True)) @ Vr

    for p in range(H // 2):
        r = p // group  # GQA inside each stripe
        U = attend(Q1[:, p], K1[:, r], V12[:, r]) - lam * attend(Q2[:, p], K2[:, r], V12[:, r])
        U = U / np.sqrt((U ** 2).mean(axis=1, keepdims=True) + 1e-5) * L["subln"] * (1.0 - lam_init)
        out[:, 2 * p * hd:(2 * p + 2) * hd] = U  # heads 2p, 2p+1
    return out


def split_qkv(L, qkv, H, KV, hd):
    return qkv[..., :H * hd], qkv[..., H * hd:(H + KV) * hd], qkv[..., (H + KV) * hd:]


# ----------------------------------------------------------------------------------------------
# Full-sequence forward (§4) and incremental decoder (§5)

def forward(model, tokens, dump=None):
    """Logits [T, vocab] for every position of `tokens`, whole sequence at once."""
    cfg = model.cfg
    model.check_tokens(tokens)
    T = len(tokens)
    H, KV, hd = cfg.n_head, cfg.n_kv_head, cfg.head_dim
    x = model.embed[np.asarray(tokens)]  # §4.1
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    causal = j <= i
    mem = shared = None

    def tap(name, arr):
        if dump is not None:
            np.save(os.path.join(dump, name + ".npy"), arr)

    tap("embed", x)
    for l, L in enumerate(model.layers):
        a = layer_norm(x, L["ln_in"], cfg.eps)
        if L["kind"] == "mamba":
            out, y = mamba_mixer(L, a)
            if l == cfg.half:
                mem = y
                tap("memory", mem)
        elif L["kind"] == "gmu":
            out = gmu(L, a, mem)
        else:
            qkv = L["Wqkv"](a)
            if L["kind"] == "attn":
                q, k, v = split_qkv(L, qkv, H, KV, hd)
                W = L["window"]
                allowed = causal if W is None else causal & (j > i - W)  # §4.6, window incl. current
                if l == cfg.half + 1:
                    shared = (k, v)  # YOCO shared K/V (§4.6)
            else:
                q, (k, v), allowed = qkv, shared, causal
            out = L["out_proj"](diff_attention(L, q, k, v, allowed))
        tap(f"layer{l:02d}_mixer", out)
        x = x + out
        x = x + mlp(L, layer_norm(x, L["ln_post"], cfg.eps))
        tap(f"layer{l:02d}_out", x)
    logits = model.lm_head(layer_norm(x, model.final_ln, cfg.eps))
    tap("logits", logits)
    return logits


class Decoder:
    """One token at a time with the §5 state: conv window (raw x of the last d_conv tokens), SSM
    state, SWA ring buffer of W slots (order irrelevant: no positional encoding), global K/V."""

    def __init__(self, model):
        self.m = model
        cfg = model.cfg
        self.state = []
        for L in model.layers:
            if L["kind"] == "mamba":
                self.state.append({"conv": np.zeros((cfg.d_inner, cfg.d_conv)),
                                   "h": np.zeros((cfg.d_inner, cfg.d_state))})
            elif L["kind"] == "attn":
                W = L["window"]
                cap = W if W is not None else 0
                kv = cfg.n_kv_head * cfg.head_dim
                self.state.append({"cap": cap, "k": np.zeros((cap, kv)), "v": np.zeros((cap, kv)),
                                   "n": 0, "kl": [], "vl": []})
            else:
                self.state.append(None)
        self.shared_k, self.shared_v = [], []

    def _mamba_step(self, L, S, a):
        xz = L["in_proj"](a[None, :])[0]
        di = xz.shape[0] // 2
        x, z = xz[:di], xz[di:]
        S["conv"] = np.concatenate([S["conv"][:, 1:], x[:, None]], axis=1)  # last column = current
        u = silu(L["conv_b"] + (S["conv"] * L["conv_w"]).sum(axis=1))
        delta, B, C = mamba_conv_ssm_inputs(L, u[None, :])
        delta, B, C = delta[0], B[0], C[0]
        S["h"] = np.exp(delta[:, None] * L["A"]) * S["h"] + (delta * u)[:, None] * B[None, :]
        y = S["h"] @ C + L["D"] * u
        return L["out_proj"](y * silu(z)), y

    def _attn_step(self, L, S, a):
        cfg = self.m.cfg
        q, k, v = split_qkv(L, L["Wqkv"](a[None, :]), cfg.n_head, cfg.n_kv_head, cfg.head_dim)
        if S["cap"]:  # ring buffer: overwrite the oldest slot once full
            slot = S["n"] % S["cap"]
            S["k"][slot], S["v"][slot] = k[0], v[0]
            S["n"] += 1
            m = min(S["n"], S["cap"])
            keys, vals = S["k"][:m], S["v"][:m]
        else:
            S["kl"].append(k[0])
            S["vl"].append(v[0])
            keys, vals = np.array(S["kl"]), np.array(S["vl"])
        return q, keys, vals

    def step(self, token):
        """Feeds one token; returns its logits [vocab]."""
        m, cfg = self.m, self.m.cfg
        m.check_tokens([token])
        x = m.embed[token].copy()
        mem = None
        for l, (L, S) in enumerate(zip(m.layers, self.state)):
            a = layer_norm(x, L["ln_in"], cfg.eps)
            if L["kind"] == "mamba":
                out, y = self._mamba_step(L, S, a)
                if l == cfg.half:
                    mem = y
            elif L["kind"] == "gmu":
                out = gmu(L, a, mem)
            else:
                if L["kind"] == "attn":
                    q, keys, vals = self._attn_step(L, S, a)
                    if l == cfg.half + 1:
                        self.shared_k, self.shared_v = S["kl"], S["vl"]
                else:
                    q = L["Wqkv"](a[None, :])
                    keys, vals = np.array(self.shared_k), np.array(self.shared_v)
                allowed = np.ones((1, keys.shape[0]), dtype=bool)
                out = L["out_proj"](diff_attention(L, q, keys, vals, allowed))[0]
            x = x + out
            x = x + mlp(L, layer_norm(x, L["ln_post"], cfg.eps))
        return m.lm_head(layer_norm(x, m.final_ln, cfg.eps))


def decode_all(model, tokens):
    dec = Decoder(model)
    model.check_tokens(tokens)
    return np.stack([dec.step(t) for t in tokens])


def self_check(model, tokens, tol=1e-9):
    """Full-sequence vs incremental logits; returns (max abs diff, logits)."""
    full = forward(model, tokens)
    inc = decode_all(model, tokens)
    diff = float(np.abs(full - inc).max())
    if not diff <= tol * max(1.0, float(np.abs(full).max())):
        fail(f"self-check failed: full vs incremental logits differ by {diff:.3e}")
    return diff, full


def write_logits(path, logits):
    np.asarray(logits, dtype="<f4").tofile(path)


def compare_logits(path, want, tol):
    """Compares a logits file (n_tokens x vocab f32 LE, e.g. from `bitflash logits`) with `want`.
    Returns True when max |got - want| <= tol * max|want|."""
    got = np.fromfile(path, dtype="<f4").astype(np.float64)
    if got.size != want.size:
        fail(f"{path}: {got.size} values, expected {want.shape[0]} x {want.shape[1]} = {want.size}")
    got = got.reshape(want.shape)
    diff = np.abs(got - want)
    scale = float(np.abs(want).max())
    agree = int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
    print(f"compare {path}: max|diff| {diff.max():.3e} ({diff.max() / scale:.3e} of max|logit| {scale:.3f}), "
          f"mean|diff| {diff.mean():.3e}, argmax agrees at {agree}/{want.shape[0]} positions")
    return bool(diff.max() <= tol * scale)


def parse_tokens(text):
    parts = text.replace(",", " ").split()
    try:
        return [int(p) for p in parts]
    except ValueError:
        fail(f"tokens must be integers separated by commas or spaces: {text[:80]!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="float64 SambaY reference: write logits (n_tokens x vocab, f32 LE)")
    ap.add_argument("--model", required=True, help="folder with config.json and model.safetensors")
    ap.add_argument("--tokens", help="token ids, e.g. 1,2,3")
    ap.add_argument("--tokens-file", help="file with token ids (space/comma separated)")
    ap.add_argument("-o", "--output", help="output logits file (.f32)")
    ap.add_argument("--ternary", action="store_true", help="BitNet b1.58 simulation (see README)")
    ap.add_argument("--gamma-f16", action="store_true", help="ternary: round gamma to fp16 like a TQ2_0 scale")
    ap.add_argument("--decode", action="store_true", help="use the incremental decoder (one token at a time)")
    ap.add_argument("--check", action="store_true", help="run both paths and compare them")
    ap.add_argument("--dump", help="folder for per-layer intermediates (.npy), full-sequence path")
    ap.add_argument("--compare", help="logits file to compare with (exit 2 if it differs by more than --tol)")
    ap.add_argument("--tol", type=float, default=1e-4, help="--compare tolerance, relative to max|logit|")
    args = ap.parse_args(argv)
    try:
        if (args.tokens is None) == (args.tokens_file is None):
            fail("give exactly one of --tokens and --tokens-file")
        if args.tokens_file:
            with open(args.tokens_file, encoding="utf-8") as f:
                tokens = parse_tokens(f.read())
        else:
            tokens = parse_tokens(args.tokens)
        cfg, tensors = load_checkpoint(args.model)
        model = Model(cfg, tensors, ternary=args.ternary, gamma_f16=args.gamma_f16)
        model.check_tokens(tokens)
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
        if args.check:
            diff, logits = self_check(model, tokens)
            print(f"self-check ok: max |full - incremental| = {diff:.3e}")
        elif args.decode:
            logits = decode_all(model, tokens)
        else:
            logits = forward(model, tokens, dump=args.dump)
        if args.dump and (args.check or args.decode):
            forward(model, tokens, dump=args.dump)
        if args.output:
            write_logits(args.output, logits)
        print(f"{len(tokens)} tokens, logits std {logits.std():.3f}, argmax last = {int(logits[-1].argmax())}")
        if args.compare and not compare_logits(args.compare, logits, args.tol):
            print(f"error: {args.compare} differs by more than {args.tol} x max|logit|", file=sys.stderr)
            return 2
    except (RefError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
