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


def _period(rng, q):
    """Half the prompts drop the final period ('Solve the equation x^2 + 2x + 1 = 0' is a real phrasing)."""
    return q[:-1] if q.endswith(".") and rng.random() < 0.5 else q


def _digits(n):
    """Two-digit place values of 0 <= n < 100: (tens, units)."""
    return n // 10, n % 10


def _add_steps(a, b):
    """Column addition of 0 <= a, b < 100: 'units 7 + 8 = 15, tens 4 + 3 + 1 = 8'."""
    (a1, a0), (b1, b0) = _digits(a), _digits(b)
    s0 = a0 + b0
    carry = " + 1" if s0 >= 10 else ""
    s1 = a1 + b1 + (1 if s0 >= 10 else 0)
    return f"units {a0} + {b0} = {s0}, tens {a1} + {b1}{carry} = {s1}"


def _sub_steps(a, b):
    """Column subtraction of 0 <= b <= a < 100 with borrow: 'units 3 - 8 borrow 13 - 8 = 5, tens 7 - 2 - 1 = 4'."""
    (a1, a0), (b1, b0) = _digits(a), _digits(b)
    if a0 >= b0:
        return f"units {a0} - {b0} = {a0 - b0}, tens {a1} - {b1} = {a1 - b1}"
    return f"units {a0} - {b0} borrow {a0 + 10} - {b0} = {a0 + 10 - b0}, tens {a1} - {b1} - 1 = {a1 - b1 - 1}"


def gen_add(rng):
    a, b = rng.randint(10, 99), rng.randint(1, 99)
    if rng.random() < 0.5:
        a, b = b, a
    key = ("add", a, b)
    q = rng.choice(["What is {a} + {b}?", "Compute {a} + {b}.", "Calculate {a} + {b}.",
                    "Find the sum of {a} and {b}."]).format(a=a, b=b)
    return key, _period(rng, q), f"{_add_steps(a, b)}, so {a} + {b} = {a + b}", a + b


def gen_sub(rng):
    a, b = rng.randint(10, 99), rng.randint(1, 99)
    if rng.random() < 0.3:
        a, b = b, a
    key = ("sub", a, b)
    q = rng.choice(["What is {a} - {b}?", "Compute {a} - {b}.", "Calculate {a} - {b}.",
                    "Subtract {b} from {a}."]).format(a=a, b=b)
    if a >= b:
        steps = f"{_sub_steps(a, b)}, so {a} - {b} = {a - b}"
    else:  # negative result: compute the reverse difference and negate it
        steps = f"{a} < {b}, so {a} - {b} = -({b} - {a}), {_sub_steps(b, a)}, so {a} - {b} = {a - b}"
    return key, _period(rng, q), steps, a - b


def gen_mul(rng):
    a, b = rng.randint(10, 99), rng.randint(2, 9)
    big, small = a, b
    if rng.random() < 0.5:
        a, b = b, a
    key = ("mul", a, b)
    q = rng.choice(["What is {a} * {b}?", "Compute {a} * {b}.", "Calculate {a} times {b}.",
                    "Find the product of {a} and {b}."]).format(a=a, b=b)
    t, u = _digits(big)
    pu, pt = u * small, t * small
    steps = (f"units {u} * {small} = {pu}, tens {t} * {small} = {pt}, {pt} + {pu // 10} = {pt + pu // 10}"
             f", so {a} * {b} = {a * b}")
    return key, _period(rng, q), steps, a * b


def _signed_sum_step(c, b):
    """c - b for small signed integers, written as one step: '11 - 5 = 6' or '1 + 5 = 6'."""
    return f"{c}{_term(-b, '')} = {c - b}"


def gen_linear(rng):
    a = rng.randint(2, 9) * rng.choice([1, 1, -1])
    x = rng.randint(-9, 9)
    b = rng.choice([v for v in range(-9, 10) if v != 0])
    c = a * x + b
    key = ("lin", a, b, c)
    lhs = f"{a}x" + _term(b, "")
    q = rng.choice(["Solve {e}.", "Solve for x: {e}.", "Find x if {e}.", "Solve the equation {e}."])
    q = q.format(e=f"{lhs} = {c}")
    steps = f"{a}x = {_signed_sum_step(c, b)}, x = {c - b} / {a} = {x}"
    return key, _period(rng, q), steps, x


def quad_candidates(prod, total):
    """Integer pairs (u, v), |u|, |v| <= 9, with u * v = prod and the sign pattern prod allows."""
    if prod == 0:
        return [(0, total)]
    out = []
    for d in range(1, 10):
        e, r = divmod(abs(prod), d)
        if r or e < d or e > 9:
            continue
        pairs = [(d, e), (-d, -e)] if prod > 0 else [(-d, e), (d, -e)]
        for p in pairs:
            if p not in out and (p[1], p[0]) not in out:
                out.append(p)
    return out


def gen_quadratic(rng):
    r1, r2 = rng.randint(-9, 9), rng.randint(-9, 9)
    if rng.random() < 0.15:
        r2 = r1
    lo, hi = min(r1, r2), max(r1, r2)
    p, q0 = -(lo + hi), lo * hi
    if p == 0 and q0 > 0:  # impossible with real roots; kept for safety
        return gen_quadratic(rng)
    key = ("quad", lo, hi)
    expr = "x^2" + (_term(p, "x") if p else "") + (_term(q0, "") if q0 else "")
    q = rng.choice(["Solve the equation {e} = 0.", "Solve {e} = 0.", "Find the roots of {e} = 0.",
                    "Solve for x: {e} = 0."]).format(e=expr)

    def factor(r):
        return "x" if r == 0 else f"(x{_term(-r, '')})"

    # Roots have product q0 and sum -p: list the factor pairs of q0 (both within 9), check each sum.
    total = lo + hi
    cands = quad_candidates(q0, total)
    checks = ", ".join(f"{u} and {v} sum {u + v}" for u, v in cands)
    steps = f"product {q0} and sum {total}: {checks}, so {factor(lo)}{factor(hi)} = 0"
    if lo == hi:
        steps += f", x = {lo}"
        ans = str(lo)
    else:
        steps += f", x = {lo} or x = {hi}"
        ans = f"{lo},{hi}"
    return key, _period(rng, q), steps, ans


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


# Only 190 quadratics exist (roots in -9..9): hold out at most this many so training still sees
# about three quarters of them (an uncapped draw would take nearly half, and almost every double root).
HELDOUT_CAPS = {"quad": 50}


def make_heldout(n=500, seed=1234):
    rng = random.Random(seed)
    seen, out, per_kind = set(), [], {}
    while len(out) < n:
        key, q, steps, ans = sample_problem(rng)
        if key in seen or per_kind.get(key[0], 0) >= HELDOUT_CAPS.get(key[0], n):
            continue
        seen.add(key)
        per_kind[key[0]] = per_kind.get(key[0], 0) + 1
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
