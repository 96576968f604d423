"""What the hypothesis test generator is worth: wrong programs it catches that MBPP's tests miss.

MBPP has three asserts per problem, so a program can be wrong and still pass them all; RL
from unit tests then rewards it as correct. The measure here is how many such programs the
generated tests expose. The wrong programs are mutants of the reference solutions (an
operator flipped, a constant moved by one, a loop statement dropped, ...) that still pass
the original tests, as a model's near-miss would.

Steps, all deterministic:

1. A seeded sample of 500 MBPP problems (``--problems N``; 0 for all 974, about 8 minutes).
2. Up to ``--mutants`` mutants per reference solution (a fixed random choice among all its
   mutation sites), judged against the original tests; the ones that pass survive.
3. Extra tests for every sampled problem, through ``Plugins.extra_tests`` with a
   ``ReferenceOracle``, as a training run would ask for them.
4. Each survivor judged against its problem with the extra tests: a survivor that now fails
   is caught. Some survivors are equivalent to the reference (the mutation changes nothing
   observable), and no test can catch those; the catch rate is a lower bound.
5. The reference judged against its augmented problem: it must pass every generated test.
6. An outside reference: the same survivors judged against tests built the same way (same
   reference answers, same assert form, same check run) from EvalPlus's MBPP+ inputs,
   the first ``--evalplus-inputs`` of each problem's base and plus inputs, for the sampled
   problems MBPP+ covers. What EvalPlus catches and ours misses is the room left; what
   neither catches is most likely equivalent.
7. False alarms: EvalPlus's canonical solutions, correct programs written independently of
   MBPP's references, judged against the original, our and the MBPP+-input tests. One that
   passes the original and MBPP+ tests but fails ours means an input of ours where two
   correct programs disagree: a test that would punish a correct model.

Run: ``.venv/bin/python benchmarks/hypothesis_tests.py [--problems N] [--out-dir DIR]``.
Results: ``benchmarks/results/hypothesis_tests.{json,md}``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from rltf.datasets import load_dataset
from rltf.judge import Judge, JudgeConfig, JudgeResult, Submission
from rltf.judge.sandbox import detect
from rltf.plugins import Plugins, ReferenceOracle, with_extra_tests
from rltf.problems import AssertTests, Problem
from rltf_hypothesis.asserts import AssertPlan, plan_asserts
from rltf_hypothesis.generate import assert_candidates, verified

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RLTF_SHARED_DATA") or REPO.parent / "shared" / "data")
MBPP = DATA / "mbpp" / "mbpp.jsonl"
MBPP_PLUS = DATA / "evalplus" / "MbppPlus.jsonl.gz"
MAX_INPUT_CHARS = 5000  # longer EvalPlus inputs (stress tests) are left out
SEED = 0
TIMEOUT_S = 2.0
PROBLEMS = 500  # of 974: the whole run takes about 3.5 minutes on 2 cores
MAX_TESTS = 10
EXAMPLES = 8


# ---- mutants ---------------------------------------------------------------------------

_COMPARE_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.GtE), ast.LtE: (ast.Lt, ast.Gt), ast.Gt: (ast.GtE, ast.LtE), ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}
_BINOP_SWAPS: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mod,
                                  ast.Mod: ast.FloorDiv}


class Mutator(ast.NodeTransformer):
    """Applies mutation number ``target`` (counting sites in traversal order), or only counts."""

    def __init__(self, target: int = -1):
        self.target, self.count, self.applied = target, 0, ""

    def _hit(self, operator: str) -> bool:
        hit = self.count == self.target
        self.count += 1
        if hit:
            self.applied = operator
        return hit

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            for new in _COMPARE_SWAPS.get(type(op), ()):
                if self._hit("comparison operator swapped"):
                    node.ops[i] = new()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool):
            if self._hit("bool constant flipped"):
                return ast.Constant(not node.value)
        elif isinstance(node.value, int):
            for delta in (1, -1):
                if self._hit("int constant +1/-1"):
                    return ast.Constant(node.value + delta)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        if self._hit("and/or swapped"):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        new = _BINOP_SWAPS.get(type(node.op))
        if new is not None and self._hit("arithmetic operator swapped"):
            node.op = new()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._hit("not dropped"):
            return node.operand
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("min", "max") and self._hit("min/max swapped"):
            node.func = ast.Name("max" if node.func.id == "min" else "min", ast.Load())
        return node

    def _loop(self, node: ast.For | ast.While) -> ast.AST:
        self.generic_visit(node)
        if len(node.body) > 1 and self._hit("last loop statement dropped"):
            node.body = node.body[:-1]
        return node

    visit_For = visit_While = _loop


@dataclass(frozen=True)
class Mutant:  # hashable: the EvalPlus comparison keys results by mutant
    task_id: str
    operator: str
    program: str


def mutants(problem: Problem, limit: int) -> list[Mutant]:
    """Up to ``limit`` distinct, compiling mutants of the reference, chosen by a seeded draw."""
    source = problem.solutions[0]
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    counter = Mutator()
    counter.visit(copy.deepcopy(tree))
    sites = list(range(counter.count))
    random.Random(f"{SEED}:{problem.task_id}").shuffle(sites)
    original, seen, found = ast.unparse(tree), set(), []
    for site in sites:
        mutator = Mutator(site)
        text = ast.unparse(ast.fix_missing_locations(mutator.visit(copy.deepcopy(tree))))
        if text == original or text in seen or not _compiles(text):
            continue
        seen.add(text)
        found.append(Mutant(problem.task_id, mutator.applied, text))
        if len(found) == limit:
            break
    return found


def _compiles(text: str) -> bool:
    try:
        compile(text, "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


# ---- the run ---------------------------------------------------------------------------

def sample(problems: list[Problem], n: int) -> list[Problem]:
    if n <= 0 or n >= len(problems):
        return problems
    chosen = sorted(random.Random(SEED).sample(range(len(problems)), n))
    return [problems[i] for i in chosen]


def timed(label: str, timings: dict[str, float], fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    value = fn()
    timings[label] = round(time.monotonic() - started, 2)
    print(f"  {label}: {timings[label]} s", file=sys.stderr)
    return value


def generate_all(problems: list[Problem], judge: Judge,
                 options: dict[str, Any]) -> tuple[dict[str, Problem], dict[str, float]]:
    plugins = Plugins()
    providers = plugins.select("hypothesis")
    oracle = ReferenceOracle(judge)
    augmented, seconds = {}, {}
    for problem in problems:
        started = time.monotonic()
        augmented[problem.task_id] = plugins.extra_tests(providers, problem, oracle, {"hypothesis": options})
        seconds[problem.task_id] = time.monotonic() - started
    return augmented, seconds


@dataclass
class Run:
    """Everything one run judged, for the summary."""

    problems: list[Problem]
    built: list[Mutant]
    survivors: list[Mutant]
    augmented: dict[str, Problem]
    per_problem_s: dict[str, float]
    on_augmented: list[JudgeResult]
    references: list[JudgeResult]
    evalplus: dict[str, Problem]
    on_evalplus: dict[Mutant, JudgeResult]
    canonical: dict[str, list[JudgeResult]]  # EvalPlus's solutions on the original, our and its tests
    timings: dict[str, float]


def run(n_problems: int, mutants_per_problem: int, evalplus_inputs: int) -> Run:
    problems = sample(load_dataset("mbpp", str(MBPP)), n_problems)
    timings: dict[str, float] = {}
    options = {"seed": SEED, "max_tests": MAX_TESTS}
    started = time.monotonic()
    with Judge(JudgeConfig(timeout_s=TIMEOUT_S)) as judge:
        by_id = {p.task_id: p for p in problems}
        built = timed("build mutants", timings, lambda: [m for p in problems for m in mutants(p, mutants_per_problem)])
        first = timed("judge mutants on the original tests", timings,
                      lambda: judge.run([Submission(by_id[m.task_id], m.program) for m in built]))
        survivors = [m for m, r in zip(built, first) if r.outcome == "pass"]
        augmented, per_problem_s = timed("generate extra tests", timings,
                                         lambda: generate_all(problems, judge, options))
        second = timed("judge survivors on the augmented tests", timings,
                       lambda: judge.run([Submission(augmented[m.task_id], m.program) for m in survivors]))
        reference = timed("judge references on the original and augmented tests", timings, lambda: judge.run(
            [Submission(tests[p.task_id], p.solutions[0]) for tests in (by_id, augmented) for p in problems]))
        rows = evalplus_rows() if evalplus_inputs else {}
        plus = timed("build tests from EvalPlus inputs", timings,
                     lambda: evalplus_problems(problems, rows, judge, evalplus_inputs))
        in_plus = [m for m in survivors if m.task_id in plus]
        third = timed("judge survivors on the EvalPlus tests", timings,
                      lambda: judge.run([Submission(plus[m.task_id], m.program) for m in in_plus]))
        covered = [p for p in problems if p.task_id in plus]
        canonical = timed("judge EvalPlus's own solutions", timings, lambda: {
            kind: judge.run([Submission(tests[p.task_id], rows[p.task_id]["canonical_solution"]) for p in covered])
            for kind, tests in (("original", by_id), ("ours", augmented), ("evalplus", plus))})
    timings["total"] = round(time.monotonic() - started, 2)
    return Run(problems, built, survivors, augmented, per_problem_s, second, reference, plus,
               dict(zip(in_plus, third)), canonical, timings)


def summarise(done: Run) -> dict[str, Any]:
    problems, augmented, built, survivors = done.problems, done.augmented, done.built, done.survivors
    added = {p.task_id: len(augmented[p.task_id].tests) - len(p.tests) for p in problems}
    caught = [(m, r) for m, r in zip(survivors, done.on_augmented) if r.outcome != "pass"]
    operators: dict[str, Counter] = {}
    for m in built:
        operators.setdefault(m.operator, Counter())["built"] += 1
    for m in survivors:
        operators[m.operator]["survived"] += 1
    for m, _ in caught:
        operators[m.operator]["caught"] += 1
    generation = sorted(done.per_problem_s.values())
    return {
        "problems_considered": len(problems),
        "problems_with_generated_tests": sum(1 for n in added.values() if n),
        "tests_generated": sum(added.values()),
        "tests_per_problem_with_tests": round(sum(added.values()) / max(1, sum(1 for n in added.values() if n)), 2),
        "mutants_built": len(built),
        "mutants_failing_original_tests": len(built) - len(survivors),
        "mutants_surviving_original_tests": len(survivors),
        "problems_with_survivors": len({m.task_id for m in survivors}),
        "survivors_on_problems_with_generated_tests": sum(1 for m in survivors if added[m.task_id]),
        "survivors_caught_by_generated_tests": len(caught),
        "caught_rate": round(len(caught) / max(1, len(survivors)), 3),
        "caught_rate_where_tests_were_generated": round(
            len(caught) / max(1, sum(1 for m in survivors if added[m.task_id])), 3),
        "problems_with_a_caught_survivor": len({m.task_id for m, _ in caught}),
        "caught_by_outcome": dict(Counter(r.outcome for _, r in caught)),
        "by_operator": {op: dict(c) for op, c in sorted(operators.items())},
        "references_failing_their_generated_tests": [
            p.task_id for p, before, after in zip(problems, done.references, done.references[len(problems):])
            if before.outcome == "pass" != after.outcome],
        "references_failing_the_original_tests": [p.task_id for p, r in zip(problems, done.references)
                                                  if r.outcome != "pass"],
        "generation_s": {"total": round(sum(generation), 2),
                         "mean_per_problem": round(sum(generation) / len(generation), 3),
                         "max_per_problem": round(generation[-1], 2)},
        "timings_s": done.timings,
        "examples": [example(augmented[m.task_id], m, r) for m, r in caught[:EXAMPLES]],
        "evalplus": evalplus_summary(done, {m for m, _ in caught}),
    }


def evalplus_summary(done: Run, ours: set[Mutant]) -> dict[str, Any]:
    """Survivors of the problems MBPP+ covers: caught by our tests, by tests from its inputs."""
    plus = {m for m, r in done.on_evalplus.items() if r.outcome != "pass"}
    covered = [m for m in done.survivors if m.task_id in done.evalplus]
    mine = {m for m in covered if m in ours}
    original = {p.task_id: len(p.tests) for p in done.problems}
    added = {t: len(p.tests) - original[t] for t, p in done.evalplus.items()}
    only_plus = [m for m in covered if m in plus and m not in mine]
    return {
        "problems": len(done.evalplus),
        "problems_with_tests": sum(1 for n in added.values() if n),
        "tests": sum(added.values()),
        "our_tests_on_these_problems": sum(len(done.augmented[t].tests) - original[t] for t in done.evalplus),
        "survivors": len(covered),
        "caught_by_ours": len(mine),
        "caught_by_evalplus_inputs": len(plus),
        "caught_by_both": len(mine & plus),
        "caught_by_ours_only": len(mine - plus),
        "caught_by_evalplus_only": len(only_plus),
        "caught_by_neither": len(covered) - len(mine | plus),
        "canonical_solutions": len(done.canonical.get("original", [])),
        "canonical_passing_original": sum(r.outcome == "pass" for r in done.canonical.get("original", [])),
        "of_them_passing": {k: sum(o.outcome == r.outcome == "pass" for o, r in zip(done.canonical["original"], v))
                            for k, v in done.canonical.items() if k != "original"},
        "canonical_failing_ours_only": [example(done.augmented[t], Mutant(t, "EvalPlus canonical solution", ""), r)
                                        for t, r in canonical_failing_ours(done)],
        "evalplus_only_examples": [example(done.evalplus[m.task_id], m, done.on_evalplus[m])
                                   for m in only_plus[:EXAMPLES]],
    }


def example(problem: Problem, mutant: Mutant, result: JudgeResult) -> dict[str, Any]:
    failed = next((t for t in result.tests if t.verdict != "pass"), None)
    test = problem.tests.asserts[failed.index] if failed and isinstance(problem.tests, AssertTests) else None
    return {"task_id": mutant.task_id, "operator": mutant.operator, "outcome": result.outcome,
            "failing_test": test, "detail": failed.detail if failed else None}


# ---- EvalPlus, an outside reference ----------------------------------------------------

def evalplus_rows() -> dict[str, dict[str, Any]]:
    """MBPP+ records by MBPP task id."""
    if not MBPP_PLUS.exists():
        return {}
    with gzip.open(MBPP_PLUS, "rt") as f:
        return {r["task_id"].split("/")[1]: r for r in map(json.loads, f)}


def evalplus_problems(problems: list[Problem], rows: dict[str, dict[str, Any]], judge: Judge,
                      per_problem: int) -> dict[str, Problem]:
    """The sampled problems MBPP+ covers, with tests from its inputs instead of ours."""
    oracle, out = ReferenceOracle(judge), {}
    for problem in problems:
        row = rows.get(problem.task_id)
        plan = plan_asserts(problem.tests.asserts, problem.tests.setup_code)
        if row is None or plan is None:
            continue
        inputs = _evalplus_inputs(row, plan, per_problem)
        found = verified(problem, assert_candidates(problem, plan, inputs, oracle), oracle)
        out[problem.task_id] = with_extra_tests(problem, [c.test for c in found])
    return out


def _evalplus_inputs(row: dict[str, Any], plan: AssertPlan, limit: int) -> list[tuple[Any, ...]]:
    """MBPP+ stores tuples as JSON lists; they are given back the types MBPP's asserts use."""
    like = plan.calls[0].args
    seen = {repr(c.args) for c in plan.calls}
    inputs = []
    for args in [*row["base_input"], *(row["plus_input"] or [])]:
        if len(args) != len(like) or len(repr(args)) > MAX_INPUT_CHARS:
            continue
        conformed = tuple(_conform(value, model) for value, model in zip(args, like))
        if repr(conformed) not in seen:
            seen.add(repr(conformed))
            inputs.append(conformed)
        if len(inputs) == limit:
            break
    return inputs


