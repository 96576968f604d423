"""Which problems a run trains and evaluates on, from its ``[data]`` settings.

RL needs only tests; supervised learning needs reference solutions. Problems with tests
and no solution (the built-in suite's ``rl_only`` split, or a user's dataset with tests
only) are where RL earns its time, so the actor samples every problem with tests, and
the supervised term uses the ones with solutions.
"""

from __future__ import annotations

from dataclasses import dataclass

from rltf.config import DataSettings
from rltf.errors import RltfError
from rltf.problems import Problem


@dataclass(frozen=True)
class TrainingProblems:
    rl: list[Problem]
    supervised: list[Problem]
    evaluation: list[Problem]


def training_problems(settings: DataSettings) -> TrainingProblems:
    if settings.dataset == "builtin":
        from rltf.tasks import builtin_suite

        suite = builtin_suite(settings.suite_seed, n_train=settings.builtin_train, n_heldout=settings.eval_size,
                              n_rl_only=settings.builtin_rl_only)
        evaluation = suite.heldout if not settings.eval_dataset else _evaluation(settings)
        return TrainingProblems(suite.train + suite.rl_only, suite.train, evaluation)
    problems = _load(settings.dataset, settings.path, settings.split)
    rl = [p for p in problems if len(p.tests)]
    if not rl:
        raise RltfError(f"dataset {settings.dataset!r} has no problem with tests to train on")
    return TrainingProblems(rl, [p for p in rl if reference_completion(p) is not None], _evaluation(settings))


def reference_completion(problem: Problem) -> str | None:
    """What the model should generate for the problem's first usable solution, if it has one."""
    for solution in problem.solutions:
        if solution.startswith(problem.program_prefix):
            return solution[len(problem.program_prefix):]
    return None


def _evaluation(settings: DataSettings) -> list[Problem]:
    name = settings.eval_dataset or settings.dataset
    if name == "builtin":
        raise RltfError("eval_dataset = 'builtin' needs dataset = 'builtin' (its held-out split)")
    path = settings.eval_path or (settings.path if name == settings.dataset else "")
    problems = _load(name, path, settings.eval_split)
    return [p for p in problems if len(p.tests)][:settings.eval_size]


def _load(name: str, path: str, split: str) -> list[Problem]:
    from rltf.datasets import load_dataset

    return load_dataset(name, path=path or None, split=split or None)
