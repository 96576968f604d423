"""The ``rltf`` command line: options in, one pipeline call, results out.

Every command turns ``RltfError`` into one ``error: ...`` line and exit status 2, so a
user who passed a bad file sees where it is bad instead of a traceback, and Ctrl-C into
one ``interrupted: ...`` line saying what was and was not done, and exit status 130.
"""

from __future__ import annotations

import functools
import json
import logging
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rltf.datasets import DATASETS, load_dataset
from rltf.errors import Interrupted, RltfError
from rltf.evaluation.completions import Evaluated, RewardStats, evaluate_completions, read_completions, summary_dict
from rltf.judge import JudgeConfig
from rltf.judge.pool import LIMIT_RANGES, MAX_WORKERS_PER_CORE
from rltf.judge.view import DEFAULT_PACKAGES, package_problem
from rltf.outputs import check_outputs, write_text
from rltf.plugins import Plugins, parse_names
from rltf.scoring import Feedback, read_feedback_options
from rltf import bench_cli, train_cli

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
        except Interrupted as stop:
            typer.echo(f"interrupted: {stop}", err=True)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

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


def parse_ks(text: str) -> list[int]:
    """``"1,10,100"`` -> ``[1, 10, 100]``; anything else (``1,,2``, ``0``) is a usage error.

    ASCII digits only, and few enough for ``int``: ``str.isdigit`` also accepts ``²``, which
    ``int`` cannot read."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 and int(part) >= 1 for part in parts):
        raise typer.BadParameter(f"expected positive integers such as 1,10,100, got {text!r}", param_hint="'--k'")
    return [int(part) for part in parts]


def parse_packages(text: str) -> tuple[str, ...]:
    """``"numpy,sortedcontainers"``: third-party top-level import names (``package_problem``)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        problem = package_problem(name)
        if problem is not None:
            raise RltfError(f"--packages: {problem}")
    return names


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
        if options_file is not None:
            raise RltfError(f"--feedback-options {options_file} has no effect without --feedback: "
                            "name the providers it configures")
        return None
    plugins = Plugins()
    options = read_feedback_options(options_file, plugins.providers)
    return Feedback.select(plugins, names, options, strict, str(options_file) if options_file else "--feedback")


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
    timeout: float = typer.Option(10.0, "--timeout", min=LIMIT_RANGES["timeout_s"][0], max=LIMIT_RANGES["timeout_s"][1],
                                  help="Time limit in seconds for each program."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, max=int(LIMIT_RANGES["workers"][1]),
                                          help="Programs judged at once; default: two per core "
                                               f"(at most {MAX_WORKERS_PER_CORE} per core are started)."),
    packages: str = typer.Option(",".join(DEFAULT_PACKAGES), "--packages",
                                 help="Packages programs may import besides the standard library, comma-separated "
                                      "('' for none); with bubblewrap nothing else is visible to them."),
    feedback_names: Optional[str] = FEEDBACK,
    feedback_strict: bool = FEEDBACK_STRICT,
    feedback_options: Optional[Path] = FEEDBACK_OPTIONS,
) -> None:
    """Judge a file of completions against a benchmark's tests and report pass@k."""
    ks = parse_ks(k)
    config = JudgeConfig(timeout_s=timeout, workers=workers, packages=parse_packages(packages))
    check_outputs({"--out": out, "--summary-json": summary_json},
                  {"--completions": completions, "--data-path": data_path, "--feedback-options": feedback_options})
    feedback = select_feedback(feedback_names, feedback_options, feedback_strict)
    problems = load_dataset(dataset.value, path=None if data_path is None else str(data_path))
    rows = read_completions(completions, {problem.task_id: problem for problem in problems})
    evaluated = evaluate_completions(rows, config, feedback, Console(stderr=True))
    summary = evaluated.summary(ks, problems)
    failures = feedback.failure_counts() if feedback is not None else {}
    if out is not None:
        write_text(out, evaluated.result_lines())
    if summary_json is not None:
        write_text(summary_json, json.dumps(summary_dict(summary, evaluated, failures), indent=2) + "\n")
    print_evaluation(Console(), evaluated, summary, dataset.value, str(completions), len(problems),
                     failures if feedback is not None else None)


def print_evaluation(console: Console, evaluated: Evaluated, summary: dict[str, Any], dataset: str, source: str,
                     n_problems: int,
                     failures: Mapping[str, int] | None) -> None:
    from rltf.bench.report import summary_table

    console.print(summary_table({**summary, "benchmark": dataset, "model": source}))
    console.print(f"{len(evaluated.rows)} samples over {len(evaluated.tasks())} of {n_problems} tasks",
                  highlight=False)
    console.print("outcomes: " + ", ".join(f"{name} {count}" for name, count in evaluated.outcomes().items()),
                  highlight=False)
    if summary["skipped_ks"]:
        console.print(f"skipped pass@k for k = {summary['skipped_ks']}: some task has fewer samples than k",
                      highlight=False)
    if failures is not None:
        print_feedback(console, evaluated.reward_stats(), failures)


app.command("train")(_user_errors(train_cli.train_command))
app.command("sft")(_user_errors(train_cli.sft_command))
app.command("report")(_user_errors(train_cli.report_command))
app.add_typer(bench_cli.register(_user_errors), name="bench")


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
