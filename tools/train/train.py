# Entry point: builds the held-out set and tokenizer, trains the ternary (BitLinear QAT) or f32 SambaY
# on synthetic math, evaluates greedy-decode accuracy and exports a Hugging Face folder under models/.
#   nice -n 19 /usr/bin/python3 tools/train/train.py prep
#   nice -n 19 /usr/bin/python3 tools/train/train.py train --variant ternary --minutes 33
import argparse
import json
import math
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mathdata  # noqa: E402
import sambay_torch as st  # noqa: E402
from bpe_tokenizer import Tokenizer, train_bpe  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, "models")
TOK_DIR = os.path.join(MODELS, "tokenizer-shared")  # build artefact; copied into both model folders
HELDOUT_SEED, TRAIN_SEED, TOK_SEED = 1234, 42, 7
N_MERGES = 400


def model_config(tok, hidden=256, inter=256, expand=1, layers=8, heads=4, kv=2):
    vocab = (tok.size + 63) // 64 * 64
    eot = tok.token_id("<|endoftext|>")
    return {
        "architectures": ["Phi4FlashForCausalLM"], "model_type": "phi4flash",
        "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
        "sliding_window": 64, "mb_per_layer": 2, "mamba_d_state": 16, "mamba_d_conv": 4,
        "mamba_expand": expand, "mamba_dt_rank": 16, "mamba_conv_bias": True, "mamba_proj_bias": False,
        "layer_norm_eps": 1e-5, "hidden_act": "silu", "mlp_bias": False, "lm_head_bias": False,
        "tie_word_embeddings": True, "max_position_embeddings": 4096, "rope_theta": 10000.0,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attention_dropout": 0.0, "initializer_range": 0.02,
        "bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot, "torch_dtype": "float32",
        "use_cache": True,
    }


def prep():
    os.makedirs(MODELS, exist_ok=True)
    held = mathdata.make_heldout(500, HELDOUT_SEED)
    with open(os.path.join(MODELS, "heldout_math500.jsonl"), "w") as f:
        for r in held:
            f.write(json.dumps({"problem": r["problem"], "answer": r["answer"]}) + "\n")
    os.makedirs(os.path.join(ROOT, "tests", "data"), exist_ok=True)
    with open(os.path.join(ROOT, "tests", "data", "heldout_small.jsonl"), "w") as f:
        for r in held[:50]:
            f.write(json.dumps({"problem": r["problem"], "answer": r["answer"]}) + "\n")
    keys = {r["key"] for r in held}
    stream = mathdata.training_stream(keys, TOK_SEED)
    corpus = [next(stream) for _ in range(20000)]
    # BPE never sees the special tokens: train on the text between them.
    pieces = []
    splitter = Tokenizer([]).added_re
    for t in corpus:
        pieces.extend(p for p in splitter.split(t) if p)
    merges = train_bpe(pieces, N_MERGES)
    tok = Tokenizer(merges)
    os.makedirs(TOK_DIR, exist_ok=True)
    tok.save_hf(TOK_DIR)
    lens = [len(tok.encode(t)) for t in corpus[:2000]]
    print(f"merges {len(merges)} vocab {tok.size} tokens/example mean {sum(lens)/len(lens):.1f} max {max(lens)}")


def load_heldout():
    with open(os.path.join(MODELS, "heldout_math500.jsonl")) as f:
        return [json.loads(l) for l in f]


def encode_example(tok, text):
    """ids and loss mask: loss on every token after <|assistant|> (think, answer, final <|end|>)."""
    ids = tok.encode(text)
    a = ids.index(tok.token_id("<|assistant|>"))
    return ids, [0] * (a + 1) + [1] * (len(ids) - a - 1)


def batches(tok, keys, seed, bsz):
    stream = mathdata.training_stream(keys, seed)
    pad = tok.token_id("<|endoftext|>")
    rng = random.Random(seed)
    while True:
        # Length bucketing: sort a pool of 8 batches by length so padding is not computed for nothing.
        pool = sorted((encode_example(tok, next(stream)) for _ in range(8 * bsz)), key=lambda e: len(e[0]))
        chunks = [pool[i:i + bsz] for i in range(0, len(pool), bsz)]
        rng.shuffle(chunks)
        for ex in chunks:
            yield _collate(ex, pad)


def _collate(ex, pad):
    bsz = len(ex)
    T = max(len(i) for i, _ in ex)
    ids = torch.full((bsz, T), pad, dtype=torch.long)
    mask = torch.zeros(bsz, T)
    for b, (i, m) in enumerate(ex):
        ids[b, :len(i)] = torch.tensor(i)
        mask[b, :len(m)] = torch.tensor(m, dtype=torch.float32)
    return ids, mask


