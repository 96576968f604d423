"""Every reference solution in the offline benchmark data passes the judge.

The timeout is the judge's default (10 s per program, all tests together): MBPP/123
(amicable numbers below 10,000) is the slowest reference solution at about 2.5 s.
"""

from __future__ import annotations

from collections import Counter

import pytest

from rltf.datasets import load_dataset
from rltf.judge import Judge, JudgeConfig, Submission

# Codeforces problems that accept any valid answer (a special judge) or whose first
# listed solution is wrong: APPS's tests hold one answer, the first solution prints
# another. Another listed solution of each passes.
APPS_FIRST_SOLUTION_FAILS = {"33", "2023", "2029", "2378", "2386", "2398", "2400"}


@pytest.fixture(scope="module")
def judge():
    with Judge(JudgeConfig()) as j:
        yield j


def _outcomes(judge, problems):
    results = judge.run([Submission(p, p.solutions[0]) for p in problems])
    return {p.task_id: r for p, r in zip(problems, results)}


def test_humaneval_164_of_164(judge):
    problems = load_dataset("humaneval")
    results = _outcomes(judge, problems)
    assert len(results) == 164
    assert {k: r.outcome for k, r in results.items() if r.outcome != "pass"} == {}
    assert sum(r.total for r in results.values()) == sum(len(p.tests) for p in problems)


def test_mbpp_974_of_974(judge, shared_data):
    results = _outcomes(judge, load_dataset("mbpp", str(shared_data / "mbpp" / "mbpp.jsonl")))
    assert len(results) == 974
    assert {k: (r.outcome, r.error) for k, r in results.items() if r.outcome != "pass"} == {}


def test_mbpp_sanitized_427_of_427(judge, shared_data):
    results = _outcomes(judge, load_dataset("mbpp-sanitized", str(shared_data / "mbpp" / "sanitized-mbpp.json")))
    assert len(results) == 427
    assert {k: (r.outcome, r.error) for k, r in results.items() if r.outcome != "pass"} == {}


def test_apps_train_mini(judge, shared_data):
    problems = load_dataset("apps", str(shared_data / "apps" / "train-mini"))
    first = _outcomes(judge, problems)
    failing = {k for k, r in first.items() if r.outcome != "pass"}
    assert len(problems) == 150
    assert failing == APPS_FIRST_SOLUTION_FAILS
    assert all(first[k].outcome == "failure" for k in failing)
    retry = [p for p in problems if p.task_id in failing]
    results = judge.run([Submission(p, s) for p in retry for s in p.solutions[1:]])
    passing = Counter(sub.problem.task_id for sub, r in
                      zip([Submission(p, s) for p in retry for s in p.solutions[1:]], results) if r.outcome == "pass")
    assert set(passing) == failing


def test_apps_original_layout(judge, shared_data):
    problems = load_dataset("apps", str(shared_data / "apps" / "original-layout" / "train"))
    results = _outcomes(judge, problems)
    assert len(results) == 5
    assert {r.outcome for r in results.values()} == {"pass"}
    assert Counter(p.tests.style for p in problems) == {"stdio": 3, "call": 2}
