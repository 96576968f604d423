"""Drawing distinct values from a strategy with Hypothesis's own engine, reproducibly.

``strategy.example()`` is meant for interactive use: it is random on every call and
warns when used in code. Running the strategy under ``@given`` with ``@seed`` and no
example database instead gives the same values for the same seed on every machine and
run, and keeps Hypothesis's bias towards boundary values (empty lists, 0, the range's
ends), which are where wrong programs tend to break.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Hashable, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

log = logging.getLogger("rltf.plugins.hypothesis")
T = TypeVar("T")
TRIES_PER_VALUE = 10


class _Enough(BaseException):
    """Stops the run early; a BaseException, so Hypothesis does not treat it as a failure."""


def draw(strategy: st.SearchStrategy[T], count: int, seed_value: int, deadline_s: float,
         key: Callable[[T], Hashable], exclude: set[Hashable] = frozenset()) -> list[T]:
    """Up to ``count`` values whose keys differ from each other and from ``exclude``.

    Stops at ``deadline_s``; the values found by then are a prefix of what a longer run
    draws, so a deadline can shorten the list but never change it otherwise.
    """
    found: list[T] = []
    keys = set(exclude)
    stop_at = time.monotonic() + deadline_s

    @seed(seed_value)
    @settings(database=None, derandomize=True, max_examples=max(1, count * TRIES_PER_VALUE), deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def collect(value: Any) -> None:
        k = key(value)
        if k not in keys:
            keys.add(k)
            found.append(value)
        if len(found) >= count or time.monotonic() > stop_at:
            raise _Enough

    if count <= 0:
        return []
    try:
        collect()  # pylint: disable=no-value-for-parameter  # @given draws the value
    except _Enough:
        return found
    except HypothesisException as error:
        log.warning("hypothesis could not draw inputs (%s: %s); keeping %d", type(error).__name__, error, len(found))
    return found