def loss_fn(model, ids, mask):
    logits = model(ids[:, :-1])
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                           reduction="none")
    m = mask[:, 1:].reshape(-1)
    return (ce * m).sum() / m.sum()


@torch.no_grad()
def greedy_eval(model, tok, problems, max_new=160, log=None):
    """Greedy decoding with the recurrent step() (same quantized forward), grouped by prompt length."""
    model.eval()
    stops = {tok.token_id("<|end|>"), tok.token_id("<|endoftext|>")}
    enc = [tok.encode(mathdata.prompt(p["problem"])) for p in problems]
    groups = {}
    for i, e in enumerate(enc):
        groups.setdefault(len(e), []).append(i)
    outs = [None] * len(problems)
    for L, idx in groups.items():
        cache = model.init_cache(len(idx))
        prompt = torch.tensor([enc[i] for i in idx])
        for t in range(L):
            logits = model.step(prompt[:, t], cache)
        gen = [[] for _ in idx]
        done = [False] * len(idx)
        for _ in range(max_new):
            nxt = logits.argmax(-1)
            for b, v in enumerate(nxt.tolist()):
                if not done[b]:
                    if v in stops:
                        done[b] = True
                    else:
                        gen[b].append(v)
            if all(done):
                break
            logits = model.step(nxt, cache)
        for b, i in enumerate(idx):
            outs[i] = tok.decode(gen[b])
    correct = [mathdata.answers_match(o, p["answer"]) for o, p in zip(outs, problems)]
    return sum(correct) / len(problems), outs, correct


def export(model, tok, cfg_dict, folder, ternary, bf16=False):
    write_weights(model, cfg_dict, folder, ternary, bf16)
    tok.save_hf(folder)


def write_weights(model, cfg_dict, folder, ternary, bf16=False):
    """config.json + model.safetensors as shipped (ternary: BitLinear weights exactly gamma*Wq in F32)."""
    os.makedirs(folder, exist_ok=True)
    d = dict(cfg_dict)
    if ternary:
        d["quantization_config"] = {
            "quant_method": "bitnet", "weight_quant": "absmean_per_tensor_ternary",
            "activation_quant": "absmax_per_token_int8",
            "rule": "every Linear with in_features % 256 == 0 (embedding/lm_head and dt_proj excluded)",
            "stored_as": "float32 gamma*Wq, values exactly in {-gamma, 0, +gamma}",
        }
    sd = model.export_state()
    # BF16 only for the non-ternary matrices (ternary ones stay exact F32 gamma*Wq; 1-D tensors and A_log stay F32).
    keep = set(model.bitlinear_names()) if ternary else set()
    bf = {n for n, t in sd.items() if bf16 and t.dim() == 2 and n.endswith(".weight") and n not in keep}
    d["torch_dtype"] = "bfloat16" if bf and not ternary else "float32"
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(d, f, indent=2)
    st.save_safetensors(os.path.join(folder, "model.safetensors"), sd, bf16_names=bf)


def kind_of(problem):
    """Problem family from its text (the held-out file stores no keys)."""
    if "x^2" in problem:
        return "quad"
    if "x" in problem.replace("times", ""):
        return "lin"
    if "*" in problem or "times" in problem or "product" in problem:
        return "mul"
    if "+" in problem or "sum" in problem:
        return "add"
    return "sub"


def checkpoint_path(variant):
    return os.path.join(ROOT, "tools", "train", "checkpoints", f"{variant}.pt")