def _conform(value: Any, model: Any) -> Any:
    if isinstance(value, list) and isinstance(model, (tuple, list, set)):
        items = [_conform(v, next(iter(model)) if model else None) for v in value]
        return type(model)(items) if not isinstance(model, set) else set(items)
    return value


# ---- reporting -------------------------------------------------------------------------

def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(results: dict[str, Any]) -> str:
    r = results["results"]
    s = results["settings"]
    lines = [
        "# Hypothesis-generated tests on MBPP: wrong programs caught",
        "",
        f"Made by `benchmarks/hypothesis_tests.py` on {results['date']} (rltf {results['rltf_revision']}, "
        f"{results['machine']['cores']} cores, Python {results['machine']['python']}, judge isolation: "
        f"{results['judge_isolation']}).",
        "",
        f"Settings: {r['problems_considered']} MBPP problems, up to {s['mutants_per_problem']} mutants per reference "
        f"solution, `max_tests={s['max_tests']}`, `seed={s['seed']}`, judge timeout {s['timeout_s']} s.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| problems considered | {r['problems_considered']} |",
        f"| problems with generated tests | {r['problems_with_generated_tests']} |",
        f"| tests generated | {r['tests_generated']} ({r['tests_per_problem_with_tests']} per problem with tests) |",
        f"| mutants built | {r['mutants_built']} |",
        f"| mutants caught by the original tests | {r['mutants_failing_original_tests']} |",
        f"| mutants surviving the original tests | {r['mutants_surviving_original_tests']} "
        f"(on {r['problems_with_survivors']} problems) |",
        f"| of them on problems with generated tests | {r['survivors_on_problems_with_generated_tests']} |",
        f"| **survivors caught by the generated tests** | **{r['survivors_caught_by_generated_tests']}** "
        f"({100 * r['caught_rate']:.1f}% of all survivors, {100 * r['caught_rate_where_tests_were_generated']:.1f}% "
        f"where tests were generated) |",
        f"| problems with a caught survivor | {r['problems_with_a_caught_survivor']} |",
        f"| caught as | {', '.join(f'{k}: {v}' for k, v in sorted(r['caught_by_outcome'].items()))} |",
        f"| references failing their own generated tests | {len(r['references_failing_their_generated_tests'])} "
        f"(and {len(r['references_failing_the_original_tests'])} failing the original tests at this timeout: "
        f"{', '.join(r['references_failing_the_original_tests']) or 'none'}) |",
        f"| generating tests (hypothesis + reference runs + check run) | {r['generation_s']['total']} s in all, "
        f"{r['generation_s']['mean_per_problem']} s per problem, at most {r['generation_s']['max_per_problem']} s |",
        f"| whole run | {r['timings_s']['total']} s |",
        "",
        "## By mutation operator",
        "",
        "| operator | built | survived the original tests | caught by generated tests |",
        "|---|---|---|---|",
    ]
    for op, c in r["by_operator"].items():
        lines.append(f"| {op} | {c.get('built', 0)} | {c.get('survived', 0)} | {c.get('caught', 0)} |")
    lines += evalplus_markdown(r["evalplus"], s["evalplus_inputs_per_problem"])
    lines += ["", "## Notes", ""] + [f"- {note}" for note in results["notes"]]
    lines += ["", "## Examples of caught survivors", ""]
    for e in r["examples"]:
        lines.append(f"- MBPP {e['task_id']}, {e['operator']}, {e['outcome']}: `{e['failing_test']}`")
    return "\n".join(lines) + "\n"


