import random
from collections import Counter

import pytest

from rltf.judge import Judge, JudgeConfig, Submission
from rltf.problems import CallTests, Problem
from rltf import tasks
from rltf.tasks import FAMILIES, BuiltinSuite, Family, builtin_suite, task_key

FAMILY_NAMES = {family.name for family in FAMILIES}


@pytest.fixture(scope="module")
def suite() -> BuiltinSuite:
    return builtin_suite(0)


@pytest.fixture(scope="module")
def judge():
    with Judge(JudgeConfig(timeout_s=5)) as j:
        yield j


def splits(suite: BuiltinSuite) -> dict[str, list[Problem]]:
    return {"train": suite.train, "rl_only": suite.rl_only, "heldout": suite.heldout}


def one_per_family(problems: list[Problem]) -> dict[str, Problem]:
    return {p.metadata["family"]: p for p in reversed(problems)}


def test_at_least_eight_families_with_levels():
    assert len(FAMILIES) >= 8 and len(FAMILY_NAMES) == len(FAMILIES)


def test_default_sizes(suite):
    assert (len(suite.train), len(suite.rl_only), len(suite.heldout)) == (2000, 1000, 400)


def test_same_seed_same_suite_other_seed_other_suite(suite):
    assert builtin_suite(0) == suite
    other = builtin_suite(1)
    assert [p.prompt for p in other.heldout] != [p.prompt for p in suite.heldout]


def test_heldout_depends_only_on_the_seed(suite):
    small = builtin_suite(0, n_train=50, n_rl_only=30)
    assert small.heldout == suite.heldout and len(small.train) == 50 and len(small.rl_only) == 30


def test_no_exact_task_repeats_within_or_across_splits(suite):
    keys = [task_key(p) for ps in splits(suite).values() for p in ps]
    assert len(keys) == len(set(keys))
    heldout = {task_key(p) for p in suite.heldout}
    assert not heldout & {task_key(p) for p in suite.train + suite.rl_only}


def test_every_family_in_every_split(suite):
    for name, problems in splits(suite).items():
        assert {p.metadata["family"] for p in problems} == FAMILY_NAMES, name
        assert all(p.metadata["split"] == name for p in problems)


def test_problem_shape(suite):
    ids = [p.task_id for ps in splits(suite).values() for p in ps]
    assert len(ids) == len(set(ids))
    levels = {f.name: str(f.level) for f in FAMILIES}
    for p in suite.train + suite.rl_only + suite.heldout:
        assert isinstance(p.tests, CallTests) and len(p.tests) >= 5
        assert p.prompt.startswith("# ") and f"def {p.tests.fn_name}(" in p.prompt.splitlines()[1]
        assert p.prompt.count("\n") == 2 and p.program_prefix == p.prompt and p.source == "builtin"
        assert p.difficulty == levels[p.metadata["family"]] and p.entry_point == p.tests.fn_name


def test_solutions_only_where_sft_may_use_them(suite):
    assert all(p.solutions == () for p in suite.rl_only)
    for p in suite.train + suite.heldout:
        (solution,) = p.solutions
        assert solution.startswith(p.prompt)


def test_too_large_a_suite_says_so(monkeypatch):
    tiny = FAMILIES[0]
    monkeypatch.setattr(tasks, "FAMILIES", [Family(tiny.name, tiny.level, lambda rng: tiny.build(random.Random(0)))])
    with pytest.raises(ValueError, match="run out of distinct tasks"):
        builtin_suite(0, n_heldout=2)


def test_reference_solutions_pass_the_judge(suite, judge):
    sample = random.Random(0).sample(suite.train, 300)
    sample += list(one_per_family(suite.train).values()) + list(one_per_family(suite.heldout).values())
    results = judge.run([Submission(p, p.solutions[0]) for p in sample])
    failed = [(p.task_id, r.outcome, r.error) for p, r in zip(sample, results) if r.outcome != "pass"]
    assert not failed
    assert Counter(p.metadata["family"] for p in sample).keys() == FAMILY_NAMES


# Plausible wrong programs, made from the reference by the mistake a model would make.
# Bodies start on line 3 (comment, signature, body).

def drop_empty_guard(solution: str) -> str:
    lines = solution.splitlines(keepends=True)
    assert lines[2].lstrip().startswith("if not ")
    return "".join(lines[:2] + lines[4:])


def index_without_check(solution: str) -> str:
    lines = solution.splitlines(keepends=True)
    return "".join(lines[:2]) + lines[3][4:]


def off_by_one(solution: str) -> str:
    for strict, loose in ((" > ", " >= "), (" < ", " <= ")):
        if strict in solution:
            return solution.replace(strict, loose)
    return solution.replace(" >= ", " > ").replace(" <= ", " < ")


def sum_everything(solution: str) -> str:
    head, _, _ = solution.partition("    return sum(")
    name = head.split("(")[1].split(")")[0]
    return f"{head}    return sum({name})\n"


def typo(solution: str) -> str:
    return solution.replace("return ", "return undefined_name + ", 1)


WRONG = [
    ("end_element", drop_empty_guard, "runtime_error", "IndexError"),
    ("index_extreme", drop_empty_guard, "runtime_error", "ValueError"),
    ("average", drop_empty_guard, "runtime_error", "ZeroDivisionError"),
    ("dict_get", index_without_check, "runtime_error", "KeyError"),
    ("element_at", index_without_check, "runtime_error", "IndexError"),
    ("sum_ints", sum_everything, "runtime_error", "TypeError"),
    ("sum_plus", typo, "runtime_error", "NameError"),
    ("count_compare", off_by_one, "failure", None),
]


@pytest.mark.parametrize(("family", "mistake", "outcome", "error_type"), WRONG, ids=[w[0] for w in WRONG])
def test_plausible_mistakes_fail(suite, judge, family, mistake, outcome, error_type):
    problems = [p for p in suite.train if p.metadata["family"] == family][:5]
    results = judge.run([Submission(p, mistake(p.solutions[0])) for p in problems])
    for p, r in zip(problems, results):
        assert r.outcome == outcome, (p.solutions[0], mistake(p.solutions[0]), r)
        if error_type:
            assert (r.error.type, r.error.line) == (error_type, 3)
        else:
            assert 0 < r.passed < r.total
