# PyTorch SambaY (Phi-4-mini-flash-reasoning architecture) with the HF checkpoint's tensor names,
# optional BitNet b1.58 BitLinear projections, a parallel training forward, a one-token decode step
# with recurrent/KV state, and a minimal safetensors writer/reader.
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_TERNARY_BLOCK = 256  # engine's TQ2_0 block width: only projections with in_features % 256 == 0 are ternary


def quant_weight_ternary(w):
    """absmean per tensor: gamma = mean|W|, Wq = clip(round(W/gamma), -1, 1); returns gamma*Wq."""
    gamma = w.abs().mean().clamp(min=1e-8)
    return torch.clamp(torch.round(w / gamma), -1, 1) * gamma


def quant_act_int8(x):
    """absmax per token: s = 127/max|x|; x_eff = clip(round(x*s), -127, 127)/s (zero rows stay zero)."""
    m = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    s = 127.0 / m
    return torch.clamp(torch.round(x * s), -127, 127) / s


class BitLinear(nn.Linear):
    """nn.Linear whose forward uses ternary weights and int8 activations, straight-through gradients."""

    def __init__(self, in_f, out_f, bias, ternary):
        super().__init__(in_f, out_f, bias=bias)
        self.ternary = ternary and in_f % _TERNARY_BLOCK == 0
        self.prequantized = False  # True after loading an exported gamma*Wq weight: use it as is

    def forward(self, x):
        if not self.ternary:
            return F.linear(x, self.weight, self.bias)
        if self.prequantized:
            w = self.weight
        else:
            w = self.weight + (quant_weight_ternary(self.weight) - self.weight).detach()
        xq = x + (quant_act_int8(x) - x).detach()
        return F.linear(xq, w, self.bias)


def lambda_init(layer_idx):
    return 0.8 - 0.6 * math.exp(-0.3 * layer_idx)


class Cfg:
    def __init__(self, d):
        self.d = d
        self.hidden = d["hidden_size"]
        self.inter = d["intermediate_size"]
        self.n_layers = d["num_hidden_layers"]
        self.n_heads = d["num_attention_heads"]
        self.n_kv = d["num_key_value_heads"]
        self.head_dim = self.hidden // self.n_heads
        self.vocab = d["vocab_size"]
        self.window = d["sliding_window"]
        # The released config.json omits the Mamba keys: the HF config class defaults apply.
        self.d_state = d.get("mamba_d_state", 16)
        self.d_conv = d.get("mamba_d_conv", 4)
        self.d_inner = d.get("mamba_expand", 2) * self.hidden
        dt_rank = d.get("mamba_dt_rank", "auto")
        self.dt_rank = math.ceil(self.hidden / 16) if dt_rank == "auto" else dt_rank
        self.eps = d["layer_norm_eps"]
        assert self.n_layers % 4 == 0 and d.get("mb_per_layer", 2) == 2
        assert self.n_heads % self.n_kv == 0 and self.n_kv % 2 == 0

    @staticmethod
    def from_json(path):
        with open(path) as f:
            return Cfg(json.load(f))


def layer_kind(cfg, l):
    """'mamba' | 'mamba_mem' | 'gmu' | 'swa' | 'global' | 'cross' (architecture.md section 3.1)."""
    h = cfg.n_layers // 2
    if l % 2 == 0:
        return "gmu" if l >= h + 2 else ("mamba_mem" if l == h else "mamba")
    if l >= h + 2:
        return "cross"
    return "global" if l == h + 1 else "swa"


def scan_reference(u, dt, A, B, C):
    """Plain autograd selective scan (the definition; used by the tests): y_t = C_t . h_t,
    h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t. u, dt: [b,T,d]; A: [d,N]; B, C: [b,T,N]."""
    dA = torch.exp(dt.unsqueeze(-1) * A)
    dBu = (dt * u).unsqueeze(-1) * B.unsqueeze(2)
    h = torch.zeros_like(dBu[:, 0])
    ys = []
    for t in range(u.shape[1]):
        h = dA[:, t] * h + dBu[:, t]
        ys.append(torch.bmm(h, C[:, t].unsqueeze(-1)).squeeze(-1))
    return torch.stack(ys, 1)