def canonical_failing_ours(done: Run) -> list[tuple[str, JudgeResult]]:
    """EvalPlus's solutions that pass the original and MBPP+ tests but not ours: disagreements."""
    covered = [p.task_id for p in done.problems if p.task_id in done.evalplus]
    results = [done.canonical.get(k, []) for k in ("original", "ours", "evalplus")]
    return [(t, u) for t, o, u, e in zip(covered, *results) if o.outcome == e.outcome == "pass" != u.outcome]


def evalplus_markdown(e: dict[str, Any], per_problem: int) -> list[str]:
    if not e["problems"]:
        return []
    lines = [
        "", "## Outside reference: tests from EvalPlus's MBPP+ inputs", "",
        f"The {e['problems']} sampled problems that MBPP+ covers; their surviving mutants judged against tests "
        f"built exactly as ours are (same reference answers, assert form and check run) from the first "
        f"{per_problem} MBPP+ inputs of each problem, hand-picked and mutation-grown by EvalPlus.", "",
        "| measure | our generated tests | tests from MBPP+ inputs |",
        "|---|---|---|",
        f"| tests on these problems | {e['our_tests_on_these_problems']} | {e['tests']} |",
        f"| survivors caught (of {e['survivors']}) | {e['caught_by_ours']} | {e['caught_by_evalplus_inputs']} |",
        f"| caught by this one only | {e['caught_by_ours_only']} | {e['caught_by_evalplus_only']} |", "",
        f"Caught by both: {e['caught_by_both']}; by neither: {e['caught_by_neither']} (most of these are likely "
        f"equivalent to the reference).", "",
        "False alarms: EvalPlus's own canonical solutions are independent correct programs. Of "
        f"{e['canonical_solutions']}, {e['canonical_passing_original']} pass the original tests; of these, "
        f"{e['of_them_passing'].get('evalplus', 0)} pass the tests from MBPP+ inputs and "
        f"{e['of_them_passing'].get('ours', 0)} ours. {len(e['canonical_failing_ours_only'])} pass the original "
        "and MBPP+ tests but fail ours (an input outside what the problem promises, where two correct programs "
        "may differ, or where the MBPP reference and EvalPlus's solution disagree)" +
        (":" if e["canonical_failing_ours_only"] else "."), "",
    ]
    lines += [f"- MBPP {x['task_id']}: `{(x['failing_test'] or '')[:160]}` ({(x['detail'] or '')[:120]})"
              for x in e["canonical_failing_ours_only"]]
    lines.append("")
    if e["evalplus_only_examples"]:
        lines += ["Survivors only the MBPP+ inputs caught, for example:", ""]
        lines += [f"- MBPP {x['task_id']}, {x['operator']}, {x['outcome']}: `{(x['failing_test'] or '')[:160]}`"
                  for x in e["evalplus_only_examples"]]
    return lines


