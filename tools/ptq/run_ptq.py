# Measures post-training ternarization rules on the f32 twin: greedy accuracy on the 500 held-out problems
# through the quantized forward (ternary weights, per-token int8 activations as BitLinear), and the KL /
# same-top-token rate against the f32 twin on unseen text of the training distribution.
#   OMP_NUM_THREADS=1 nice -n 15 /usr/bin/python3 tools/ptq/run_ptq.py [--variants a,b] [--eval-n 500]
import argparse
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
sys.path.insert(0, HERE)
import mathdata  # noqa: E402
import sambay_torch as st  # noqa: E402
import train as tr  # noqa: E402
import ternarize as tz  # noqa: E402
from bpe_tokenizer import Tokenizer  # noqa: E402

TWIN = os.path.join(ROOT, "models", "sambay-math-f32twin")
# Training drew its examples from mathdata.training_stream(held-out keys, 42): 1026 steps x 32 = 32,832
# examples in pools of 256, so at most 33,024; replaying 40,000 covers every problem the twin saw.
TRAIN_SEED, TRAIN_REPLAY = 42, 40000
CALIB_SEED, KL_SEED = 20261207, 20261208  # neither 42 (training), 1234 (held-out) nor 7 (tokenizer)


def seen_keys():
    held = {r["key"] for r in mathdata.make_heldout(500, tr.HELDOUT_SEED)}
    rng, seen, n = random.Random(TRAIN_SEED), set(), 0
    while n < TRAIN_REPLAY:  # same draws as training_stream: skipped held-out keys consume no example
        key, _, _, _ = mathdata.sample_problem(rng)
        if key in held:
            continue
        seen.add(key)
        n += 1
    return held | seen


def unseen_texts(seed, n, exclude):
    """n rendered problems whose content key the twin never trained on and that is not held out."""
    rng, out, keys = random.Random(seed), [], set()
    while len(out) < n:
        key, q, steps, ans = mathdata.sample_problem(rng)
        if key in exclude or key in keys:
            continue
        keys.add(key)
        out.append((key, mathdata.render(q, steps, ans)))
    return out


def bitlinears(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, st.BitLinear)
            and m.in_features % st._TERNARY_BLOCK == 0]


@torch.no_grad()
def calib_stats(model, tok, texts, prefix=""):
    """Per BitLinear (under `prefix`): H = X^T X over every calibration token; imp = diag(H) / tokens."""
    H, hooks = {}, []
    for name, mod in bitlinears(model):
        if not name.startswith(prefix):
            continue
        def hook(m, inp, out, name=name):
            x = inp[0].reshape(-1, inp[0].shape[-1]).double()
            H[name] = H.get(name, 0) + x.T @ x
        hooks.append(mod.register_forward_hook(hook))
    for _, t in texts:  # one text at a time: no padding enters the statistics
        model(torch.tensor([tok.encode(t)]))
    for h in hooks:
        h.remove()
    return H


def quantized_model(cfg_dict, sd, rule, H):
    m = st.SambaY(st.Cfg(cfg_dict), ternary=True)
    m.load_state_dict(sd, strict=True)
    errs = []
    with torch.no_grad():
        for name, mod in bitlinears(m):
            w = mod.weight.detach().clone()
            q = rule(w, H[name])
            errs.append(tz.proxy_error(w, q, H[name]))
            mod.weight.copy_(q)
            mod.prequantized = True
    return m.eval(), sum(errs) / len(errs)


def sequential_model(cfg_dict, sd, rule, tok, calib):
    """GPTQ's layer-by-layer order: each layer's Hessians come from inputs that already went through the
    quantized earlier layers (not-yet-quantized layers run in full precision; they cannot affect them)."""
    m = st.SambaY(st.Cfg(cfg_dict), ternary=True)
    m.load_state_dict(sd, strict=True)
    for _, mod in bitlinears(m):
        mod.ternary = False
    errs = []
    with torch.no_grad():
        for l in range(len(m.model.layers)):
            prefix = f"model.layers.{l}."
            H = calib_stats(m, tok, calib, prefix)
            for name, mod in bitlinears(m):
                if name.startswith(prefix):
                    w = mod.weight.detach().clone()
                    q = rule(w, H[name])
                    errs.append(tz.proxy_error(w, q, H[name]))
                    mod.weight.copy_(q)
                    mod.ternary = mod.prequantized = True
    return m.eval(), sum(errs) / len(errs)


