#!/usr/bin/env python3
# Generates the small random SambaY checkpoints under tests/fixtures/ and their float64 reference
# logits (deterministic: fixed seeds). Owns fixture shapes, weight initialisation and file layout;
# the math lives in sambay_ref.py. Usage: /usr/bin/python3 tools/reference/make_fixtures.py [OUT_DIR]

import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sambay_ref as ref  # noqa: E402
import st_io  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def base_config(d, ff, n, H, KV, vocab):
    """The keys the real config.json has (§1.1); token ids moved inside the tiny vocab."""
    special = vocab - 1
    return {
        "_attn_implementation": "flash_attention_2",
        "architectures": ["Phi4FlashForCausalLM"],
        "attention_dropout": 0.0,
        "auto_map": {"AutoConfig": "configuration_phi4flash.Phi4FlashConfig",
                     "AutoModelForCausalLM": "modeling_phi4flash.Phi4FlashForCausalLM"},
        "bos_token_id": special, "embd_pdrop": 0.0, "eos_token_id": special,
        "hidden_act": "silu", "hidden_size": d, "initializer_range": 0.02,
        "intermediate_size": ff, "layer_norm_eps": 1e-5, "lm_head_bias": False,
        "max_position_embeddings": 4096, "mb_per_layer": 2, "mlp_bias": False,
        "model_type": "phi4flash", "num_attention_heads": H, "num_hidden_layers": n,
        "num_key_value_heads": KV, "pad_token_id": special, "resid_pdrop": 0.0,
        "rope_theta": 10000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.46.1", "use_cache": True, "vocab_size": vocab,
    }


def random_weights(cfg, rng, embed_std=1.0):
    """Random tensors with the §2 names, scaled so activations stay O(1)."""
    c = ref.Config(cfg)
    d, di, N, R, K = c.d_model, c.d_inner, c.d_state, c.dt_rank, c.d_conv
    H, KV, hd = c.n_head, c.n_kv_head, c.head_dim
    t = {}

    def linear(name, out_f, in_f, bias=False):
        t[name + ".weight"] = rng.normal(0.0, 1.0 / math.sqrt(in_f), (out_f, in_f))
        if bias:
            t[name + ".bias"] = rng.normal(0.0, 0.02, out_f)

    def norm(name, n_):
        t[name + ".weight"] = 1.0 + rng.uniform(-0.1, 0.1, n_)
        t[name + ".bias"] = rng.normal(0.0, 0.02, n_)

    t["model.embed_tokens.weight"] = rng.normal(0.0, embed_std, (c.vocab, d))
    for l in range(c.n_layer):
        p = f"model.layers.{l}."
        a = p + "attn."
        norm(p + "input_layernorm", d)
        norm(p + "post_attention_layernorm", d)
        kind = c.kind(l)
        if kind == "mamba":
            linear(a + "in_proj", 2 * di, d)
            t[a + "conv1d.weight"] = rng.normal(0.0, 1.0 / math.sqrt(K), (di, 1, K))
            t[a + "conv1d.bias"] = rng.normal(0.0, 0.02, di)
            linear(a + "x_proj", R + 2 * N, di)
            linear(a + "dt_proj", di, R)
            dt = np.exp(rng.uniform(math.log(1e-3), math.log(1e-1), di))
            t[a + "dt_proj.bias"] = dt + np.log(-np.expm1(-dt))  # inverse softplus
            t[a + "A_log"] = np.log(rng.uniform(1.0, 16.0, (di, N)))
            t[a + "D"] = 1.0 + rng.uniform(-0.1, 0.1, di)
            linear(a + "out_proj", d, di)
        elif kind == "gmu":
            linear(a + "in_proj", di, d)
            linear(a + "out_proj", d, di)
        else:
            q_out = H * hd + (2 * KV * hd if kind == "attn" else 0)
            linear(a + "Wqkv", q_out, d, bias=True)
            linear(a + "out_proj", d, H * hd, bias=True)
            for k in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"):
                t[a + "inner_cross_attn." + k] = rng.normal(0.0, 0.1, hd)
            t[a + "inner_cross_attn.subln.weight"] = 1.0 + rng.uniform(-0.1, 0.1, 2 * hd)
        linear(p + "mlp.fc1", 2 * c.d_ff, d)
        linear(p + "mlp.fc2", d, c.d_ff)
    norm("model.final_layernorm", d)
    if not c.tie:  # 3x the usual scale so untied logits have std ~3 rather than ~1
        t["lm_head.weight"] = rng.normal(0.0, 3.0 / math.sqrt(d), (c.vocab, d))
    return t


def storage_dtypes(tensors, kind):
    """'F32' everywhere, or 'BF16' with A_log and lambda_* in F32 as in the real release (§1.2)."""
    if kind == "F32":
        return {n: "F32" for n in tensors}
    return {n: ("F32" if n.endswith(".A_log") or ".lambda_" in n else "BF16") for n in tensors}


def greedy_continue(model, prompt, n_new):
    """Prompt followed by n_new greedy tokens (argmax of the previous position's logits).
    Also returns the smallest top-1/top-2 logit margin of those choices."""
    dec = ref.Decoder(model)
    tokens, margin = list(prompt), float("inf")
    for tok in prompt[:-1]:
        dec.step(tok)
    logits = dec.step(prompt[-1])
    for _ in range(n_new):
        top2 = np.sort(logits)[-2:]
        margin = min(margin, float(top2[1] - top2[0]))
        nxt = int(logits.argmax())
        tokens.append(nxt)
        logits = dec.step(nxt)
    return tokens, margin