def notes() -> list[str]:
    return [
        "A surviving mutant may be equivalent to the reference (say `<` for `<=` where the two never differ on "
        "valid input); no test can catch those, so the caught rate is a lower bound on the share of wrong "
        "survivors caught.",
        "Timeouts count as caught: the mutant ran past the judge's limit on a generated input the reference "
        "answered in time.",
        "Problems get no tests when none of their asserts calls a function with literal arguments, or when the "
        "reference failed on every generated input, returned None where no original test expects None, or "
        "returned floats inside a container (skipped rather than compared exactly).",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=PROBLEMS,
                        help=f"sample this many MBPP problems (default {PROBLEMS}; 0: all 974)")
    parser.add_argument("--mutants", type=int, default=10, help="mutants per reference solution (default 10)")
    parser.add_argument("--evalplus-inputs", type=int, default=50,
                        help="MBPP+ inputs per problem for the outside reference (default 50; 0: skip it)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    r = summarise(run(args.problems, args.mutants, args.evalplus_inputs))
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rltf_revision": git_revision(),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "judge_isolation": detect().description,
        "settings": {"dataset": "mbpp (full release)", "problems": args.problems, "mutants_per_problem": args.mutants,
                     "max_tests": MAX_TESTS, "seed": SEED, "timeout_s": TIMEOUT_S,
                     "evalplus_inputs_per_problem": args.evalplus_inputs},
        "results": r,
        "notes": notes(),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "hypothesis_tests.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out_dir / "hypothesis_tests.md").write_text(markdown(results))
    print(markdown(results))
    return 1 if r["references_failing_their_generated_tests"] else 0


if __name__ == "__main__":
    sys.exit(main())