def train(args):
    torch.manual_seed(TRAIN_SEED + (1 if args.variant == "ternary" else 0))
    torch.set_num_threads(args.threads)
    tok = Tokenizer.load_hf(TOK_DIR)
    held = load_heldout()
    keys = {mathdata.make_heldout(500, HELDOUT_SEED)[i]["key"] for i in range(500)}
    cfg_dict = model_config(tok)
    ternary = args.variant == "ternary"
    model = st.SambaY(st.Cfg(cfg_dict), ternary=ternary)
    nparam = sum(p.numel() for p in model.parameters())
    print(f"variant {args.variant} params {nparam} bitlinear {len(model.bitlinear_names())}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    step0, ema = 0, None
    if args.resume:
        ck = torch.load(checkpoint_path(args.variant))
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step0, ema = ck["step"], ck["loss_ema"]
        print(f"resumed from step {step0}", flush=True)
    # a resumed run continues the same data stream seed-shifted (new examples, same distribution)
    data = batches(tok, keys, TRAIN_SEED + step0, args.batch)
    t0 = time.time()
    budget = args.minutes * 60
    step = 0
    warm = args.warmup if not args.resume else 1
    while True:
        el = time.time() - t0
        if el > budget or (args.steps and step >= args.steps):
            break
        frac = min(1.0, el / budget) if not args.steps else step / args.steps
        lr = args.lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        ids, mask = next(data)
        model.train()
        loss = loss_fn(model, ids, mask)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        step += 1
        if step % 25 == 0 or step == 1:
            print(f"step {step0 + step} t {time.time()-t0:.0f}s lr {lr:.2e} loss {loss.item():.4f} ema {ema:.4f}",
                  flush=True)
    train_time = time.time() - t0
    # full-precision master weights + optimizer state, so a later session can resume (not committed)
    os.makedirs(os.path.dirname(checkpoint_path(args.variant)), exist_ok=True)
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step0 + step,
                "loss_ema": ema, "config": cfg_dict, "variant": args.variant, "lr": args.lr,
                "batch": args.batch}, checkpoint_path(args.variant))
    print(f"trained {step} steps in {train_time:.0f}s ({step/train_time:.3f} steps/s)", flush=True)
    name = "sambay-math-ternary" if ternary else "sambay-math-f32twin"
    folder = os.path.join(args.out or MODELS, name)
    export(model, tok, cfg_dict, folder, ternary, bf16=args.bf16)
    # Evaluate the model exactly as shipped: reload the exported folder.
    shipped = st.load_exported(folder)
    t1 = time.time()
    probs = held[:args.eval_n]
    acc, outs, correct = greedy_eval(shipped, tok, probs)
    acc_master = None
    if args.bf16:  # BF16 storage check: the same problems with the unrounded in-memory weights
        acc_master = greedy_eval(model, tok, probs)[0]
    by_kind = {}
    for p, c in zip(probs, correct):
        by_kind.setdefault(kind_of(p["problem"]), []).append(c)
    summary = {"variant": args.variant, "steps": step0 + step, "steps_this_run": step,
               "train_seconds": round(train_time), "threads": args.threads,
               "batch": args.batch, "lr": args.lr, "final_loss_ema": round(ema, 4), "bf16": args.bf16,
               "eval_n": len(probs), "accuracy": acc, "accuracy_unrounded_weights": acc_master,
               "eval_seconds": round(time.time() - t1),
               "by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())}}
    print(json.dumps(summary), flush=True)
    for i in range(5):
        print(repr(probs[i]["problem"]), "->", repr(outs[i]), correct[i])
    if args.out:  # smoke runs leave the shipped results alone
        return
    with open(os.path.join(ROOT, "tools", "train", f"result_{args.variant}.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(ROOT, "tools", "train", f"samples_{args.variant}.jsonl"), "w") as f:
        for p, o, c in zip(probs, outs, correct):
            f.write(json.dumps({"problem": p["problem"], "answer": p["answer"], "output": o, "ok": c}) + "\n")


def evaluate(args):
    """PyTorch greedy accuracy of a shipped folder on a held-out file: the source of CI's eval floor."""
    torch.set_num_threads(args.threads)
    model = st.load_exported(args.model)
    tok = Tokenizer.load_hf(args.model)
    with open(args.data) as f:
        probs = [json.loads(line) for line in f if line.strip()][:args.eval_n]
    acc, outs, correct = greedy_eval(model, tok, probs)
    print(json.dumps({"model": args.model, "data": args.data, "problems": len(probs),
                      "correct": sum(correct), "accuracy": acc}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["prep", "train", "eval"])
    ap.add_argument("--variant", choices=["ternary", "f32"], default="ternary")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="", help="export under this folder instead of models/")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--bf16", action="store_true", help="store non-ternary matrices as BF16")
    ap.add_argument("--resume", action="store_true", help="continue from tools/train/checkpoints/VARIANT.pt")
    ap.add_argument("--eval-n", type=int, default=500)
    ap.add_argument("--model", default="", help="eval: a shipped folder (config.json + model.safetensors)")
    ap.add_argument("--data", default="", help="eval: held-out problems, one JSON object per line")
    args = ap.parse_args()
    if args.cmd == "eval" and not (args.model and args.data):
        ap.error("eval needs --model DIR and --data FILE")
    {"prep": lambda: prep(), "train": lambda: train(args), "eval": lambda: evaluate(args)}[args.cmd]()


if __name__ == "__main__":
    main()
