"""The ``rltf`` command line.

Every command turns ``RltfError`` into one ``error: ...`` line and exit status 2, so a
user who passed a bad file sees where it is bad instead of a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rltf.datasets import DATASETS, load_dataset
from rltf.errors import DataError, RltfError
from rltf.feedback import JudgedSample, Reward
from rltf.judge import OUTCOMES, Judge, JudgeConfig, JudgeResult, Submission
from rltf.judge.view import DEFAULT_PACKAGES
from rltf.passk import Summary, summarize
from rltf.plugins import Plugins, ReferenceOracle, parse_names
from rltf.problems import Problem
from rltf.progress import progress_bar
from rltf.scoring import Feedback, read_feedback_options
from rltf import train_cli

log = logging.getLogger("rltf.cli")

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


class _WarningLines(logging.Handler):
    """rltf's warnings as ``warning: ...`` lines on the stderr of the moment.

    Resolving stderr at each record, not once, keeps them visible when a test runner swaps
    the streams; without a handler, Python would print bare messages with no level.
    """

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"{record.levelname.lower()}: {self.format(record)}", err=True)


def _show_warnings() -> None:
    logger = logging.getLogger("rltf")
    if not any(isinstance(handler, _WarningLines) for handler in logger.handlers):
        logger.addHandler(_WarningLines(logging.WARNING))


@app.callback()
def main() -> None:
    """Online reinforcement learning from unit-test feedback (RLTF) for code LLMs."""
    _show_warnings()


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


def parse_packages(text: str) -> tuple[str, ...]:
    """``"numpy,sortedcontainers"``; each must be a top-level import name."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [name for name in names if not name.isidentifier()]
    if bad:
        raise RltfError(f"--packages: {bad[0]!r} is not an importable top-level package name (such as numpy)")
    return names


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


def write_results(path: Path, rows: Sequence[CompletionRow], results: Sequence[JudgeResult],
                  rewards: Sequence[Sequence[Reward]] | None = None) -> None:
    """One line per sample in input order: the user's fields, then the judge's, then any rewards."""
    lines = []
    for index, (row, result) in enumerate(zip(rows, results)):
        fields = {**row.fields, **result.to_dict()}
        if rewards is not None:
            fields["rewards"] = [reward.to_dict() for reward in rewards[index]]
        lines.append(json.dumps(fields, ensure_ascii=False))
    _write_text(path, "".join(line + "\n" for line in lines))


