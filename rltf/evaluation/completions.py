"""Judging a file of completions: the pipeline of ``rltf eval``, without its printing.

rows -> (tests from generators) -> judge -> (scores from providers) -> results in input order.

Every row is read and checked before any program runs, and this module writes nothing:
the caller writes results once everything is judged, so neither a bad row nor Ctrl-C
leaves a partial output file behind.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from rich.console import Console

from rltf.errors import DataError, Interrupted
from rltf.evaluation.scores import SampleResult, summarize
from rltf.feedback import JudgedSample, Reward
from rltf.inputs import load_json, numbered_lines, read_text
from rltf.judge import OUTCOMES, Judge, JudgeConfig, JudgeResult, Submission
from rltf.plugins import ReferenceOracle
from rltf.problems import Problem
from rltf.progress import progress_bar
from rltf.scoring import Feedback


@dataclass(frozen=True)
class CompletionRow:
    """One line of a completions file, resolved to the problem it answers."""

    line: int
    fields: dict[str, Any]
    problem: Problem
    completion: str


@dataclass(frozen=True)
class RewardStats:
    count: int
    mean: float


@dataclass(frozen=True)
class Evaluated:
    """Rows as judged (with any generated tests), their results, and any providers' rewards."""

    rows: list[CompletionRow]
    results: list[JudgeResult]
    rewards: list[list[Reward]] | None

    def tasks(self) -> set[str]:
        return {row.problem.task_id for row in self.rows}

    def summary(self, ks: Sequence[int], problems: Sequence[Problem]) -> dict[str, Any]:
        """The same table ``rltf bench`` makes (``rltf.evaluation.scores``); a task's samples are
        numbered in file order."""
        numbered: dict[str, int] = {}
        samples = []
        for row, result in zip(self.rows, self.results):
            task = row.problem.task_id
            samples.append(SampleResult(task, numbered.setdefault(task, 0), result))
            numbered[task] += 1
        return summarize(samples, {p.task_id: p.difficulty for p in problems}, ks)

    def outcomes(self) -> dict[str, int]:
        """Every outcome, zeros included, so summaries of different runs line up."""
        counts = Counter(result.outcome for result in self.results)
        return {outcome: counts[outcome] for outcome in OUTCOMES}

    def reward_stats(self) -> dict[str, RewardStats]:
        """Mean value per ``provider/kind`` over the rewards given (a kind only failing samples get averages over those)."""
        values: dict[str, list[float]] = {}
        for sample in self.rewards or []:
            for reward in sample:
                values.setdefault(f"{reward.provider}/{reward.kind}", []).append(reward.value)
        return {key: RewardStats(len(v), sum(v) / len(v)) for key, v in sorted(values.items())}

    def result_lines(self) -> str:
        """One JSON line per sample in input order: the user's fields, then the judge's, then any rewards."""
        lines = []
        for index, (row, result) in enumerate(zip(self.rows, self.results)):
            fields = {**row.fields, **result.to_dict()}
            if self.rewards is not None:
                fields["rewards"] = [reward.to_dict() for reward in self.rewards[index]]
            lines.append(json.dumps(fields, ensure_ascii=False) + "\n")
        return "".join(lines)


def read_completions(path: Path, problems: Mapping[str, Problem]) -> list[CompletionRow]:
    """Every row of a JSONL completions file, checked before any program runs."""
    rows = [_parse_row(path, number, line, problems) for number, line in numbered_lines(read_text(path))]
    if not rows:
        raise DataError(path, "no completions in the file")
    return rows


