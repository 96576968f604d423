"""The ``rltf`` command line.

Every command turns ``RltfError`` into one ``error: ...`` line and exit status 2, so a
user who passed a bad file sees where it is bad instead of a traceback.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rltf.datasets import DATASETS, load_dataset
from rltf.errors import DataError, RltfError
from rltf.judge import OUTCOMES, Judge, JudgeConfig, JudgeResult, Submission
from rltf.passk import Summary, summarize
from rltf.problems import Problem
from rltf.progress import progress_bar

app = typer.Typer(
    help="Online reinforcement learning from unit-test feedback (RLTF) for code LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(command: F) -> F:
    """Turn the errors a user can fix into one line on stderr and exit status 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RltfError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None

    return run  # type: ignore[return-value]


@app.callback()
def main() -> None:
    """Online reinforcement learning from unit-test feedback (RLTF) for code LLMs."""


# The loaders' names as choices, so `--help` lists them and a typo is a usage error.
DatasetName = Enum("DatasetName", [(name, name) for name in DATASETS], type=str)


@dataclass(frozen=True)
class CompletionRow:
    """One line of a completions file, resolved to the problem it answers."""

    line: int
    fields: dict[str, Any]
    problem: Problem
    completion: str


def parse_ks(text: str) -> list[int]:
    """``"1,10,100"`` -> ``[1, 10, 100]``; a bad list is a usage error, not a crash."""
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1:
        raise typer.BadParameter(f"expected positive integers such as 1,10,100, got {text!r}", param_hint="'--k'")
    return ks


def _task_key(value: Any) -> str | None:
    """Task ids as the dataset spells them: MBPP's integer ids may come as JSON numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _parse_row(path: Path, line: int, text: str, problems: Mapping[str, Problem]) -> CompletionRow:
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(path, f"not valid JSON ({error.msg})", row=line) from None
    if not isinstance(fields, dict):
        raise DataError(path, f"expected a JSON object, got {type(fields).__name__}", row=line)
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


def read_completions(path: Path, problems: Mapping[str, Problem]) -> list[CompletionRow]:
    """Every row of a JSONL completions file, checked before any program runs."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read ({getattr(error, 'strerror', None) or error})") from None
    rows = [
        _parse_row(path, number, line, problems)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not rows:
        raise DataError(path, "no completions in the file")
    return rows


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise RltfError(f"cannot write {path}: {error.strerror or error}") from None


def write_results(path: Path, rows: Sequence[CompletionRow], results: Sequence[JudgeResult]) -> None:
    """One line per sample in input order: the user's fields, then the judge's."""
    lines = (json.dumps({**row.fields, **result.to_dict()}, ensure_ascii=False) for row, result in zip(rows, results))
    _write_text(path, "".join(line + "\n" for line in lines))


def summary_dict(summary: Summary, outcomes: Mapping[str, int]) -> dict[str, Any]:
    return {
        **summary.overall.to_dict(),
        "by_difficulty": {group: scores.to_dict() for group, scores in summary.by_group.items()},
        "outcomes": dict(outcomes),
    }


def summary_table(summary: Summary) -> Table:
    table = Table(title="pass@k (unbiased estimator)")
    table.add_column("subset", justify="left")
    table.add_column("n tasks", justify="right")
    table.add_column("samples", justify="right")
    for k in summary.ks:
        table.add_column(f"pass@{k}", justify="right")
    named = [("all", summary.overall), *summary.by_group.items()]
    for name, scores in named:
        cells = [f"{scores.scores[f'pass@{k}']:.2%}" for k in summary.ks]
        table.add_row(name, str(scores.n_tasks), str(scores.n_samples), *cells)
    return table


def count_outcomes(results: Iterable[JudgeResult]) -> dict[str, int]:
    """Every outcome, zeros included, so summaries of different runs line up."""
    counts = Counter(result.outcome for result in results)
    return {outcome: counts[outcome] for outcome in OUTCOMES}


def judge_rows(rows: Sequence[CompletionRow], timeout_s: float, workers: int | None, err: Console) -> list[JudgeResult]:
    submissions = [Submission(row.problem, row.problem.program(row.completion)) for row in rows]
    with Judge(JudgeConfig(timeout_s=timeout_s, workers=workers)) as judge:
        err.print(f"judge isolation: {judge.isolation}", highlight=False, soft_wrap=True)
        with progress_bar("judging", total=len(submissions), console=err) as advance:
            return judge.run(submissions, progress=advance)


@app.command("eval")
@_user_errors
def eval_command(
    dataset: DatasetName = typer.Option(..., "--dataset", help="Benchmark the completions answer."),
    completions: Path = typer.Option(
        ..., "--completions", help='JSONL file, one {"task_id": ..., "completion": ...} per line.', dir_okay=False
    ),
    data_path: Optional[Path] = typer.Option(
        None, "--data-path", help="Local copy of the dataset; default: the loader's standard source."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Write one result row per sample here (JSONL, input order).", dir_okay=False
    ),
    summary_json: Optional[Path] = typer.Option(
        None, "--summary-json", help="Write pass@k and outcome counts here as JSON.", dir_okay=False
    ),
    k: str = typer.Option("1,10,100", "--k", help="Comma-separated ks; a k above some task's sample count is skipped."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.001, help="Time limit in seconds for each program."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Programs judged at once; default: all cores."),
) -> None:
    """Judge a file of completions against a benchmark's tests and report pass@k."""
    ks = parse_ks(k)
    problems = load_dataset(dataset.value, path=None if data_path is None else str(data_path))
    rows = read_completions(completions, {problem.task_id: problem for problem in problems})
    err = Console(stderr=True)
    results = judge_rows(rows, timeout, workers, err)
    if out is not None:
        write_results(out, rows, results)

    by_task: dict[str, list[bool]] = {}
    for row, result in zip(rows, results):
        by_task.setdefault(row.problem.task_id, []).append(result.outcome == "pass")
    groups = {p.task_id: p.difficulty for p in problems if p.difficulty is not None}
    summary = summarize(by_task, ks, groups)
    outcomes = count_outcomes(results)

    console = Console()
    console.print(summary_table(summary))
    console.print(f"{len(rows)} samples over {len(by_task)} of {len(problems)} tasks", highlight=False)
    console.print("outcomes: " + ", ".join(f"{name} {count}" for name, count in outcomes.items()), highlight=False)
    skipped = sorted(set(ks) - set(summary.ks))
    if skipped:
        console.print(f"skipped pass@k for k = {skipped}: some task has fewer samples than k", highlight=False)
    if summary_json is not None:
        _write_text(summary_json, json.dumps(summary_dict(summary, outcomes), indent=2) + "\n")