class _SelectiveScan(torch.autograd.Function):
    """Same math as scan_reference with a hand-written backward: the autograd loop spent most of a
    training step on per-timestep graph bookkeeping and [b,T,d,N] temporaries."""

    @staticmethod
    def forward(ctx, u, dt, A, B, C):
        b, T, d = u.shape
        hs = u.new_empty(T, b, d, A.shape[1])
        ys = u.new_empty(b, T, d)
        x = dt * u
        h = u.new_zeros(b, d, A.shape[1])
        for t in range(T):
            h = torch.exp(dt[:, t, :, None] * A) * h + x[:, t, :, None] * B[:, t, None, :]
            hs[t] = h
            ys[:, t] = torch.bmm(h, C[:, t, :, None]).squeeze(-1)
        ctx.save_for_backward(u, dt, A, B, C, hs)
        return ys

    @staticmethod
    def backward(ctx, gy):
        u, dt, A, B, C, hs = ctx.saved_tensors
        T = u.shape[1]
        gy = gy.contiguous()
        gu, gdt, gB, gC = (torch.empty_like(v) for v in (u, dt, B, C))
        gA = torch.zeros_like(A)
        gh = torch.zeros_like(hs[0])
        x = dt * u
        for t in reversed(range(T)):
            gC[:, t] = torch.bmm(gy[:, t, None, :], hs[t]).squeeze(1)
            gh = gh + gy[:, t, :, None] * C[:, t, None, :]          # total dL/dh_t
            gx = torch.bmm(gh, B[:, t, :, None]).squeeze(-1)         # through x_t B_t
            gB[:, t] = torch.bmm(x[:, t, None, :], gh).squeeze(1)
            dA = torch.exp(dt[:, t, :, None] * A)
            gdt_t = gx * u[:, t]
            if t > 0:  # h_{-1} = 0: no gradient through the decay at t = 0
                g_arg = gh * hs[t - 1] * dA                          # dL/d(dt_t A)
                gdt_t = gdt_t + (g_arg * A).sum(-1)
                gA += (g_arg * dt[:, t, :, None]).sum(0)
            gdt[:, t] = gdt_t
            gu[:, t] = gx * dt[:, t]
            gh = gh * dA
        return gu, gdt, gA, gB, gC


def selective_scan(u, dt, A, B, C):
    return _SelectiveScan.apply(u, dt, A, B, C)


