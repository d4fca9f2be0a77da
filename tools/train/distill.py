# Distils a full-precision phi4flash (SambaY) Hugging Face checkpoint into a BitNet b1.58 student
# (KL to the frozen teacher's logits, optional hidden-state MSE and data CE), on 1 or N processes
# (torch.distributed: DDP, or FSDP for big models), and exports an exactly-ternary HF folder.
#   nice -n 19 python3 tools/train/distill.py --teacher models/sambay-math-f32twin --out DIR --steps 1000
#   python3 -m torch.distributed.run --nproc_per_node 2 tools/train/distill.py ...   (same global batch)
import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mathdata  # noqa: E402
import sambay_torch as st  # noqa: E402
import train as tr  # noqa: E402
from bpe_tokenizer import Tokenizer  # noqa: E402

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "config.json")


def load_checkpoint(folder):
    """(config dict, state dict) of a HF folder: one model.safetensors or shards listed in its index."""
    with open(os.path.join(folder, "config.json")) as f:
        d = json.load(f)
    if d.get("model_type") != "phi4flash":
        raise SystemExit(f"{folder}: model_type {d.get('model_type')!r}, expected 'phi4flash'")
    if d.get("quantization_config", {}).get("quant_method") == "bitnet":
        raise SystemExit(f"{folder}: already ternary; the teacher must be full precision")
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    sd = {}
    for name in files:
        sd.update(st.load_safetensors(os.path.join(folder, name)))
    if "lm_head.weight" in sd:  # some exports write the tied head out; sambay_torch ties it
        if not d.get("tie_word_embeddings", True):
            raise SystemExit(f"{folder}: untied lm_head is not supported")
        del sd["lm_head.weight"]
    return d, sd


def build_models(folder):
    """Frozen full-precision teacher and a BitLinear student whose master weights are the teacher's."""
    d, sd = load_checkpoint(folder)
    cfg = st.Cfg(d)
    teacher = st.SambaY(cfg, ternary=False)
    teacher.load_state_dict(sd, strict=True)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = st.SambaY(cfg, ternary=True)
    student.load_state_dict(sd, strict=True)
    return d, teacher, student


class Dist:
    """Process group from the torchrun environment (WORLD_SIZE/RANK); a plain 1-process run otherwise."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.cuda = torch.cuda.is_available()
        if self.world > 1:
            dist.init_process_group("nccl" if self.cuda else "gloo")
        self.rank = dist.get_rank() if self.world > 1 else 0
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{local}") if self.cuda else torch.device("cpu")
        if self.cuda:
            torch.cuda.set_device(self.device)

    def log(self, *a):
        if self.rank == 0:
            print(*a, flush=True)


def wrap(student, teacher, dd, fsdp):
    """DDP: full replicas, gradients averaged. FSDP: parameters, grads and optimizer state sharded per
    layer (the teacher sharded too; it has no grads)."""
    student, teacher = student.to(dd.device), teacher.to(dd.device)
    if dd.world == 1:
        return student, teacher
    if not fsdp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        return DDP(student, device_ids=[dd.device] if dd.cuda else None), teacher
    import functools
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
    except (ImportError, ValueError) as e:  # torch 1.13 on Python 3.11: a dataclass error on import
        raise SystemExit(f"--fsdp: torch.distributed.fsdp is not usable in this torch {torch.__version__}: {e}")
    policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={st.Layer})
    dev = dd.device if dd.cuda else None
    return (FSDP(student, auto_wrap_policy=policy, device_id=dev),
            FSDP(teacher, auto_wrap_policy=policy, device_id=dev))


def shard(ids, mask, dd, accum=1):
    """This rank's contiguous slice of the global batch (every rank draws the same global batch)."""
    b = ids.shape[0]
    if b % (dd.world * accum):
        raise SystemExit(f"global batch {b} is not divisible by {dd.world} processes x {accum} micro-batches")
    n = b // dd.world
    sl = slice(dd.rank * n, (dd.rank + 1) * n)
    return ids[sl].to(dd.device), mask[sl].to(dd.device)


