"""Is one benchmark run better than another, or is the difference noise?

Two runs of the same model already differ by sampling alone, so a difference in pass@1
means little without an interval. Both runs answer the same problems, and problems
differ far more in difficulty than runs do, so the interval comes from a *paired*
bootstrap: tasks are resampled with replacement and each resample scores both runs on
the same tasks. The task-to-task spread, shared by both runs, then cancels, and the
interval is as narrow as the data honestly allows.

A comparison is only meaningful on the same problems under the same protocol (samples
per task, decoding, prompt, judge time limit), so runs that differ there are refused,
naming what differs; ``force`` compares them anyway, on the tasks they share, and says so
in the notes. What may differ is what one compares: the model, the seed, and settings
that do not change the samples' distribution (batch size, workers, device).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from rich.table import Table

from rltf.evaluation.scores import DIFFICULTY_ORDER
from rltf.errors import DataError, RltfError
from rltf.inputs import read_text

PROTOCOL_SETTINGS = ("benchmark", "split", "n", "temperature", "top_p", "max_new_tokens", "template", "stop",
                     "chat", "timeout", "max_prompt_tokens")
CHUNK_ELEMENTS = 1_000_000  # resampled task indices held at once: bounds memory for large benchmarks
LOW, HIGH = 2.5, 97.5


@dataclass(frozen=True)
class TaskResult:
    difficulty: str | None
    n: int
    passed: int

    @property
    def solved(self) -> bool:
        return self.passed > 0


@dataclass(frozen=True)
class Run:
    """One run folder, reduced to what a comparison reads."""

    folder: Path
    model: str
    settings: dict[str, Any]
    order: tuple[str, ...]  # benchmark order, from bench.json
    tasks: dict[str, TaskResult]  # the judged tasks, from summary.json
    label: str  # the folder's name, or its path where two runs share a name


@dataclass(frozen=True)
class GroupDelta:
    """pass@1 of both runs on one group of common tasks, and a paired bootstrap interval of their difference."""

    group: str
    n_tasks: int
    baseline: float
    other: float
    difference: float  # other - baseline
    low: float
    high: float


@dataclass(frozen=True)
class Pair:
    baseline: Run
    other: Run
    groups: tuple[GroupDelta, ...]  # "all" first, then each difficulty present
    only_baseline: tuple[str, ...]  # solved by the baseline and not by the other run, in benchmark order
    only_other: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    runs: tuple[Run, ...]  # the first is the baseline
    tasks: tuple[str, ...]  # the common tasks compared, in benchmark order
    notes: tuple[str, ...]
    pairs: tuple[Pair, ...]
    resamples: int
    seed: int


def compare_runs(folders: Sequence[Path], *, force: bool = False, resamples: int = 10000,
                 seed: int = 0) -> Comparison:
    """The first folder is the baseline; every other one is compared with it on the tasks all runs share."""
    if len(folders) < 2:
        raise RltfError(f"bench compare needs at least 2 run folders, got {len(folders)}")
    if resamples < 1:
        raise RltfError(f"--resamples must be at least 1, got {resamples}")
    runs = _labelled([read_run(Path(folder)) for folder in folders])
    notes = _check_comparable(runs, force)
    common = _common_tasks(runs)
    if not common:
        raise RltfError("the runs have no task in common; there is nothing to compare")
    pairs = tuple(_pair(runs[0], other, common, resamples, seed) for other in runs[1:])
    return Comparison(runs, common, tuple(notes), pairs, resamples, seed)


def read_run(folder: Path) -> Run:
    if not folder.is_dir():
        why = "is a file, not a folder" if folder.exists() else "no such folder"
        raise RltfError(f"{folder}: {why}; give run folders made by rltf bench")
    bench, summary = _read_json(folder / "bench.json"), _read_json(folder / "summary.json")
    if bench.get("format") != 1:
        raise DataError(str(folder / "bench.json"), f"format {bench.get('format')!r} is not one this rltf reads (1)",
                        field="format")
    order = _string_list(folder / "bench.json", bench, "tasks")
    settings = summary.get("settings")
    if not isinstance(settings, dict):
        raise DataError(str(folder / "summary.json"), "not an object", field="settings")
    return Run(folder, str(summary.get("model", bench.get("model", "?"))), settings, order,
               _task_results(folder / "summary.json", summary), str(folder))


def _labelled(runs: Sequence[Run]) -> tuple[Run, ...]:
    """Folder names are short enough for a table's column; paths only where names would be ambiguous."""
    names = [run.folder.resolve().name or str(run.folder) for run in runs]
    if len(set(names)) < len(names):
        return tuple(runs)
    return tuple(replace(run, label=name) for run, name in zip(runs, names))


