# Writes models/calib_text.txt: imatrix calibration text of the training distribution (seed 2027, not the
# held-out seed), every problem's content disjoint from the 500 held-out problems, so quality numbers on
# models/heldout_text.txt and models/heldout_math500.jsonl stay measured on text the imatrix never saw.
#   /usr/bin/python3 tools/train/calib_text.py [N_CONVERSATIONS=1500]
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mathdata  # noqa: E402
from train import HELDOUT_SEED, MODELS  # noqa: E402

CALIB_SEED = 2027


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    held = mathdata.make_heldout(500, HELDOUT_SEED)
    with open(os.path.join(MODELS, "heldout_math500.jsonl")) as f:
        shipped = {json.loads(line)["problem"] for line in f}
    assert {h["problem"] for h in held} == shipped
    rng = random.Random(CALIB_SEED)
    excluded, parts = {h["key"] for h in held}, []
    while len(parts) < n:
        key, q, steps, ans = mathdata.sample_problem(rng)
        if key in excluded or q in shipped:  # both checks: by content key and by problem text
            continue
        parts.append(mathdata.render(q, steps, ans))
    text = "".join(parts)
    with open(os.path.join(MODELS, "calib_text.txt"), "w") as f:
        f.write(text)
    print(f"wrote {n} conversations, {len(text)} characters")


if __name__ == "__main__":
    main()