def kl_per_token(s_logits, t_logits, temp):
    """KL(teacher || student) at temperature temp, times temp^2 (gradient scale independent of temp)."""
    t_logp = F.log_softmax(t_logits / temp, dim=-1)
    s_logp = F.log_softmax(s_logits / temp, dim=-1)
    return (t_logp.exp() * (t_logp - s_logp)).sum(-1) * temp * temp


def hidden_mse_per_token(s_hid, t_hid):
    """Mean over layers of |h_s - h_t|^2 / |h_t|^2 per token (relative, so every layer weighs alike)."""
    terms = [((s - t) ** 2).sum(-1) / (t ** 2).sum(-1).clamp(min=1e-6) for s, t in zip(s_hid, t_hid)]
    return torch.stack(terms).mean(0)


def distill_loss(student, teacher, ids, mask, n_global, world, args):
    """This rank's share of the global-batch loss: token sums / global token count, times world (DDP
    averages gradients over ranks, so the sum over ranks is the 1-process loss). Returns (loss, parts)."""
    inp, tgt, m = ids[:, :-1], ids[:, 1:], mask[:, 1:]
    want_hidden = args.hidden > 0
    with torch.no_grad():
        t_hid = [] if want_hidden else None
        t_logits = teacher(inp, t_hid)
    s_hid = [] if want_hidden else None
    s_logits = student(inp, s_hid)
    scale = world / n_global
    parts = {"kl": (kl_per_token(s_logits, t_logits, args.temperature) * m).sum() * scale}
    loss = args.kl * parts["kl"]
    if args.ce > 0:
        ce = F.cross_entropy(s_logits.reshape(-1, s_logits.shape[-1]), tgt.reshape(-1), reduction="none")
        parts["ce"] = (ce.view_as(m) * m).sum() * scale
        loss = loss + args.ce * parts["ce"]
    if want_hidden:
        parts["hidden"] = (hidden_mse_per_token(s_hid, t_hid) * m).sum() * scale
        loss = loss + args.hidden * parts["hidden"]
    return loss, parts


def progress(step, t0, dd, args):
    """Fraction of the budget used: steps, or with --minutes rank 0's wall clock (broadcast, so every
    rank takes the same learning rate and stops at the same step)."""
    if not args.minutes:
        return step / args.steps
    frac = torch.tensor([(time.time() - t0) / (args.minutes * 60)], dtype=torch.float64)
    if dd.world > 1:
        dist.broadcast(frac, 0)
    return frac.item()