def build(name, cfg_dict, ref, tok, H, table, calib_n):
    """(model, bits, proxy error) for a variant name of the table."""
    bits, rule = table[name.replace("-seq", "")]
    if name.endswith("-seq"):
        return (*sequential_model(cfg_dict, ref.state_dict(), rule, tok, calib_texts(calib_n)), bits)
    return (*quantized_model(cfg_dict, ref.state_dict(), rule, H), bits)


@torch.no_grad()
def logit_distance(ref, model, tok, texts):
    """Mean KL(P_f32 || P_quant) and same-argmax rate over the answer tokens (after <|assistant|>)."""
    kl_sum, same, n = 0.0, 0, 0
    for _, t in texts:
        ids, mask = tr.encode_example(tok, t)
        x = torch.tensor([ids[:-1]])
        pos = torch.tensor(mask[1:], dtype=torch.bool)
        lp = F.log_softmax(ref(x)[0][pos].double(), -1)
        lq = F.log_softmax(model(x)[0][pos].double(), -1)
        kl_sum += float((lp.exp() * (lp - lq)).sum())
        same += int((lp.argmax(-1) == lq.argmax(-1)).sum())
        n += int(pos.sum())
    return kl_sum / n, same / n, n


def rules(imp_of):
    """name -> (bits per weight as stored, rule(w, H)). TQ2_0: 2 bits + f16 per 256 = 2.0625."""
    return {
        "absmean-tensor": (2.0625, lambda w, H: tz.absmean_tensor(w)),
        "absmean-row": (2.0625, lambda w, H: tz.absmean_rows(w)),
        "absmean-block": (2.0625, lambda w, H: tz.absmean_blocks(w)),
        "mse-block": (2.0625, lambda w, H: tz.mse_blocks(w)),
        "imatrix-mse-block": (2.0625, lambda w, H: tz.mse_blocks(w, imp_of(H))),
        "gptq-row": (2.0625, lambda w, H: tz.gptq(w, H)),
        "residual2-mse-block": (4.125, lambda w, H: tz.residual_two_planes(w)),
        "residual2-imatrix-block": (4.125, lambda w, H: tz.residual_two_planes(w, imp_of(H))),
    }


def load(folder):
    torch.set_num_threads(1)
    with open(os.path.join(folder, "config.json")) as f:
        cfg_dict = json.load(f)
    return Tokenizer.load_hf(folder), cfg_dict, st.load_exported(folder)


def calib_texts(n):
    return unseen_texts(CALIB_SEED, n, seen_keys())


def calibration(ref, tok, n):
    """Calibration Hessians per BitLinear and the rule table (imatrix = diag(H) per token)."""
    calib = calib_texts(n)
    H = calib_stats(ref, tok, calib)
    ntok = sum(len(tok.encode(t)) for _, t in calib)
    return H, rules(lambda h: torch.diag(h) / ntok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="", help="comma list (default: all)")
    ap.add_argument("--eval-n", type=int, default=500)
    ap.add_argument("--calib-n", type=int, default=256)
    ap.add_argument("--kl-n", type=int, default=400)
    ap.add_argument("--out", default=os.path.join(HERE, "results.jsonl"))
    args = ap.parse_args()
    tok, cfg_dict, ref = load(TWIN)
    sd = ref.state_dict()
    H, table = calibration(ref, tok, args.calib_n)
    kltext = unseen_texts(KL_SEED, args.kl_n, seen_keys() | {k for k, _ in calib_texts(args.calib_n)})
    kinds = {}
    for k, _ in kltext:
        kinds[k[0]] = kinds.get(k[0], 0) + 1
    print(f"calib {args.calib_n} texts, KL {len(kltext)} texts {kinds}", flush=True)
    names = args.variants.split(",") if args.variants else ["f32"] + list(table) + ["gptq-row-seq"]
    held = tr.load_heldout()[:args.eval_n]
    for name in names:
        t0 = time.time()
        if name == "f32":
            model, bits, perr = ref, 32.0, 0.0
        else:
            model, perr, bits = build(name, cfg_dict, ref, tok, H, table, args.calib_n)
        kl, same, ntoks = logit_distance(ref, model, tok, kltext)
        acc, _, _ = tr.greedy_eval(model, tok, held)
        row = {"variant": name, "bits": bits, "accuracy": acc, "correct": round(acc * len(held)),
               "eval_n": len(held), "kl": kl, "same_top": same, "kl_tokens": ntoks, "proxy_err": perr,
               "seconds": round(time.time() - t0)}
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