def summary_dict(summary: Summary, outcomes: Mapping[str, int], rewards: Mapping[str, "RewardStats"],
                 failures: Mapping[str, int]) -> dict[str, Any]:
    return {
        **summary.overall.to_dict(),
        "by_difficulty": {group: scores.to_dict() for group, scores in summary.by_group.items()},
        "outcomes": dict(outcomes),
        "rewards": {key: stats.mean for key, stats in rewards.items()},
        "feedback_failures": dict(failures),
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


# Feedback providers, as every command that judges programs selects them (`eval` now, `train` later).

FEEDBACK = typer.Option(
    None, "--feedback", metavar="NAME[,NAME...]",
    help="Feedback providers to run (see `rltf plugins`): test generators add tests before judging, "
         "scorers add rewards to each result row.",
)
FEEDBACK_STRICT = typer.Option(
    False, "--feedback-strict", help="Stop with an error when a feedback provider fails, instead of going on without it."
)
FEEDBACK_OPTIONS = typer.Option(
    None, "--feedback-options", metavar="FILE.toml", dir_okay=False,
    help='Options for the providers, one TOML table each, e.g. [unittest] alpha = "one".',
)

def select_feedback(names: str | None, options_file: Path | None, strict: bool) -> Feedback | None:
    """The run's feedback, checked before any program runs; None when no provider is named.

    Plugins are loaded only when asked for, so a broken third-party plugin cannot break a
    plain evaluation.
    """
    if not parse_names(names):
        return None
    plugins = Plugins()
    options = read_feedback_options(options_file, plugins.providers)
    return Feedback.select(plugins, names, options, strict)


def add_extra_tests(rows: Sequence[CompletionRow], feedback: Feedback, judge: Judge,
                    err: Console) -> list[CompletionRow]:
    """Rows whose problems carry the generators' tests, generated once per problem, not per sample."""
    problems = {row.problem.task_id: row.problem for row in rows}
    oracle = ReferenceOracle(judge)
    with progress_bar("generating tests", total=len(problems), console=err) as advance:
        for task_id, problem in problems.items():
            problems[task_id] = feedback.with_extra_tests(problem, oracle)
            advance(1)
    return [replace(row, problem=problems[row.problem.task_id]) for row in rows]


def score_rows(rows: Sequence[CompletionRow], results: Sequence[JudgeResult], feedback: Feedback,
               err: Console) -> list[list[Reward]]:
    """Each sample's rewards; ids name the completions file's line, so a failure points at its row."""
    samples = [JudgedSample(f"{row.problem.task_id}#{row.line}", row.problem, row.problem.program(row.completion), result)
               for row, result in zip(rows, results)]
    with progress_bar("scoring", total=len(samples), console=err) as advance:
        return feedback.score(samples, advance)


@dataclass(frozen=True)
class RewardStats:
    count: int
    mean: float


def reward_stats(rewards: Iterable[Sequence[Reward]]) -> dict[str, RewardStats]:
    """Mean value per ``provider/kind`` over the rewards given (a kind only failing samples get averages over those)."""
    values: dict[str, list[float]] = {}
    for sample in rewards:
        for reward in sample:
            values.setdefault(f"{reward.provider}/{reward.kind}", []).append(reward.value)
    return {key: RewardStats(len(v), sum(v) / len(v)) for key, v in sorted(values.items())}


def rewards_table(stats: Mapping[str, RewardStats]) -> Table:
    table = Table(title="feedback rewards")
    table.add_column("provider/kind", justify="left")
    table.add_column("rewards", justify="right")
    table.add_column("mean", justify="right")
    for key, entry in stats.items():
        table.add_row(key, str(entry.count), f"{entry.mean:.4f}")
    return table


def print_feedback(console: Console, stats: Mapping[str, RewardStats], failures: Mapping[str, int]) -> None:
    if stats:
        console.print(rewards_table(stats))
    console.print("feedback failures: " + ", ".join(f"{name} {count}" for name, count in failures.items()),
                  highlight=False)


def judge_rows(rows: Sequence[CompletionRow], config: JudgeConfig, err: Console,
               feedback: Feedback | None = None) -> tuple[list[CompletionRow], list[JudgeResult]]:
    """The rows as judged (with any generated tests) and their results, in input order."""
    with Judge(config) as judge:
        err.print(f"judge isolation: {judge.isolation}", highlight=False, soft_wrap=True)
        if feedback is not None and feedback.generators:
            rows = add_extra_tests(rows, feedback, judge, err)
        submissions = [Submission(row.problem, row.problem.program(row.completion)) for row in rows]
        with progress_bar("judging", total=len(submissions), console=err) as advance:
            return list(rows), judge.run(submissions, progress=advance)


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
        None, "--summary-json", help="Write pass@k, outcome counts and mean rewards here as JSON.", dir_okay=False
    ),
    k: str = typer.Option("1,10,100", "--k", help="Comma-separated ks; a k above some task's sample count is skipped."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.001, help="Time limit in seconds for each program."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Programs judged at once; default: two per core."),
    packages: str = typer.Option(",".join(DEFAULT_PACKAGES), "--packages",
                                 help="Packages programs may import besides the standard library, comma-separated "
                                      "('' for none); with bubblewrap nothing else is visible to them."),
    feedback_names: Optional[str] = FEEDBACK,
    feedback_strict: bool = FEEDBACK_STRICT,
    feedback_options: Optional[Path] = FEEDBACK_OPTIONS,
) -> None:
    """Judge a file of completions against a benchmark's tests and report pass@k."""
    ks = parse_ks(k)
    feedback = select_feedback(feedback_names, feedback_options, feedback_strict)
    problems = load_dataset(dataset.value, path=None if data_path is None else str(data_path))
    rows = read_completions(completions, {problem.task_id: problem for problem in problems})
    err = Console(stderr=True)
    config = JudgeConfig(timeout_s=timeout, workers=workers, packages=parse_packages(packages))
    rows, results = judge_rows(rows, config, err, feedback)
    rewards = score_rows(rows, results, feedback, err) if feedback is not None else None
    if out is not None:
        write_results(out, rows, results, rewards)

    by_task: dict[str, list[bool]] = {}
    for row, result in zip(rows, results):
        by_task.setdefault(row.problem.task_id, []).append(result.outcome == "pass")
    groups = {p.task_id: p.difficulty for p in problems if p.difficulty is not None}
    summary = summarize(by_task, ks, groups)
    outcomes = count_outcomes(results)
    stats = reward_stats(rewards or [])
    failures = feedback.failure_counts() if feedback is not None else {}

    console = Console()
    console.print(summary_table(summary))
    console.print(f"{len(rows)} samples over {len(by_task)} of {len(problems)} tasks", highlight=False)
    console.print("outcomes: " + ", ".join(f"{name} {count}" for name, count in outcomes.items()), highlight=False)
    skipped = sorted(set(ks) - set(summary.ks))
    if skipped:
        console.print(f"skipped pass@k for k = {skipped}: some task has fewer samples than k", highlight=False)
    if feedback is not None:
        print_feedback(console, stats, failures)
    if summary_json is not None:
        _write_text(summary_json, json.dumps(summary_dict(summary, outcomes, stats, failures), indent=2) + "\n")


app.command("train")(_user_errors(train_cli.train_command))
app.command("sft")(_user_errors(train_cli.sft_command))
app.command("report")(_user_errors(train_cli.report_command))


@app.command("plugins")
@_user_errors
def plugins_command() -> None:
    """List the installed plugins and the feedback providers they contribute."""
    plugins = Plugins()
    table = Table(title="rltf plugins")
    for column in ("plugin", "package", "version", "provider", "description"):
        table.add_column(column, justify="left")
    for info in plugins.describe():
        provided = info.providers or (("-", _first_line(plugins.pm.get_plugin(info.name).__doc__)),)
        for provider, description in provided:
            table.add_row(info.name, info.package, info.version, provider, description)
    Console().print(table)


def _first_line(text: str | None) -> str:
    """A plugin without providers is described by its docstring's summary line, if it has one."""
    return (text or "").strip().split("\n", 1)[0]


if __name__ == "__main__":
    app()
