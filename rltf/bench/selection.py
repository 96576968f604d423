"""Which problems a benchmark run covers: the benchmark's split, narrowed by difficulty, ids or a
count, then cut into shards (every N-th problem, so each shard has a like mix of difficulties)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rltf.errors import RltfError
from rltf.problems import Problem

DEFAULT_SPLITS = {"apps": "test", "mbpp": "test", "humaneval": "test", "builtin": "heldout"}


@dataclass(frozen=True)
class Selection:
    """``all_tasks``: every selected task in benchmark order; ``tasks``/``problems``: this shard's;
    ``split``: the split loaded (the default one when none was asked for)."""

    split: str
    all_tasks: list[str]
    tasks: list[str]
    problems: dict[str, Problem]
    difficulties: dict[str, str | None]


def select_problems(options: Any, run_config: Any) -> Selection:
    split = options.split or default_split(options.benchmark, options.data_path)
    problems = benchmark_problems(options.benchmark, options.data_path, split, run_config)
    problems = [p for p in problems if len(p.tests)]
    if options.difficulty:
        problems = _by_difficulty(problems, options.difficulty)
    if options.tasks:
        problems = _by_ids(problems, options.tasks)
    if options.limit:
        problems = problems[:options.limit]
    if not problems:
        raise RltfError(f"no {options.benchmark} problems with tests are left after the selection")
    index, count = options.shard
    shard = problems[index::count]
    if not shard:
        raise RltfError(f"--shard {index}/{count}: {len(problems)} problems make fewer than {count} shards")
    return Selection(split or "", [p.task_id for p in problems], [p.task_id for p in shard], {p.task_id: p for p in shard},
                     {p.task_id: p.difficulty for p in problems})


def benchmark_problems(benchmark: str, data_path: str, split: str | None, run_config: Any) -> list[Problem]:
    """The benchmark's problems; ``builtin`` is the held-out split of a run's own built-in suite."""
    if benchmark == "builtin":
        if data_path or split != "heldout":
            raise RltfError("--data-path and --split do not apply to builtin: its problems are generated "
                            "(the held-out split of the run's suite)")
        from rltf.config import DataSettings
        from rltf.tasks import builtin_suite

        data = run_config.data if run_config is not None else DataSettings()
        return builtin_suite(data.suite_seed, n_train=data.builtin_train, n_heldout=data.eval_size,
                             n_rl_only=data.builtin_rl_only).heldout
    from rltf.datasets import load_dataset

    return load_dataset(benchmark, path=data_path or None, split=split)


def default_split(benchmark: str, data_path: str) -> str | None:
    """The test split; a local APPS copy that is one split's folder (no test/ inside) is taken whole."""
    if benchmark == "builtin":
        return "heldout"
    if benchmark == "apps" and data_path:
        from rltf.datasets.apps import split_path

        return "test" if split_path(Path(data_path), "test").exists() else None
    return DEFAULT_SPLITS[benchmark]


def _by_difficulty(problems: list[Problem], wanted: tuple[str, ...]) -> list[Problem]:
    known = sorted({p.difficulty for p in problems if p.difficulty is not None})
    if not known:
        raise RltfError("--difficulty: this benchmark's problems have no difficulty levels")
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise RltfError(f"--difficulty {unknown[0]!r}: the problems here have {', '.join(known)}")
    return [p for p in problems if p.difficulty in wanted]


def _by_ids(problems: list[Problem], wanted: tuple[str, ...]) -> list[Problem]:
    by_id = {p.task_id: p for p in problems}
    unknown = [task for task in wanted if task not in by_id]
    if unknown:
        shown = ", ".join(repr(t) for t in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        example = f" (ids look like {problems[0].task_id!r})" if problems else ""
        raise RltfError(f"--tasks: no problem {shown} in this benchmark's selection{example}")
    chosen = set(wanted)
    return [p for p in problems if p.task_id in chosen]