class Mamba(nn.Module):
    def __init__(self, cfg, ternary, gmu):
        super().__init__()
        self.cfg, self.gmu = cfg, gmu
        di = cfg.d_inner
        if gmu:
            self.in_proj = BitLinear(cfg.hidden, di, False, ternary)
            self.out_proj = BitLinear(di, cfg.hidden, False, ternary)
            return
        self.in_proj = BitLinear(cfg.hidden, 2 * di, False, ternary)
        self.conv1d = nn.Conv1d(di, di, cfg.d_conv, groups=di, bias=True, padding=cfg.d_conv - 1)
        self.x_proj = BitLinear(di, cfg.dt_rank + 2 * cfg.d_state, False, ternary)
        self.dt_proj = BitLinear(cfg.dt_rank, di, True, ternary)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, cfg.d_state + 1, dtype=torch.float32))
                                  .repeat(di, 1).contiguous())
        self.D = nn.Parameter(torch.ones(di))
        self.out_proj = BitLinear(di, cfg.hidden, False, ternary)
        # Mamba's dt init: softplus(bias) log-uniform in [1e-3, 1e-1].
        with torch.no_grad():
            dt = torch.exp(torch.rand(di) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            std = cfg.dt_rank ** -0.5
            self.dt_proj.weight.uniform_(-std, std)

    def _ssm_inputs(self, u):
        c = self.cfg
        xdbc = self.x_proj(u)
        draw, B, C = torch.split(xdbc, [c.dt_rank, c.d_state, c.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(draw))
        A = -torch.exp(self.A_log)
        return dt, A, B, C

    def forward(self, a, memory=None):
        """a: [b,T,hidden]. Returns (out, memory_out). GMU uses memory; mamba_mem exports y."""
        if self.gmu:
            return self.out_proj(F.silu(self.in_proj(a)) * memory), memory
        T = a.shape[1]
        x, z = self.in_proj(a).chunk(2, dim=-1)
        u = F.silu(self.conv1d(x.transpose(1, 2))[..., :T].transpose(1, 2))
        dt, A, B, C = self._ssm_inputs(u)
        y = selective_scan(u, dt, A, B, C) + u * self.D
        return self.out_proj(y * F.silu(z)), y

    def step(self, a, state, memory=None):
        """a: [b,hidden] one token; state = (conv_buf [b,di,K-1], h [b,di,N])."""
        if self.gmu:
            return self.out_proj(F.silu(self.in_proj(a)) * memory), memory, state
        x, z = self.in_proj(a).chunk(2, dim=-1)
        conv_buf, h = state
        win = torch.cat([conv_buf, x.unsqueeze(-1)], dim=-1)            # [b,di,K], last = current
        u = F.silu((win * self.conv1d.weight.squeeze(1)).sum(-1) + self.conv1d.bias)
        dt, A, B, C = self._ssm_inputs(u)
        h = torch.exp(dt.unsqueeze(-1) * A) * h + (dt * u).unsqueeze(-1) * B.unsqueeze(1)
        y = torch.einsum("bdn,bn->bd", h, C) + u * self.D
        return self.out_proj(y * F.silu(z)), y, (win[..., 1:], h)

    def init_state(self, b):
        c = self.cfg
        return (torch.zeros(b, c.d_inner, c.d_conv - 1), torch.zeros(b, c.d_inner, c.d_state))


class InnerDiffAttn(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        hd = cfg.head_dim
        self.lambda_init = lambda_init(layer_idx)
        self.lambda_q1 = nn.Parameter(torch.randn(hd) * 0.1)
        self.lambda_k1 = nn.Parameter(torch.randn(hd) * 0.1)
        self.lambda_q2 = nn.Parameter(torch.randn(hd) * 0.1)
        self.lambda_k2 = nn.Parameter(torch.randn(hd) * 0.1)
        self.subln = nn.Module()
        self.subln.weight = nn.Parameter(torch.ones(2 * hd))

    def forward(self, q, k, v, mask):
        """q: [b,Tq,H,hd]; k,v: [b,Tk,KV,hd]; mask: bool [Tq,Tk] (True = may attend)."""
        b, Tq, H, hd = q.shape
        KV = k.shape[2]
        rep = H // KV
        q1, q2 = q[:, :, 0::2], q[:, :, 1::2]                           # [b,Tq,H/2,hd]
        k1, k2 = k[:, :, 0::2], k[:, :, 1::2]                           # [b,Tk,KV/2,hd]
        vv = torch.cat([v[:, :, 0::2], v[:, :, 1::2]], dim=-1)          # [b,Tk,KV/2,2hd]
        k1, k2, vv = (t.repeat_interleave(rep, dim=2).transpose(1, 2) for t in (k1, k2, vv))
        q1, q2 = q1.transpose(1, 2), q2.transpose(1, 2)
        scale = hd ** -0.5
        neg = torch.finfo(q.dtype).min

        def branch(qq, kk):
            s = torch.matmul(qq, kk.transpose(-1, -2)) * scale
            return torch.matmul(torch.softmax(s.masked_fill(~mask, neg), dim=-1), vv)

        o1, o2 = branch(q1, k1), branch(q2, k2)                         # [b,H/2,Tq,2hd]
        lam = (torch.exp(torch.dot(self.lambda_q1, self.lambda_k1))
               - torch.exp(torch.dot(self.lambda_q2, self.lambda_k2)) + self.lambda_init)
        u = o1 - lam * o2
        u = u * torch.rsqrt(u.pow(2).mean(-1, keepdim=True) + 1e-5) * self.subln.weight
        u = u * (1.0 - self.lambda_init)
        return u.transpose(1, 2).reshape(b, Tq, H * hd)                 # pair p -> heads 2p, 2p+1


class Attention(nn.Module):
    def __init__(self, cfg, layer_idx, kind, ternary):
        super().__init__()
        self.cfg, self.kind = cfg, kind
        hd = cfg.head_dim
        out = cfg.n_heads * hd if kind == "cross" else (cfg.n_heads + 2 * cfg.n_kv) * hd
        self.Wqkv = BitLinear(cfg.hidden, out, True, ternary)
        self.out_proj = BitLinear(cfg.n_heads * hd, cfg.hidden, True, ternary)
        self.inner_cross_attn = InnerDiffAttn(cfg, layer_idx)

    def _qkv(self, a):
        c = self.cfg
        hd = c.head_dim
        p = self.Wqkv(a)
        if self.kind == "cross":
            return p.unflatten(-1, (c.n_heads, hd)), None, None
        q, k, v = torch.split(p, [c.n_heads * hd, c.n_kv * hd, c.n_kv * hd], dim=-1)
        return (q.unflatten(-1, (c.n_heads, hd)), k.unflatten(-1, (c.n_kv, hd)),
                v.unflatten(-1, (c.n_kv, hd)))

    def forward(self, a, shared_kv):
        T = a.shape[1]
        q, k, v = self._qkv(a)
        if self.kind == "cross":
            k, v = shared_kv
        i = torch.arange(T).unsqueeze(1)
        j = torch.arange(T).unsqueeze(0)
        mask = j <= i
        if self.kind == "swa":
            mask = mask & (i - j < self.cfg.window)
        o = self.inner_cross_attn(q, k, v, mask)
        return self.out_proj(o), ((k, v) if self.kind == "global" else shared_kv)

    def step(self, a, cache, shared_kv):
        """a: [b,hidden]; cache: (K,V) [b,t,KV,hd] of earlier tokens or None."""
        q, k, v = self._qkv(a.unsqueeze(1))
        if self.kind == "cross":
            k, v = shared_kv
        else:
            if cache is not None:
                k, v = torch.cat([cache[0], k], 1), torch.cat([cache[1], v], 1)
            cache = (k, v)
            if self.kind == "swa":
                k, v = k[:, -self.cfg.window:], v[:, -self.cfg.window:]
        mask = torch.ones(1, k.shape[1], dtype=torch.bool)
        o = self.inner_cross_attn(q, k, v, mask)[:, 0]
        return self.out_proj(o), cache, ((k, v) if self.kind == "global" else shared_kv)


class MLP(nn.Module):
    def __init__(self, cfg, ternary):
        super().__init__()
        self.fc1 = BitLinear(cfg.hidden, 2 * cfg.inter, False, ternary)
        self.fc2 = BitLinear(cfg.inter, cfg.hidden, False, ternary)

    def forward(self, b):
        gate, up = self.fc1(b).chunk(2, dim=-1)
        return self.fc2(F.silu(gate) * up)


class Layer(nn.Module):
    def __init__(self, cfg, l, ternary):
        super().__init__()
        self.kind = layer_kind(cfg, l)
        self.input_layernorm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.post_attention_layernorm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        if self.kind in ("mamba", "mamba_mem", "gmu"):
            self.attn = Mamba(cfg, ternary, gmu=self.kind == "gmu")
        else:
            self.attn = Attention(cfg, l, self.kind, ternary)
        self.mlp = MLP(cfg, ternary)


class Inner(nn.Module):
    def __init__(self, cfg, ternary):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab, cfg.hidden)
        self.layers = nn.ModuleList([Layer(cfg, l, ternary) for l in range(cfg.n_layers)])
        self.final_layernorm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)


class SambaY(nn.Module):
    def __init__(self, cfg, ternary=False):
        super().__init__()
        self.cfg, self.ternary = cfg, ternary
        self.model = Inner(cfg, ternary)
        nn.init.normal_(self.model.embed_tokens.weight, std=0.02)
        for name, p in self.named_parameters():
            if name.endswith(("in_proj.weight", "x_proj.weight", "out_proj.weight", "Wqkv.weight",
                              "fc1.weight", "fc2.weight")):
                nn.init.normal_(p, std=0.02)
            elif name.endswith(("Wqkv.bias", "out_proj.bias")):
                nn.init.zeros_(p)

    def forward(self, ids, hidden=None):
        """ids: [b,T] -> logits [b,T,V]; a list passed as hidden receives the residual stream after each
        layer (distillation's hidden-state term)."""
        x = self.model.embed_tokens(ids)
        memory = shared_kv = None
        for layer in self.model.layers:
            a = layer.input_layernorm(x)
            if layer.kind in ("mamba", "mamba_mem", "gmu"):
                o, y = layer.attn(a, memory)
                if layer.kind == "mamba_mem":
                    memory = y
            else:
                o, shared_kv = layer.attn(a, shared_kv)
            x = x + o
            x = x + layer.mlp(layer.post_attention_layernorm(x))
            if hidden is not None:
                hidden.append(x)
        return F.linear(self.model.final_layernorm(x), self.model.embed_tokens.weight)

    def init_cache(self, b):
        return [layer.attn.init_state(b) if layer.kind in ("mamba", "mamba_mem") else None
                for layer in self.model.layers]

    def step(self, ids, cache):
        """ids: [b] one token per sequence; cache from init_cache (updated in place). Returns logits [b,V]."""
        x = self.model.embed_tokens(ids)
        memory = shared_kv = None
        for i, layer in enumerate(self.model.layers):
            a = layer.input_layernorm(x)
            if layer.kind in ("mamba", "mamba_mem", "gmu"):
                o, y, cache[i] = layer.attn.step(a, cache[i], memory)
                if layer.kind == "mamba_mem":
                    memory = y
            else:
                o, cache[i], shared_kv = layer.attn.step(a, cache[i], shared_kv)
            x = x + o
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return F.linear(self.model.final_layernorm(x), self.model.embed_tokens.weight)

    def bitlinear_names(self):
        return [n + ".weight" for n, m in self.named_modules() if isinstance(m, BitLinear) and m.ternary]

    def export_state(self):
        """Tensors as shipped: BitLinear weights replaced by gamma*Wq (exactly ternary); tied lm_head omitted."""
        sd = {k: v.detach().clone().float() for k, v in self.state_dict().items()}
        if self.ternary:
            for n in self.bitlinear_names():
                sd[n] = quant_weight_ternary(sd[n])
        return sd


def load_exported(folder):
    """Model from a shipped folder (config.json + model.safetensors); ternary if the config says so."""
    with open(f"{folder}/config.json") as f:
        d = json.load(f)
    ternary = d.get("quantization_config", {}).get("quant_method") == "bitnet"
    m = SambaY(Cfg(d), ternary=ternary)
    sd = load_safetensors(f"{folder}/model.safetensors")
    m.load_state_dict(sd, strict=True)
    for mod in m.modules():
        if isinstance(mod, BitLinear) and mod.ternary:
            mod.prequantized = True
    return m.eval()


# --- safetensors (format: u64 header length, JSON header, raw little-endian data) ---
_ST_DTYPES = {"F32": (np.float32, 4), "BF16": (np.uint16, 2)}


def save_safetensors(path, tensors, bf16_names=()):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().float().contiguous()
        if name in bf16_names:
            bits = t.view(torch.int32).numpy().astype(np.uint32)
            rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # RNE
            data, dt = rounded.tobytes(), "BF16"
        else:
            data, dt = t.numpy().astype("<f4").tobytes(), "F32"
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        raw = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        buf = raw[s:e]
        if info["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4").copy()
        elif info["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"unsupported dtype {info['dtype']} for {name}")
        out[name] = torch.from_numpy(arr.reshape(info["shape"]))
    del base
    return out
