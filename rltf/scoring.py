"""The feedback a run selected: its providers, their options, and how often each failed.

Shared by every command that judges programs (``rltf eval``, ``rltf train``), so a
provider behaves the same in evaluation and in training.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rltf.config import read_toml
from rltf.errors import DataError, RltfError
from rltf.feedback import JudgedSample, Reward
from rltf.plugins import Plugins, ProviderError, ReferenceOracle
from rltf.problems import Problem

log = logging.getLogger("rltf.scoring")

SCORE_BATCH = 256  # samples per rltf_score call: large enough for batched providers such as pylint


def _ignore(n: int) -> None:
    """Progress sink for callers that show none."""


@dataclass
class Feedback:
    plugins: Plugins
    providers: list[Any]
    options: dict[str, dict[str, Any]]
    strict: bool
    failures: Counter = field(default_factory=Counter)

    @classmethod
    def select(cls, plugins: Plugins, names: str | Sequence[str], options: Mapping[str, Any], strict: bool,
               source: str = "feedback options") -> "Feedback":
        """Unknown provider names, and option tables naming no selected-or-installed provider, are errors."""
        providers = list({provider.name: provider for provider in plugins.select(names)}.values())
        tables = check_option_tables(options, plugins.providers, source)
        unused = sorted(set(tables) - {provider.name for provider in providers})
        if unused:
            log.warning("%s: options for %s are ignored: not among the selected providers (%s)", source,
                        ", ".join(unused), ", ".join(provider.name for provider in providers) or "none")
        return cls(plugins, providers, tables, strict)

    @property
    def generators(self) -> list[Any]:
        return [provider for provider in self.providers if hasattr(provider, "rltf_extra_tests")]

    def failure_counts(self) -> dict[str, int]:
        """Every selected provider, zeros included, so a clean run says so."""
        return {provider.name: self.failures[provider.name] for provider in self.providers}

    def extra_tests(self, provider: Any, problem: Problem, oracle: ReferenceOracle) -> Problem:
        """A generator that raises costs only its own tests for this problem, unless the run is strict.

        ``RltfError`` is the user's to fix (bad options) and would recur on every problem, so
        it stops the run, as it does for scorers.
        """
        try:
            return self.plugins.extra_tests([provider], problem, oracle, self.options)
        except RltfError:
            raise
        except Exception as error:
            message = (f"feedback provider {provider.name!r} failed on problem {problem.task_id}: "
                       f"{type(error).__name__}: {error}")
            if self.strict:
                raise ProviderError(message) from error
            log.warning("%s (judging the problem without its tests)", message)
            self.failures[provider.name] += 1
            return problem

    def with_extra_tests(self, problem: Problem, oracle: ReferenceOracle) -> Problem:
        for provider in self.generators:
            problem = self.extra_tests(provider, problem, oracle)
        return problem

    def score(self, samples: Sequence[JudgedSample], advance: Callable[[int], None] = _ignore) -> list[list[Reward]]:
        rewards: list[list[Reward]] = []
        for start in range(0, len(samples), SCORE_BATCH):
            batch = samples[start:start + SCORE_BATCH]
            report = self.plugins.score(self.providers, batch, self.options, self.strict)
            self.failures.update(report.failures)
            rewards.extend(report.rewards)
            advance(len(batch))
        return rewards


def check_option_tables(tables: Mapping[str, Any], known: Mapping[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """One table per provider, each checked by its provider now; a table naming no provider is
    refused, as it is most likely a typo."""
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise DataError(source, f"expected a table of options such as [{name}], got a {type(table).__name__}",
                            field=name)
        if name not in known:
            raise DataError(source, f"no feedback provider is named {name!r}; known providers: "
                                    f"{', '.join(sorted(known)) or 'none'}", field=name)
        _check_options(known[name], dict(table), source)
    return {name: dict(table) for name, table in tables.items()}


def _check_options(provider: Any, options: dict[str, Any], source: str) -> None:
    if not hasattr(provider, "rltf_check_options"):
        return
    try:
        provider.rltf_check_options(options=options)
    except RltfError as error:
        raise RltfError(f"{source}: {error}") from None


def read_feedback_options(path: Path | None, known: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The tables may also sit under ``[feedback]`` or, as in a run's config, ``[feedback.options]``."""
    if path is None:
        return {}
    tables = read_toml(path)
    if set(tables) == {"feedback"} and "feedback" not in known:
        tables = tables["feedback"]
        if set(tables) <= {"options", "providers", "strict"} and "options" not in known:
            tables = tables.get("options", {})
    return check_option_tables(tables, known, str(path))
