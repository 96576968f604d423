"""The benchmark's numbers from judged samples: the paper's table and what a reader needs to trust it.

pass@k uses the unbiased estimator (``rltf.evaluation.passk``), per difficulty and
overall, for the ks every task has enough samples for. Beside it, the two numbers of
the APPS paper: *strict accuracy*, the share of samples that pass every test (averaged
per task, so with n samples it is the unbiased pass@1, and with one sample the APPS
paper's own figure), and the *test case average*, the mean share of a task's tests a
sample passes (a compile error passes none). The outcome mix and the most frequent
error types say why programs fail.

Everything here is a function of the judged rows alone, in any order: a resumed, sharded
or merged run that judged the same samples gets the same summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

from rltf.evaluation.passk import pass_at_k, reportable_ks
from rltf.judge import OUTCOMES, JudgeResult

DIFFICULTY_ORDER = ("introductory", "interview", "competition")
TOP_ERRORS = 10


@dataclass(frozen=True)
class SampleResult:
    """One sample's verdict, reduced to what the numbers need."""

    task_id: str
    sample: int
    result: JudgeResult


@dataclass(frozen=True)
class TaskScore:
    difficulty: str | None
    n: int
    passed: int
    test_pass_ratio: float

    def pass_at(self, k: int) -> float:
        return pass_at_k(self.n, self.passed, k)


def task_scores(samples: Iterable[SampleResult], difficulties: Mapping[str, str | None]) -> dict[str, TaskScore]:
    """Per task: samples, passing samples and mean test pass ratio, in the order tasks first appear."""
    grouped: dict[str, list[JudgeResult]] = {}
    for sample in sorted(samples, key=lambda s: (s.task_id, s.sample)):
        grouped.setdefault(sample.task_id, []).append(sample.result)
    ordered = [task for task in difficulties if task in grouped] + sorted(set(grouped) - set(difficulties))
    return {task: TaskScore(difficulties.get(task), len(grouped[task]),
                            sum(r.outcome == "pass" for r in grouped[task]),
                            sum(r.pass_ratio for r in grouped[task]) / len(grouped[task]))
            for task in ordered}


def group_row(tasks: Sequence[TaskScore], outcomes: Counter, ks: Sequence[int]) -> dict[str, Any]:
    count = len(tasks)
    row: dict[str, Any] = {"n_tasks": count, "n_samples": sum(t.n for t in tasks)}
    row.update({f"pass@{k}": sum(t.pass_at(k) for t in tasks) / count for k in ks})
    row["strict_accuracy"] = sum(t.passed / t.n for t in tasks) / count
    row["test_case_average"] = sum(t.test_pass_ratio for t in tasks) / count
    row["outcomes"] = {outcome: outcomes[outcome] for outcome in OUTCOMES}
    return row


def summarize(samples: Sequence[SampleResult], difficulties: Mapping[str, str | None],
              ks: Iterable[int]) -> dict[str, Any]:
    """The summary ``summary.json`` holds (less the run's settings): groups "all", then each difficulty;
    plain JSON types, so a summary read back from disk equals the one returned."""
    if not samples:
        raise ValueError("no judged samples to summarize")
    scores = task_scores(samples, difficulties)
    wanted = sorted(set(ks))
    reported = reportable_ks(wanted, (t.n for t in scores.values()))
    members: dict[str, list[str]] = {"all": list(scores)}
    present = {t.difficulty for t in scores.values() if t.difficulty is not None}
    for group in [d for d in DIFFICULTY_ORDER if d in present] + sorted(present - set(DIFFICULTY_ORDER)):
        members[group] = [task for task, t in scores.items() if t.difficulty == group]
    outcome_counts: dict[str, Counter] = {group: Counter() for group in members}
    errors: Counter = Counter()
    for sample in samples:
        difficulty = scores[sample.task_id].difficulty
        for group in ("all", difficulty):
            if group in outcome_counts:
                outcome_counts[group][sample.result.outcome] += 1
        if sample.result.error is not None and sample.result.outcome != "pass":
            errors[sample.result.error.type] += 1
    return {
        "ks": list(reported),
        "skipped_ks": [k for k in wanted if k not in reported],
        "groups": {group: group_row([scores[t] for t in tasks], outcome_counts[group], reported)
                   for group, tasks in members.items()},
        "error_types": [list(item) for item in sorted(errors.items(), key=lambda item: (-item[1], item[0]))[:TOP_ERRORS]],
        "tasks": {task: asdict(score) for task, score in scores.items()},
    }
