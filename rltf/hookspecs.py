"""The rltf plugin API: every hook a plugin may implement, documented here and only here.

A plugin is an ordinary module or object registered under the entry-point group
``rltf`` of its package's ``pyproject.toml``::

    [project.entry-points.rltf]
    my_feedback = "my_package.plugin"

and implementing some of these hooks with ``@rltf.hookimpl``. The bundled plugins
(``plugins/``) are registered exactly this way.

Feedback flows one way: problems -> actor -> judge -> **feedback providers** -> buffer
-> learner. A provider sees the problem, the program text and the judge's structured
result, and answers with ``rltf.feedback.Reward`` values on the whole program or on
lines/characters of its text; it never sees tokens, the model or the trainer.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pluggy

from rltf.feedback import JudgedSample, Reward
from rltf.problems import Problem

PROJECT = "rltf"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rltf_feedback_providers() -> Sequence[Any]:
    """Contribute feedback providers: objects with a unique ``name`` and a ``description``.

    Each provider object is registered as a plugin of its own under its ``name``, so it
    implements the per-provider hooks below (``rltf_score``, ``rltf_extra_tests``) as
    methods marked ``@hookimpl``. ``name`` is what users select with ``--feedback``;
    two providers with the same name are an error naming both packages. ``description``
    is one line, shown by ``rltf plugins``.
    """


@hookspec
def rltf_score(samples: Sequence[JudgedSample], options: Mapping[str, Any]) -> list[list[Reward]]:
    """Score judged programs: one list of rewards per sample, in the order given.

    Implemented by a provider object. ``samples`` holds one or more judged programs; a
    provider that is cheaper per batch (one pylint process for many files) benefits from
    large batches, and every provider must give each sample its own answer. ``options``
    is the provider's own settings table (``[feedback.options.NAME]`` in a run's config).

    Every reward's ``provider`` must be the provider's ``name``; ``kind`` says which of
    its signals it is (``"coarse"``, ``"fine"``, ``"adaptive"``, ``"convention"``...).
    A provider that raises is reported by name with the sample it failed on; by default
    the run goes on without its rewards for that sample and counts the failure. Raise
    ``rltf.errors.RltfError`` for a mistake the user must fix (an unknown option): that
    stops the run with its message.
    """


@hookspec
def rltf_check_options(options: Mapping[str, Any]) -> None:
    """Check the provider's options table before any program runs; raise ``RltfError`` if it is wrong.

    Implemented by a provider object that takes options. Called once per run, when the
    options are read, so a misspelt or ill-typed option stops the command at once, naming
    the file it came from, instead of after an hour of judging. ``rltf.options.OptionReader``
    does the usual checks (unknown names, types, ranges). A provider without this hook
    can only report a bad option when it first scores.
    """


@hookspec
def rltf_extra_tests(problem: Problem, oracle: Any, options: Mapping[str, Any]) -> Sequence[Any]:
    """Contribute extra test cases for ``problem``, in the style of its tests.

    Implemented by a provider object that generates tests. Return ``CallCase`` values
    for call-based problems, ``StdioCase`` values for standard-input problems and
    assert-statement strings for assert-style problems; return an empty list to add
    nothing. ``oracle`` (``rltf.plugins.ReferenceOracle``) runs the problem's reference
    solution in the judge on candidate inputs, so expected outputs come from the
    reference, executed as untrusted code like any other.
    """


@hookspec
def rltf_observe_metrics(step: int, metrics: Mapping[str, float]) -> None:
    """Observe one step's metrics (for loggers: TensorBoard, W&B, a CSV...).

    Called after each RL step with that step's row of ``metrics.jsonl``: names such as
    ``loss/unittest/coarse``, ``reward/pylint/convention`` or ``pass_rate``, mapped to
    numbers. Observers must not change it.
    """