def write_fixture(out_root, name, cfg, tensors, dtype_kind, tokens=None, prompt=None, n_new=0,
                  ternary=False, note=""):
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    st_io.write_tensors(os.path.join(d, "model.safetensors"), tensors, storage_dtypes(tensors, dtype_kind))
    # Everything below uses the checkpoint as written (bf16-rounded), read back by the reader.
    cfg_back, tensors_back = ref.load_checkpoint(d)
    model = ref.Model(cfg_back, tensors_back)
    if tokens is None:
        tokens, margin = greedy_continue(model, prompt, n_new)
        print(f"  {name}: greedy continuation, smallest top-2 margin {margin:.4f}")
    with open(os.path.join(d, "tokens.txt"), "w", encoding="utf-8") as f:
        f.write(" ".join(str(t) for t in tokens) + "\n")
    diff, logits = ref.self_check(model, tokens)
    ref.write_logits(os.path.join(d, "logits.f32"), logits)
    print(f"  {name}: {len(tokens)} tokens, logits std {logits.std():.3f} max|.| {np.abs(logits).max():.3f}, "
          f"full vs incremental {diff:.2e}, size {os.path.getsize(os.path.join(d, 'model.safetensors'))} B {note}")
    if ternary:
        tmodel = ref.Model(cfg_back, tensors_back, ternary=True)
        tdiff, tlogits = ref.self_check(tmodel, tokens)
        ref.write_logits(os.path.join(d, "logits_ternary.f32"), tlogits)
        n_t = sum(1 for L in tmodel.layers for v in L.values() if isinstance(v, ref.Linear) and v.ternary)
        n_pre = sum(1 for L in tmodel.layers for v in L.values()
                    if isinstance(v, ref.Linear) and v.ternary and v.already_ternary)
        rel = np.abs(tlogits - logits).mean() / np.abs(logits).mean()
        print(f"  {name} ternary: {n_t} projections ternarized ({n_pre} already ternary), logits std "
              f"{tlogits.std():.3f}, mean |ternary - full| / mean |full| = {rel:.3f}, "
              f"full vs incremental {tdiff:.2e}")


def fixture_tiny8(out):
    """a. every code path at the smallest size (§3.1); d_conv/expand/conv_bias/proj_bias defaults."""
    cfg = base_config(32, 64, 8, 4, 2, 64)
    cfg.update({"sliding_window": 4, "mamba_d_state": 4, "mamba_dt_rank": 2, "torch_dtype": "float32"})
    rng = np.random.default_rng(1001)
    t = random_weights(cfg, rng)
    tokens = [int(x) for x in rng.integers(0, 64, 16)]
    write_fixture(out, "tiny8", cfg, t, "F32", tokens=tokens)


def fixture_bf16_untied(out):
    """b. bf16 storage, untied lm_head, all mamba_* keys absent (defaults), layer_types form;
    6-token prompt + 14 greedy tokens so decode crosses the window of 8."""
    cfg = base_config(64, 128, 12, 8, 4, 96)
    cfg.update({"tie_word_embeddings": False, "sliding_window": 8})
    del cfg["mb_per_layer"]  # default 2 as well
    cfg["layer_types"] = ["sliding_attention" if (l % 2 == 1 and l < 6) else "full_attention"
                          for l in range(12)]
    rng = np.random.default_rng(2002)
    t = random_weights(cfg, rng)
    prompt = [int(x) for x in rng.integers(0, 96, 6)]
    write_fixture(out, "bf16_untied", cfg, t, "BF16", prompt=prompt, n_new=14)


def fixture_ternary256(out):
    """c. every dimension a multiple of 256 where possible; expand 1 only to keep the file small;
    one tensor stored already ternary so the gamma detection is exercised; per-layer list form."""
    cfg = base_config(256, 256, 8, 4, 2, 64)
    cfg.update({"mamba_d_state": 8, "mamba_expand": 1, "mamba_dt_rank": 16, "mamba_d_conv": 4,
                "mamba_conv_bias": True, "mamba_proj_bias": False})
    cfg["sliding_window"] = [8 if (l % 2 == 1 and l < 4) else None for l in range(8)]
    rng = np.random.default_rng(3003)
    # Embedding std 0.5: with tied 256-wide embeddings, std 1 would give logit std ~16.
    t = random_weights(cfg, rng, embed_std=0.5)
    name = "model.layers.3.mlp.fc2.weight"
    g = float(st_io.round_to_bf16(np.float32(1.2 / math.sqrt(256))))
    t[name] = g * rng.integers(-1, 2, t[name].shape).astype(np.float64)
    tokens = [int(x) for x in rng.integers(0, 64, 12)]
    write_fixture(out, "ternary256", cfg, t, "BF16", tokens=tokens, ternary=True,
                  note=f"({name} pre-ternary, g = {g})")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else os.path.join(REPO, "tests", "fixtures")
    print(f"writing fixtures to {out}")
    fixture_tiny8(out)
    fixture_bf16_untied(out)
    fixture_ternary256(out)


if __name__ == "__main__":
    main()
