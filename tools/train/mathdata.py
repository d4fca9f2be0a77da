# Synthetic math problems in the Phi chat format: generators (arithmetic, linear equations,
# quadratics with integer roots), a held-out set disjoint from training by problem content,
# and answer extraction/comparison used by the evaluation.
import random
import re

USER, END, ASSISTANT = "<|user|>", "<|end|>", "<|assistant|>"


def _s(v):
    return str(v)


def _term(coef, var):
    """Signed term for an expression continuing after a first term: ' + 3x', ' - x', ' + 5'."""
    sign = "-" if coef < 0 else "+"
    a = abs(coef)
    if var:
        body = var if a == 1 else f"{a}{var}"
    else:
        body = str(a)
    return f" {sign} {body}"


def _place_parts(n):
    """345 -> [300, 40, 5] without zero parts (keeps at least one part)."""
    s = str(n)
    parts = [int(d) * 10 ** (len(s) - 1 - i) for i, d in enumerate(s) if d != "0"]
    return parts or [0]


def gen_add(rng):
    nd = rng.choice([2, 2, 3, 3, 3])
    a = rng.randint(10 ** (nd - 1), 10 ** nd - 1)
    b = rng.randint(10, 10 ** nd - 1)
    key = ("add", a, b)
    q = rng.choice(["What is {a} + {b}?", "Compute {a} + {b}.", "Calculate {a} + {b}.",
                    "Find the sum of {a} and {b}."]).format(a=a, b=b)
    steps, cur = [], a
    for p in _place_parts(b):
        steps.append(f"{cur} + {p} = {cur + p}")
        cur += p
    return key, q, ", ".join(steps), a + b


def gen_sub(rng):
    nd = rng.choice([2, 2, 3, 3, 3])
    a = rng.randint(10 ** (nd - 1), 10 ** nd - 1)
    b = rng.randint(10, 10 ** nd - 1)
    key = ("sub", a, b)
    q = rng.choice(["What is {a} - {b}?", "Compute {a} - {b}.", "Calculate {a} - {b}."]).format(a=a, b=b)
    steps, cur = [], a
    for p in _place_parts(b):
        steps.append(f"{cur} - {p} = {cur - p}")
        cur -= p
    return key, q, ", ".join(steps), a - b


def gen_mul(rng):
    a = rng.randint(11, 999) if rng.random() < 0.5 else rng.randint(11, 99)
    b = rng.randint(2, 9)
    if rng.random() < 0.5:
        a, b = b, a
    key = ("mul", a, b)
    q = rng.choice(["What is {a} * {b}?", "Compute {a} * {b}.", "Calculate {a} times {b}.",
                    "Find the product of {a} and {b}."]).format(a=a, b=b)
    big, small = (a, b) if a > b else (b, a)
    parts = _place_parts(big)
    prods = [p * small for p in parts]
    steps = [f"{p} * {small} = {p * small}" for p in parts]
    if len(prods) > 1:
        steps.append(" + ".join(_s(v) for v in prods) + f" = {sum(prods)}")
    return key, q, ", ".join(steps), a * b


def gen_linear(rng):
    a = rng.randint(2, 9) * rng.choice([1, 1, 1, -1])
    x = rng.randint(-12, 12)
    b = rng.randint(-20, 20)
    while b == 0:
        b = rng.randint(-20, 20)
    c = a * x + b
    key = ("lin", a, b, c)
    lhs = (f"{a}x" if a != -1 else "-x") + _term(b, "")
    q = rng.choice(["Solve {e}.", "Solve for x: {e}.", "Find x if {e}.", "Solve the equation {e}."])
    q = q.format(e=f"{lhs} = {c}")
    steps = f"{a}x = {c}{_term(-b, '')} = {c - b}, x = {c - b} / {a} = {x}"
    return key, q, steps, x


def gen_quadratic(rng):
    r1, r2 = rng.randint(-9, 9), rng.randint(-9, 9)
    if rng.random() < 0.15:
        r2 = r1
    p, q0 = -(r1 + r2), r1 * r2
    key = ("quad", min(r1, r2), max(r1, r2))
    expr = "x^2" + (_term(p, "x") if p else "") + (_term(q0, "") if q0 else "")
    q = rng.choice(["Solve the equation {e} = 0.", "Solve {e} = 0.", "Find the roots of {e} = 0.",
                    "Solve for x: {e} = 0."]).format(e=expr)

    def factor(r):
        return "x" if r == 0 else f"(x{_term(-r, '')})"

    lo, hi = min(r1, r2), max(r1, r2)
    disc, root = p * p - 4 * q0, hi - lo
    pp = f"({p})" if p < 0 else str(p)
    qq = f"({q0})" if q0 < 0 else str(q0)
    steps = f"D = {pp}^2 - 4*{qq} = {p * p}{_term(-4 * q0, '')} = {disc}"
    if lo == hi:
        fac = "x^2" if lo == 0 else f"{factor(lo)}^2"
        steps += f", x = {-p}/2 = {lo}, {fac} = 0"
        ans = str(lo)
    else:
        steps += (f", sqrt(D) = {root}, x = ({-p} - {root})/2 = {lo} or x = ({-p} + {root})/2 = {hi}"
                  f", {factor(lo)}{factor(hi)} = 0")
        ans = f"{lo},{hi}"
    return key, q, steps, ans


GENERATORS = [(gen_add, 0.2), (gen_sub, 0.2), (gen_mul, 0.2), (gen_linear, 0.2), (gen_quadratic, 0.2)]


def sample_problem(rng):
    r, acc = rng.random(), 0.0
    for g, w in GENERATORS:
        acc += w
        if r < acc:
            return g(rng)
    return GENERATORS[-1][0](rng)


def boxed(ans):
    """Final-answer text: two roots as '-3, 2' (ascending)."""
    return str(ans).replace(",", ", ")


def render(problem, steps, ans):
    return f"{USER}{problem}{END}{ASSISTANT}<think>{steps}</think>The answer is \\boxed{{{boxed(ans)}}}.{END}"


def prompt(problem):
    return f"{USER}{problem}{END}{ASSISTANT}"


def make_heldout(n=500, seed=1234):
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        key, q, steps, ans = sample_problem(rng)
        if key in seen:
            continue
        seen.add(key)
        out.append({"problem": q, "answer": str(ans), "key": key})
    return out


def training_stream(excluded_keys, seed):
    """Infinite stream of training texts whose problem content never equals a held-out problem."""
    rng = random.Random(seed)
    while True:
        key, q, steps, ans = sample_problem(rng)
        if key in excluded_keys:
            continue
        yield render(q, steps, ans)


def extract_answer(text):
    """\\boxed{...} first, then 'x = ...' clauses, then the last integer; returns canonical string or None."""
    m = re.findall(r"\\boxed\{([^}]*)\}", text)
    if m:
        body = m[-1]
    else:
        xs = re.findall(r"x\s*=\s*(-?\d+)", text)
        if xs:
            body = ",".join(xs)
        else:
            nums = re.findall(r"-?\d+", text)
            if not nums:
                return None
            body = nums[-1]
    nums = re.findall(r"-?\d+", body)
    if not nums:
        return None
    vals = sorted(set(int(v) for v in nums))
    return ",".join(str(v) for v in vals)


def answers_match(pred_text, answer):
    """Compare as sorted sets of integers: '-3,2' equals '\\boxed{2, -3}'."""
    got = extract_answer(pred_text)
    want = ",".join(str(v) for v in sorted(set(int(v) for v in answer.split(","))))
    return got == want
