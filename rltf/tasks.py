"""The built-in task suite: the offline default data of ``rltf train``.

Benchmarks such as APPS are far beyond a ~2M-parameter model trained from scratch on a CPU in
minutes, so a run with no downloaded data needs problems such a model can learn, with tests
strict enough that reward, pass ratio and error lines all carry signal. Each family here is a
short function template; its constants, names and wording vary so that a suite holds thousands
of distinct tasks, and the expected values come from a trusted reference implementation.

Prompt format (documented in docs/tasks.md): one comment line that states the task, then the
signature. A completion continues the prompt with the function body, so ``program_prefix`` is
the prompt and line 3 of a judged program is the first line of the body.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any, Callable

from .problems import CallCase, CallTests, Problem

Args = tuple[Any, ...]


@dataclass(frozen=True)
class Task:
    """One instance of a family, before it becomes a Problem: its prompt states every choice."""

    doc: str
    fn: str
    args: tuple[str, ...]
    body: str
    ref: Callable[..., Any]
    inputs: tuple[Args, ...]

    def prompt(self) -> str:
        return f"# {self.doc}\ndef {self.fn}({', '.join(self.args)}):\n"


@dataclass(frozen=True)
class Family:
    name: str
    level: int
    build: Callable[[random.Random], Task]


@dataclass(frozen=True)
class BuiltinSuite:
    train: list[Problem]
    rl_only: list[Problem]
    heldout: list[Problem]


FAMILIES: list[Family] = []


def _family(name: str, level: int) -> Callable[[Callable[[random.Random], Task]], Callable]:
    def register(build: Callable[[random.Random], Task]) -> Callable[[random.Random], Task]:
        FAMILIES.append(Family(name, level, build))
        return build

    return register


# --- shared choices and inputs -------------------------------------------------------------

INT_NAMES = ("n", "x", "a", "num", "value", "k")
INT_PAIRS = (("a", "b"), ("x", "y"), ("m", "n"), ("p", "q"), ("u", "v"))
LIST_NAMES = ("xs", "nums", "values", "items", "data", "seq")
STR_NAMES = ("s", "text", "word", "line", "name", "phrase")
WORDS = ("yes", "no", "even", "odd", "on", "off", "up", "down", "hot", "cold", "left", "right")
SUFFIXES = ("!", "?", ".", "ok", "x", "end", "_1", "ab", "zz", "--", "!!", "yo")


def _code_plus(c: int) -> str:
    return f"+ {c}" if c >= 0 else f"- {-c}"


def _doc_plus(c: int) -> str:
    return f"plus {c}" if c >= 0 else f"minus {-c}"


def _ints(rng: random.Random, n: int = 4) -> list[int]:
    return [0, 1, -1] + [rng.randint(-30, 30) for _ in range(n)]


def _pairs(rng: random.Random) -> list[Args]:
    return [(0, 0), (3, -4), (-2, -7)] + [(rng.randint(-20, 20), rng.randint(-20, 20)) for _ in range(4)]


def _int_list(rng: random.Random, lo: int = -9, hi: int = 9) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(1, 7))]


def _lists(rng: random.Random, *extra: list[int]) -> list[Args]:
    """Empty and one-element lists first: that is where plausible programs crash."""
    return [([],), ([0],), ([-5],)] + [(e,) for e in extra] + [(_int_list(rng),) for _ in range(4)]


def _strings(rng: random.Random, *extra: str) -> list[Args]:
    words = ("cat", "Dog", "sun", "a", "tree", "BIG", "hello", "x y", "go")
    made = [" ".join(rng.sample(words, rng.randint(1, 3))) for _ in range(4)]
    return [(s,) for s in ("", "a", "  ", *extra, *made)]


# --- arithmetic ----------------------------------------------------------------------------

@_family("sum_plus", 1)
def _sum_plus(rng: random.Random) -> Task:
    a, b = rng.choice(INT_PAIRS)
    c = rng.randint(-20, 20)
    return Task(f"Return the sum of {a} and {b} {_doc_plus(c)}.", rng.choice(("add", "total", "combine")),
                (a, b), f"    return {a} + {b} {_code_plus(c)}\n", lambda x, y: x + y + c, tuple(_pairs(rng)))


@_family("mul_add", 1)
def _mul_add(rng: random.Random) -> Task:
    a, b = rng.choice(INT_PAIRS)
    c = rng.randint(-20, 20)
    return Task(f"Return {a} times {b} {_doc_plus(c)}.", rng.choice(("mul_add", "product", "scale")),
                (a, b), f"    return {a} * {b} {_code_plus(c)}\n", lambda x, y: x * y + c, tuple(_pairs(rng)))


@_family("max_min", 1)
def _max_min(rng: random.Random) -> Task:
    a, b = rng.choice(INT_PAIRS)
    op, word = rng.choice((("max", "larger"), ("min", "smaller")))
    c = rng.randint(-20, 20)
    pick = max if op == "max" else min
    return Task(f"Return the {word} of {a} and {b} {_doc_plus(c)}.", rng.choice(("pick", "choose", op + "_of")),
                (a, b), f"    return {op}({a}, {b}) {_code_plus(c)}\n", lambda x, y: pick(x, y) + c, tuple(_pairs(rng)))


@_family("abs_diff", 1)
def _abs_diff(rng: random.Random) -> Task:
    a, b = rng.choice(INT_PAIRS)
    c = rng.randint(-20, 20)
    return Task(f"Return the absolute difference of {a} and {b}, times {c}.", rng.choice(("distance", "gap", "abs_diff")),
                (a, b), f"    return abs({a} - {b}) * {c}\n", lambda x, y: abs(x - y) * c, tuple(_pairs(rng)))


# --- conditionals --------------------------------------------------------------------------

@_family("sign", 2)
def _sign(rng: random.Random) -> Task:
    n = rng.choice(INT_NAMES)
    p, z, q = rng.sample(range(-5, 6), 3)
    body = f"    if {n} > 0:\n        return {p}\n    if {n} == 0:\n        return {z}\n    return {q}\n"
    return Task(f"Return {p} if {n} is positive, {z} if it is zero and {q} if it is negative.",
                rng.choice(("sign", "classify", "signum")), (n,), body,
                lambda v: p if v > 0 else z if v == 0 else q, tuple((v,) for v in _ints(rng)))


@_family("clamp", 2)
def _clamp(rng: random.Random) -> Task:
    n = rng.choice(INT_NAMES)
    lo = rng.randint(-20, 10)
    hi = lo + rng.randint(1, 20)
    return Task(f"Return {n} limited to the range from {lo} to {hi}.", rng.choice(("clamp", "limit", "bound")),
                (n,), f"    return max({lo}, min({hi}, {n}))\n", lambda v: max(lo, min(hi, v)),
                tuple((v,) for v in [lo, hi, lo - 1, hi + 1, *_ints(rng)]))


@_family("parity", 2)
def _parity(rng: random.Random) -> Task:
    n = rng.choice(INT_NAMES)
    even, odd = rng.sample(WORDS, 2)
    body = f"    if {n} % 2 == 0:\n        return '{even}'\n    return '{odd}'\n"
    return Task(f"Return '{even}' if {n} is even and '{odd}' otherwise.", rng.choice(("parity", "even_odd", "label")),
                (n,), body, lambda v: even if v % 2 == 0 else odd, tuple((v,) for v in [2, 3, -3, *_ints(rng)]))


# --- lists ---------------------------------------------------------------------------------

@_family("sum_multiples", 3)
def _sum_multiples(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    d = rng.randint(2, 9)
    c = rng.randint(-20, 20)
    body = f"    return sum(v for v in {xs} if v % {d} == 0) {_code_plus(c)}\n"
    return Task(f"Return the sum of the numbers in {xs} that are divisible by {d}, {_doc_plus(c)}.",
                rng.choice(("sum_div", "sum_multiples", "add_multiples")), (xs,), body,
                lambda vs: sum(v for v in vs if v % d == 0) + c, tuple(_lists(rng, [d, -d, 1, d + 1])))


COMPARISONS = (
    (">", "greater than", lambda v, k: v > k),
    (">=", "at least", lambda v, k: v >= k),
    ("<", "less than", lambda v, k: v < k),
    ("<=", "at most", lambda v, k: v <= k),
)


@_family("count_compare", 3)
def _count_compare(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    op, words, test = rng.choice(COMPARISONS)
    k = rng.randint(-9, 9)
    body = f"    return sum(1 for v in {xs} if v {op} {k})\n"
    return Task(f"Return how many numbers in {xs} are {words} {k}.", rng.choice(("count", "how_many", "count_if")),
                (xs,), body, lambda vs: sum(1 for v in vs if test(v, k)), tuple(_lists(rng, [k, k, k + 1, k - 1])))


@_family("end_element", 3)
def _end_element(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    which, index = rng.choice((("first", 0), ("last", -1)))
    c, d = rng.randint(-9, 9), rng.randint(-9, 9)
    body = f"    if not {xs}:\n        return {d}\n    return {xs}[{index}] {_code_plus(c)}\n"
    return Task(f"Return the {which} element of {xs} {_doc_plus(c)}, or {d} if {xs} is empty.",
                rng.choice((which, which + "_item", "head" if index == 0 else "tail")), (xs,), body,
                lambda vs: vs[index] + c if vs else d, tuple(_lists(rng, [1, 2, 3])))


@_family("index_extreme", 3)
def _index_extreme(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    op, word = rng.choice((("max", "largest"), ("min", "smallest")))
    d = rng.randint(-20, -1)
    pick = max if op == "max" else min
    body = f"    if not {xs}:\n        return {d}\n    return {xs}.index({op}({xs}))\n"
    return Task(f"Return the index of the first {word} number in {xs}, or {d} if {xs} is empty.",
                rng.choice(("index_of_" + op, "arg" + op, "where_" + op)), (xs,), body,
                lambda vs: vs.index(pick(vs)) if vs else d, tuple(_lists(rng, [4, 9, 9, -9, -9])))


@_family("reverse_list", 3)
def _reverse_list(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    c = rng.randint(-20, 20)
    body = f"    return [v {_code_plus(c)} for v in reversed({xs})]\n"
    return Task(f"Return {xs} in reverse order with {c} added to each element.", rng.choice(("reverse", "flip", "backwards")),
                (xs,), body, lambda vs: [v + c for v in reversed(vs)], tuple(_lists(rng, [1, 2, 3])))


@_family("element_at", 3)
def _element_at(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    c, d = rng.randint(-5, 5), rng.randint(-9, 9)
    body = f"    if 0 <= i < len({xs}):\n        return {xs}[i] * {c}\n    return {d}\n"
    cases = [([], 0), ([4], 0), ([4], 1), ([4, 5], -1), ([7, 8, 9], 2), ([7, 8, 9], 3)]
    cases += [(vs, rng.randint(-1, len(vs))) for vs in (_int_list(rng) for _ in range(3))]
    return Task(f"Return the element of {xs} at index i times {c}, or {d} unless 0 <= i < len({xs}).",
                rng.choice(("at", "element_at", "get_item")), (xs, "i"), body,
                lambda vs, i: vs[i] * c if 0 <= i < len(vs) else d, tuple(cases))


# --- strings -------------------------------------------------------------------------------

@_family("change_case", 2)
def _change_case(rng: random.Random) -> Task:
    s = rng.choice(STR_NAMES)
    method, word = rng.choice((("upper", "upper"), ("lower", "lower")))
    suffix = rng.choice(SUFFIXES)
    return Task(f"Return {s} in {word} case followed by '{suffix}'.", rng.choice(("shout", "recase", method)),
                (s,), f"    return {s}.{method}() + '{suffix}'\n", lambda v: getattr(v, method)() + suffix,
                tuple(_strings(rng, "MiXeD")))


@_family("count_char", 2)
def _count_char(rng: random.Random) -> Task:
    s = rng.choice(STR_NAMES)
    ch = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return Task(f"Return how many times '{ch}' occurs in {s}.", rng.choice(("count_char", "occurrences", "tally")),
                (s,), f"    return {s}.count('{ch}')\n", lambda v: v.count(ch),
                tuple(_strings(rng, ch, ch * 3, ch.upper() + ch)))


@_family("pick_word", 3)
def _pick_word(rng: random.Random) -> Task:
    s = rng.choice(STR_NAMES)
    which, index = rng.choice((("first", 0), ("last", -1)))
    default = rng.choice(WORDS)
    body = f"    words = {s}.split()\n    if not words:\n        return '{default}'\n    return words[{index}]\n"
    return Task(f"Return the {which} word of {s}, or '{default}' if {s} has no words.",
                rng.choice((which + "_word", "get_word", "pick")), (s,), body,
                lambda v: v.split()[index] if v.split() else default, tuple(_strings(rng, "one two", " pad ")))


@_family("reverse_string", 2)
def _reverse_string(rng: random.Random) -> Task:
    s = rng.choice(STR_NAMES)
    k = rng.randint(1, 3)
    suffix = rng.choice(SUFFIXES)
    return Task(f"Return {s} reversed, repeated {k} times, followed by '{suffix}'.",
                rng.choice(("mirror", "reverse_text", "backwards")), (s,), f"    return {s}[::-1] * {k} + '{suffix}'\n",
                lambda v: v[::-1] * k + suffix, tuple(_strings(rng, "ab")))


# --- dicts, division, mixed types ----------------------------------------------------------

@_family("dict_get", 3)
def _dict_get(rng: random.Random) -> Task:
    d, key = rng.choice((("d", "key"), ("table", "name"), ("counts", "word"), ("prices", "item")))
    c, default = rng.randint(-9, 9), rng.randint(-9, 9)
    body = f"    if {key} in {d}:\n        return {d}[{key}] {_code_plus(c)}\n    return {default}\n"
    table = {"a": 1, "b": -2, "cat": 0}
    cases = [({}, "a"), (table, "a"), (table, "b"), (table, "cat"), (table, "dog"), ({"x": 5}, "X")]
    return Task(f"Return {d}[{key}] {_doc_plus(c)}, or {default} if {key} is not in {d}.",
                rng.choice(("lookup", "get", "fetch")), (d, key), body,
                lambda t, k: t[k] + c if k in t else default, tuple(cases))


@_family("average", 3)
def _average(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    c, d = rng.randint(-9, 9), rng.randint(-9, 9)
    body = f"    if not {xs}:\n        return {d}\n    return sum({xs}) // len({xs}) {_code_plus(c)}\n"
    return Task(f"Return the average of {xs} rounded down {_doc_plus(c)}, or {d} if {xs} is empty.",
                rng.choice(("average", "mean", "avg")), (xs,), body,
                lambda vs: sum(vs) // len(vs) + c if vs else d, tuple(_lists(rng, [1, 2], [-3, 0])))


@_family("safe_div", 3)
def _safe_div(rng: random.Random) -> Task:
    a, b = rng.choice(INT_PAIRS)
    c, d = rng.randint(-9, 9), rng.randint(-9, 9)
    body = f"    if {b} == 0:\n        return {d}\n    return {a} // {b} {_code_plus(c)}\n"
    return Task(f"Return {a} divided by {b} rounded down {_doc_plus(c)}, or {d} if {b} is zero.",
                rng.choice(("divide", "safe_div", "quotient")), (a, b), body,
                lambda x, y: x // y + c if y else d, tuple([(5, 0), (7, 2), (-7, 2), *_pairs(rng)]))


@_family("sum_ints", 3)
def _sum_ints(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    c = rng.randint(-20, 20)
    body = f"    return sum(v for v in {xs} if isinstance(v, int)) {_code_plus(c)}\n"
    mixed = [[1, "a", 2], ["x", "y"], [3, "3", -4, "b"], []]
    return Task(f"Return the sum of the integers in {xs}, skipping the strings, {_doc_plus(c)}.",
                rng.choice(("sum_ints", "add_numbers", "total")), (xs,), body,
                lambda vs: sum(v for v in vs if isinstance(v, int)) + c,
                tuple((vs,) for vs in [*mixed, _int_list(rng), [rng.choice(WORDS), *_int_list(rng)]]))


@_family("join_numbers", 3)
def _join_numbers(rng: random.Random) -> Task:
    xs = rng.choice(LIST_NAMES)
    sep = rng.choice((",", ", ", "-", " ", ";", "|", "+", ":", "/"))
    prefix = rng.choice(SUFFIXES)
    body = f"    return '{prefix}' + '{sep}'.join(str(v) for v in {xs})\n"
    return Task(f"Return '{prefix}' followed by the numbers in {xs} joined by '{sep}'.",
                rng.choice(("join", "render", "to_text")), (xs,), body,
                lambda vs: prefix + sep.join(str(v) for v in vs), tuple(_lists(rng, [10, -2])))


# --- the suite -----------------------------------------------------------------------------

def _problem(family: Family, task: Task, split: str, index: int) -> Problem:
    prompt = task.prompt()
    cases = tuple(CallCase(tuple(args), task.ref(*copy.deepcopy(args))) for args in task.inputs)
    return Problem(
        task_id=f"builtin/{split}/{index}",
        prompt=prompt,
        tests=CallTests(task.fn, cases),
        solutions=(prompt + task.body,) if split != "rl_only" else (),
        difficulty=str(family.level),
        entry_point=task.fn,
        program_prefix=prompt,
        source="builtin",
        metadata={"family": family.name, "split": split},
    )


def task_key(problem: Problem) -> tuple[str, str]:
    """The exact task: the prompt states every parameter, name and constant of the family."""
    return (problem.metadata["family"], problem.prompt)


def _draw(rng: random.Random, split: str, n: int, seen: set[tuple[str, str]]) -> list[Problem]:
    """Round-robin over the families first, so every split holds every family once n allows;
    after that a family is drawn afresh on every try, so a small family that runs out of
    distinct tasks gives way to the others instead of stalling the draw."""
    problems: list[Problem] = []
    for index in range(n):
        for _ in range(1000):
            family = FAMILIES[index] if index < len(FAMILIES) else rng.choice(FAMILIES)
            task = family.build(rng)
            if (family.name, task.prompt()) not in seen:
                break
        else:
            raise ValueError(f"family {family.name} has run out of distinct tasks; ask for a smaller suite")
        seen.add((family.name, task.prompt()))
        problems.append(_problem(family, task, split, index))
    return problems


def builtin_suite(seed: int = 0, *, n_train: int = 2000, n_heldout: int = 400, n_rl_only: int = 1000) -> BuiltinSuite:
    """Held-out is drawn first, so evaluations at one seed compare the same problems whatever the training sizes."""
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    heldout = _draw(rng, "heldout", n_heldout, seen)
    train = _draw(rng, "train", n_train, seen)
    rl_only = _draw(rng, "rl_only", n_rl_only, seen)
    return BuiltinSuite(train=train, rl_only=rl_only, heldout=heldout)