def lr_at(step, frac, args):
    """Linear warmup, then cosine to 0.1x over the budget."""
    frac = min(1.0, frac)
    return args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def full_state(student, fsdp):
    """Full-precision master weights on rank 0 (FSDP gathers the shards there; other ranks get {})."""
    if fsdp:
        from torch.distributed.fsdp import FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        with FSDP.state_dict_type(student, StateDictType.FULL_STATE_DICT,
                                  FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
            return student.state_dict()
    module = student.module if hasattr(student, "module") else student
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def export(cfg_dict, master, teacher_folder, out):
    """Exactly-ternary HF folder (the models/sambay-math-ternary format) + the teacher's tokenizer files."""
    model = st.SambaY(st.Cfg(cfg_dict), ternary=True)
    model.load_state_dict(master, strict=True)
    d = {k: v for k, v in cfg_dict.items() if k != "torch_dtype"}
    tr.write_weights(model, d, out, ternary=True)
    for name in sorted(os.listdir(teacher_folder)):
        src = os.path.join(teacher_folder, name)
        if os.path.isfile(src) and name not in WEIGHT_FILES and not name.endswith(".safetensors"):
            shutil.copy(src, os.path.join(out, name))


def heldout_keys():
    return {p["key"] for p in mathdata.make_heldout(500, tr.HELDOUT_SEED)}


def token_file_batches(path, bsz, pad, vocab):
    """Global batches from a JSONL of tokenized examples {"ids": [...], "mask": [...]} (mask 1 = a token
    the loss covers), in file order, cycling: the path for any tokenizer and any corpus."""
    while True:
        ex = []
        with open(path) as f:
            for n, line in enumerate(f, 1):
                r = json.loads(line)
                ids, mask = r.get("ids"), r.get("mask")
                if not ids or len(ids) < 2 or len(ids) != len(mask) or not 0 <= min(ids) <= max(ids) < vocab:
                    raise SystemExit(f"{path}:{n}: need 'ids' (>= 2 tokens, each < {vocab}) "
                                     "and 'mask' of the same length")
                ex.append((ids, mask))
                if len(ex) == bsz:
                    yield tr._collate(ex, pad)
                    ex = []
        if n < bsz:
            raise SystemExit(f"{path}: {n} examples, fewer than one batch of {bsz}")


def train_data(cfg_dict, args):
    """Global batches: --tokens FILE, else the training distribution (mathdata, held-out keys excluded)."""
    if args.tokens:
        pad = cfg_dict.get("pad_token_id", 0)
        return token_file_batches(args.tokens, args.batch, pad, cfg_dict["vocab_size"])
    return tr.batches(Tokenizer.load_hf(args.teacher), heldout_keys(), args.data_seed, args.batch)


def generate_teacher_data(teacher, args):
    """Teacher-generated solutions (greedy) of training-stream problems, written for --tokens."""
    tok = Tokenizer.load_hf(args.teacher)
    stream = mathdata.training_stream(heldout_keys(), args.data_seed)
    texts = [next(stream) for _ in range(args.gen_teacher)]
    probs = [{"problem": t[len(mathdata.USER):t.index(mathdata.END)], "answer": mathdata.extract_answer(t)}
             for t in texts]
    acc, outs, correct = tr.greedy_eval(teacher, tok, probs)
    kept = 0
    with open(args.gen_out, "w") as f:
        for p, o, ok in zip(probs, outs, correct):
            if ok or not args.gen_correct_only:
                ids, mask = tr.encode_example(tok, mathdata.prompt(p["problem"]) + o + mathdata.END)
                f.write(json.dumps({"ids": ids, "mask": mask}) + "\n")
                kept += 1
    print(f"teacher solved {acc:.1%} of {len(probs)} training problems; wrote {kept} to {args.gen_out}")


def train_step(student, teacher, opt, batch, dd, args):
    """One optimizer step on a global batch: this rank's slice in --accum micro-batches (gradients
    summed; DDP all-reduces once, at the last one). Returns this rank's loss parts (detached)."""
    ids, mask = batch
    n_global = mask[:, 1:].sum().item()
    ids, mask = shard(ids, mask, dd, args.accum)
    student.train()
    opt.zero_grad()
    parts = {}
    micro = list(zip(ids.chunk(args.accum), mask.chunk(args.accum)))
    for i, (mi, mm) in enumerate(micro):
        sync = i == len(micro) - 1 or not hasattr(student, "no_sync")
        with contextlib.nullcontext() if sync else student.no_sync():
            loss, p = distill_loss(student, teacher, mi, mm, n_global, dd.world, args)
            loss.backward()
        for k, v in p.items():
            parts[k] = parts.get(k, 0) + v.detach()
    if hasattr(student, "clip_grad_norm_"):  # FSDP: the norm over all shards
        student.clip_grad_norm_(args.clip)
    else:
        torch.nn.utils.clip_grad_norm_(student.parameters(), args.clip)
    opt.step()
    return parts


def run(args):
    dd = Dist()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cfg_dict, teacher, student = build_models(args.teacher)
    if args.gen_teacher:
        if dd.world > 1:
            raise SystemExit("--gen-teacher runs in one process")
        return generate_teacher_data(teacher, args)
    if args.init:  # a later stage: start from an earlier run's master weights, not the teacher's
        student.load_state_dict(torch.load(args.init, map_location="cpu")["model"], strict=True)
    n_tern = len(student.bitlinear_names())
    dd.log(f"teacher {args.teacher} params {sum(p.numel() for p in student.parameters())} "
           f"ternary tensors {n_tern} processes {dd.world} global batch {args.batch}")
    student, teacher = wrap(student, teacher, dd, args.fsdp)
    # one group, one weight decay: FSDP (torch 1.13) flattens parameters, so per-name groups are not
    # available there, and DDP/1-process must optimise the same way for the equivalence test
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.wd)
    data = train_data(cfg_dict, args)
    t0, cpu0, ema = time.time(), time.process_time(), None
    step = 0
    while True:
        frac = progress(step, t0, dd, args)
        if frac >= 1.0:
            break
        lr = lr_at(step, frac, args)
        for g in opt.param_groups:
            g["lr"] = lr
        parts = train_step(student, teacher, opt, next(data), dd, args)
        step += 1
        if dd.world > 1:  # log the global-batch values
            for v in parts.values():
                dist.all_reduce(v)
                v /= dd.world
        lv = sum(getattr(args, k) * v.item() for k, v in parts.items())
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        if step % args.log_every == 0 or step == 1:
            pv = " ".join(f"{k} {v.item():.4f}" for k, v in parts.items())
            dd.log(f"step {step} t {time.time() - t0:.0f}s lr {lr:.2e} loss {lv:.4f} ema {ema:.4f} {pv}")
    seconds, cpu = time.time() - t0, time.process_time() - cpu0
    master = full_state(student, args.fsdp and dd.world > 1)
    if dd.rank == 0:
        dd.log(f"distilled {step} steps in {seconds:.0f}s ({step * args.batch} sequences)")
        export(cfg_dict, master, args.teacher, args.out)
        if args.save_master:
            torch.save({"model": master, "config": cfg_dict, "steps": step, "args": vars(args)},
                       args.save_master)
        summary = {"teacher": args.teacher, "steps": step, "batch": args.batch, "processes": dd.world,
                   "seconds": round(seconds), "cpu_seconds_rank0": round(cpu), "threads": args.threads,
                   "lr": args.lr, "kl": args.kl, "ce": args.ce, "hidden": args.hidden,
                   "temperature": args.temperature,
                   "final_loss_ema": None if ema is None else round(ema, 4)}
        if args.eval_n:
            tok = Tokenizer.load_hf(args.out)
            acc, _, _ = tr.greedy_eval(st.load_exported(args.out), tok, tr.load_heldout()[:args.eval_n])
            summary["python_eval"] = {"n": args.eval_n, "accuracy": acc}
        dd.log(json.dumps(summary))
    if dd.world > 1:
        dist.barrier()
        dist.destroy_process_group()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--teacher", required=True, help="full-precision phi4flash HF folder")
    ap.add_argument("--out", default="", help="exported ternary HF folder")
    ap.add_argument("--steps", type=int, default=1000, help="step budget (ignored with --minutes)")
    ap.add_argument("--minutes", type=float, default=0, help="wall-clock budget instead of --steps")
    ap.add_argument("--batch", type=int, default=32, help="global batch (sequences), split over processes")
    ap.add_argument("--accum", type=int, default=1, help="micro-batches per process per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--kl", type=float, default=1.0, help="weight of KL(teacher || student) on the logits")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--ce", type=float, default=0.0, help="weight of the cross-entropy on the data")
    ap.add_argument("--hidden", type=float, default=0.0, help="weight of the per-layer hidden-state MSE")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-seed", type=int, default=tr.TRAIN_SEED)
    ap.add_argument("--tokens", default="", help='JSONL {"ids", "mask"} to train on instead of mathdata')
    ap.add_argument("--gen-teacher", type=int, default=0,
                    help="instead of training: write the teacher's greedy solutions of N training problems")
    ap.add_argument("--gen-out", default="", help="--gen-teacher output (JSONL for --tokens)")
    ap.add_argument("--gen-correct-only", action="store_true", help="keep only solutions graded correct")
    ap.add_argument("--fsdp", action="store_true",
                    help="shard with FSDP instead of DDP (big models; untested here: torch 1.13's FSDP does "
                         "not import on Python 3.11)")
    ap.add_argument("--save-master", default="", help="also save the full-precision master weights here")
    ap.add_argument("--init", default="", help="start the student from a --save-master file (next stage)")
    ap.add_argument("--eval-n", type=int, default=0, help="python greedy eval on the first N held-out problems")
    ap.add_argument("--log-every", type=int, default=25)
    args = ap.parse_args(argv)
    if min(args.steps, args.batch, args.accum) < 1 or args.temperature <= 0:
        ap.error("--steps, --batch and --accum must be >= 1 and --temperature > 0")
    if not (args.gen_out if args.gen_teacher else args.out):
        ap.error("--out is required (--gen-out with --gen-teacher)")
    run(args)


if __name__ == "__main__":
    main()