def bootstrap_interval(baseline: np.ndarray, other: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile interval of mean(other - baseline) over tasks resampled with replacement, the same for both runs."""
    differences = np.asarray(other, dtype=float) - np.asarray(baseline, dtype=float)
    count, rng = len(differences), np.random.default_rng(seed)
    per_chunk = max(1, CHUNK_ELEMENTS // count)
    means = np.concatenate([
        differences[rng.integers(0, count, size=(min(per_chunk, resamples - start), count))].mean(axis=1)
        for start in range(0, resamples, per_chunk)])
    low, high = np.percentile(means, [LOW, HIGH])
    return float(low), float(high)


def comparison_table(comparison: Comparison) -> Table:
    table = Table(title=f"pass@1 against {comparison.runs[0].label} "
                        f"(paired bootstrap, {comparison.resamples} resamples, 95% interval)")
    for index, name in enumerate(_COLUMNS):
        table.add_column(name, justify="left" if index < 2 else "right", overflow="fold")
    for row in _rows(comparison):
        table.add_row(*row)
    return table


def comparison_markdown(comparison: Comparison) -> str:
    baseline = comparison.runs[0]
    lines = ["# Benchmark comparison", "", f"Baseline: `{baseline.label}` (model `{baseline.model}`).", ""]
    lines += [f"- `{run.label}`: model `{run.model}`, seed {run.settings.get('seed', '?')}, folder `{run.folder}`"
              for run in comparison.runs]
    lines += ["", f"pass@1 on {len(comparison.tasks)} common tasks; the interval is a paired bootstrap 95% "
                  f"percentile interval of the difference ({comparison.resamples} resamples, seed {comparison.seed})."]
    if comparison.notes:
        lines += ["", "Notes:", *(f"- {note}" for note in comparison.notes)]
    lines += ["", _markdown_table(_COLUMNS, _rows(comparison))]
    for pair in comparison.pairs:
        lines += ["", f"## `{pair.other.label}` against `{pair.baseline.label}`", "",
                  _solved_line(f"Solved only by `{pair.baseline.label}`", pair.only_baseline),
                  _solved_line(f"Solved only by `{pair.other.label}`", pair.only_other)]
    return "\n".join(lines) + "\n"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(str(path), f"not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise DataError(str(path), "not a JSON object; is this a folder made by rltf bench?")
    return data


def _string_list(path: Path, data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataError(str(path), "missing or not a list of task ids", field=key)
    return tuple(value)


def _task_results(path: Path, summary: dict[str, Any]) -> dict[str, TaskResult]:
    tasks = summary.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise DataError(str(path), "missing or not a non-empty object of tasks", field="tasks")
    return {task: _task_result(path, task, entry) for task, entry in tasks.items()}


def _task_result(path: Path, task: str, entry: Any) -> TaskResult:
    if isinstance(entry, dict):
        n, passed, difficulty = entry.get("n"), entry.get("passed"), entry.get("difficulty")
        counts_ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (n, passed))
        if counts_ok and 0 <= passed <= n and n >= 1 and (difficulty is None or isinstance(difficulty, str)):
            return TaskResult(difficulty, n, passed)
    raise DataError(str(path), "needs n >= 1, 0 <= passed <= n and a difficulty that is a string or null",
                    row=f"task {task}", field="tasks")


def _check_comparable(runs: Sequence[Run], force: bool) -> list[str]:
    """Refuses runs whose scores would not mean the same thing; forced, the reasons become notes instead."""
    baseline = runs[0]
    problems = [problem for other in runs[1:] for problem in (_task_mismatch(baseline, other),
                                                             _protocol_mismatch(baseline, other)) if problem]
    if problems and not force:
        raise RltfError("; ".join(problems) + "; the scores are not comparable (use --force to compare anyway)")
    notes = [f"compared despite this: {problem}" for problem in problems]
    if any(_task_mismatch(baseline, other) for other in runs[1:]):
        notes.append(f"only the {len(_common_tasks(runs))} task(s) common to all runs are compared")
    return notes


def _task_mismatch(baseline: Run, other: Run) -> str | None:
    only_baseline = len(baseline.tasks.keys() - other.tasks.keys())
    only_other = len(other.tasks.keys() - baseline.tasks.keys())
    if not only_baseline and not only_other:
        return None
    return (f"{other.label} ran different problems from {baseline.label}: {only_baseline} task(s) "
            f"only in {baseline.label}, {only_other} only in {other.label}")


def _protocol_mismatch(baseline: Run, other: Run) -> str | None:
    differing = [f"{key} {_show(baseline.settings, key)} vs {_show(other.settings, key)}"
                 for key in PROTOCOL_SETTINGS if baseline.settings.get(key) != other.settings.get(key)]
    if not differing:
        return None
    return f"{other.label} differs from {baseline.label} in protocol settings: {', '.join(differing)}"


def _show(settings: dict[str, Any], key: str) -> str:
    return json.dumps(settings[key]) if key in settings else "(missing)"


def _common_tasks(runs: Sequence[Run]) -> tuple[str, ...]:
    """Tasks every run judged, in the baseline's benchmark order (then summary order for any bench.json lacks)."""
    shared = set.intersection(*(set(run.tasks) for run in runs))
    baseline = runs[0]
    ordered = [task for task in dict.fromkeys(baseline.order) if task in shared]
    listed = set(ordered)
    return tuple(ordered + [task for task in baseline.tasks if task in shared and task not in listed])


def _groups(run: Run, tasks: Sequence[str]) -> dict[str, list[str]]:
    """"all", then the difficulties present, in the order summarize uses."""
    present = {run.tasks[t].difficulty for t in tasks} - {None}
    names = [d for d in DIFFICULTY_ORDER if d in present] + sorted(present - set(DIFFICULTY_ORDER))
    return {"all": list(tasks), **{name: [t for t in tasks if run.tasks[t].difficulty == name] for name in names}}


def _pair(baseline: Run, other: Run, tasks: Sequence[str], resamples: int, seed: int) -> Pair:
    groups = tuple(_delta(name, baseline, other, members, resamples, seed)
                   for name, members in _groups(baseline, tasks).items())
    return Pair(baseline, other, groups,
                tuple(t for t in tasks if baseline.tasks[t].solved and not other.tasks[t].solved),
                tuple(t for t in tasks if other.tasks[t].solved and not baseline.tasks[t].solved))


def _delta(group: str, baseline: Run, other: Run, tasks: Sequence[str], resamples: int, seed: int) -> GroupDelta:
    a, b = _pass_rates(baseline, tasks), _pass_rates(other, tasks)
    low, high = bootstrap_interval(a, b, resamples, seed)
    return GroupDelta(group, len(tasks), float(a.mean()), float(b.mean()), float((b - a).mean()), low, high)


def _pass_rates(run: Run, tasks: Sequence[str]) -> np.ndarray:
    """Per task, the share of passing samples: the unbiased pass@1."""
    return np.array([run.tasks[t].passed / run.tasks[t].n for t in tasks], dtype=float)


_COLUMNS = ("run", "group", "tasks", "baseline pass@1", "pass@1", "difference (points)", "95% interval",
            "solved only by baseline", "solved only by run")


def _rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for pair in comparison.pairs:
        for index, delta in enumerate(pair.groups):
            solved = [str(len(pair.only_baseline)), str(len(pair.only_other))] if index == 0 else ["", ""]
            rows.append([pair.other.label if index == 0 else "", delta.group, str(delta.n_tasks),
                         f"{100 * delta.baseline:.2f}%", f"{100 * delta.other:.2f}%", _points(delta.difference),
                         f"[{_points(delta.low)}, {_points(delta.high)}]", *solved])
    return rows


def _points(value: float) -> str:
    """Percentage points, signed, so a gain and a loss read apart at a glance; -0.00 is shown as +0.00."""
    shown = f"{100 * value:+.2f}"
    return "+0.00" if shown == "-0.00" else shown


def _solved_line(title: str, tasks: Sequence[str]) -> str:
    return f"- {title} ({len(tasks)}): " + (", ".join(f"`{t}`" for t in tasks) if tasks else "none")


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [columns, ["---", "---", *("---:" for _ in columns[2:])], *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
