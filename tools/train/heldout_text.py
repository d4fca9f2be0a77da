# Writes models/heldout_text.txt: the 500 held-out problems of models/heldout_math500.jsonl (seed 1234,
# excluded from training by problem content) rendered with their step-by-step solutions in the training
# format, one conversation after another: text of the training distribution that training never saw,
# for `bitflash perplexity --parse-special` and KL-divergence measurements.
#   /usr/bin/python3 tools/train/heldout_text.py
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mathdata  # noqa: E402
from train import HELDOUT_SEED, MODELS  # noqa: E402


def heldout_solutions(n=500, seed=HELDOUT_SEED):
    """Replays make_heldout's draws (same RNG, same rules) keeping the solution steps it drops."""
    rng = random.Random(seed)
    seen, out, per_kind = set(), [], {}
    while len(out) < n:
        key, q, steps, ans = mathdata.sample_problem(rng)
        if key in seen or per_kind.get(key[0], 0) >= mathdata.HELDOUT_CAPS.get(key[0], n):
            continue
        seen.add(key)
        per_kind[key[0]] = per_kind.get(key[0], 0) + 1
        out.append((key, q, steps, ans))
    return out


def main():
    sols = heldout_solutions()
    with open(os.path.join(MODELS, "heldout_math500.jsonl")) as f:
        shipped = [json.loads(line) for line in f]
    # the replay must be the shipped held-out set, problem for problem
    assert [(q, str(a)) for _, q, _, a in sols] == [(h["problem"], h["answer"]) for h in shipped]
    text = "".join(mathdata.render(q, steps, ans) for _, q, steps, ans in sols)
    with open(os.path.join(MODELS, "heldout_text.txt"), "w") as f:
        f.write(text)
    print(f"wrote {len(sols)} solutions, {len(text)} characters")


if __name__ == "__main__":
    main()