def _task_key(value: Any) -> str | None:
    """Task ids as the dataset spells them: MBPP's integer ids may come as JSON numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _parse_row(path: Path, line: int, text: str, problems: Mapping[str, Problem]) -> CompletionRow:
    fields = load_json(text, path, row=line)
    if not isinstance(fields, dict):
        raise DataError(path, f"expected a JSON object, got {type(fields).__name__}", row=line)
    unwritable = _not_text(fields)
    if unwritable is not None:
        raise DataError(path, "holds a lone surrogate (a \\ud800-\\udfff escape not in a pair), which is not text",
                        row=line, field=unwritable)
    for name in ("task_id", "completion"):
        if name not in fields:
            raise DataError(path, "missing", row=line, field=name)
    key = _task_key(fields["task_id"])
    if key is None:
        raise DataError(path, "must be a string or an integer", row=line, field="task_id")
    if key not in problems:
        raise DataError(path, f"unknown task id {key!r} for this dataset", row=line, field="task_id")
    if not isinstance(fields["completion"], str):
        raise DataError(path, "must be a string", row=line, field="completion")
    return CompletionRow(line, fields, problems[key], fields["completion"])


def _not_text(fields: dict[str, Any]) -> str | None:
    """The first field holding half of a UTF-16 pair alone, which JSON may escape but UTF-8 cannot
    encode: such a row could be neither run nor written to ``--out``."""
    for name, value in fields.items():
        try:
            json.dumps({name: value}, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return name
    return None


def evaluate_completions(rows: Sequence[CompletionRow], config: JudgeConfig, feedback: Feedback | None,
                         console: Console) -> Evaluated:
    """Judge (and score) every row; Ctrl-C becomes ``Interrupted`` saying how far it got."""
    with Judge(config) as judge:
        console.print(f"judge isolation: {judge.isolation}", highlight=False, soft_wrap=True)
        if feedback is not None and feedback.generators:
            rows = _stage("generating tests", _unique_problems(rows), console,
                          lambda advance: _with_extra_tests(rows, feedback, judge, advance))
        submissions = [Submission(row.problem, row.problem.program(row.completion)) for row in rows]
        results = _stage("judging", len(submissions), console,
                         lambda advance: judge.run(submissions, progress=advance))
    rewards = None
    if feedback is not None:
        rewards = _stage("scoring", len(rows), console, lambda advance: _score(rows, results, feedback, advance))
    return Evaluated(list(rows), results, rewards)


def _stage(name: str, total: int, console: Console, work: Callable[[Callable[[int], None]], Any]) -> Any:
    """Run one stage under a progress bar, counting what it finished for the Ctrl-C message."""
    done = 0

    with progress_bar(name, total=total, console=console) as advance:
        def counted(n: int) -> None:
            nonlocal done
            done += n
            advance(n)

        try:
            return work(counted)
        except KeyboardInterrupt:
            raise Interrupted(f"stopped while {name}, after {done} of {total}; no results were written") from None


def _unique_problems(rows: Iterable[CompletionRow]) -> int:
    return len({row.problem.task_id for row in rows})


def _with_extra_tests(rows: Sequence[CompletionRow], feedback: Feedback, judge: Judge,
                      advance: Callable[[int], None]) -> list[CompletionRow]:
    """Rows whose problems carry the generators' tests, generated once per problem, not per sample."""
    problems = {row.problem.task_id: row.problem for row in rows}
    oracle = ReferenceOracle(judge)
    for task_id, problem in problems.items():
        problems[task_id] = feedback.with_extra_tests(problem, oracle)
        advance(1)
    return [replace(row, problem=problems[row.problem.task_id]) for row in rows]


def _score(rows: Sequence[CompletionRow], results: Sequence[JudgeResult], feedback: Feedback,
           advance: Callable[[int], None]) -> list[list[Reward]]:
    """Each sample's rewards; ids name the completions file's line, so a failure points at its row."""
    samples = [JudgedSample(f"{row.problem.task_id}#{row.line}", row.problem, row.problem.program(row.completion), result)
               for row, result in zip(rows, results)]
    return feedback.score(samples, advance)


def summary_dict(summary: Mapping[str, Any], evaluated: Evaluated, failures: Mapping[str, int]) -> dict[str, Any]:
    """What ``--summary-json`` holds: the overall scores at the top, then per difficulty."""
    def scores(group: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in group.items() if key != "outcomes"}

    groups = summary["groups"]
    return {
        **scores(groups["all"]),
        "by_difficulty": {name: scores(group) for name, group in groups.items() if name != "all"},
        "outcomes": evaluated.outcomes(),
        "rewards": {key: stats.mean for key, stats in evaluated.reward_stats().items()},
        "feedback_failures": dict(failures),
    }
