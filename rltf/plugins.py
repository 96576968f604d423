"""Finding plugins, choosing providers and asking them for rewards and tests.

The trainer and ``rltf eval`` talk to providers only through this module, and treat
every provider alike: the bundled ones are found through the same entry points as a
third party's.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import pluggy

from rltf import hookspecs
from rltf.errors import RltfError
from rltf.feedback import JudgedSample, Reward
from rltf.judge import Judge, Submission
from rltf.problems import CallCase, CallTests, Problem, StdioCase, StdioTests

log = logging.getLogger("rltf.plugins")


class ProviderError(RltfError):
    """A provider raised on a sample, with the run set to stop on provider errors."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    package: str
    version: str
    providers: tuple[tuple[str, str], ...]


@dataclass
class ScoreReport:
    """Rewards per sample (in order) and the provider failures met on the way."""

    rewards: list[list[Reward]]
    failures: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)


def parse_names(names: str | Sequence[str] | None) -> list[str]:
    if names is None:
        return []
    items = names.split(",") if isinstance(names, str) else list(names)
    return [n.strip() for n in items if n.strip()]


class Plugins:
    """The plugin manager, with the providers every plugin contributed."""

    def __init__(self, extra_plugins: Iterable[Any] = (), entry_points: bool = True):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        try:
            if entry_points:
                self.pm.load_setuptools_entrypoints(hookspecs.PROJECT)
            for plugin in extra_plugins:
                self.pm.register(plugin)
            self.providers: dict[str, Any] = {}
            self._owner: dict[str, str] = {}
            self._collect_providers()
            self.pm.check_pending()
        except (ImportError, pluggy.PluginValidationError) as error:
            raise RltfError(f"an rltf plugin could not be loaded: {type(error).__name__}: {error}") from error

    def _collect_providers(self) -> None:
        for impl in self.pm.hook.rltf_feedback_providers.get_hookimpls():
            for provider in impl.function() or ():
                name = provider.name
                if name in self.providers:
                    raise RltfError(f"two feedback providers are named {name!r}: from "
                                    f"{self._owner[name]} and from {impl.plugin_name}")
                self.providers[name] = provider
                self._owner[name] = impl.plugin_name
                self.pm.register(provider, name=f"provider:{name}")

    def describe(self) -> list[PluginInfo]:
        """Every plugin with its package, version and providers, for ``rltf plugins``."""
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if name.startswith("provider:"):
                continue
            dist = dists.get(id(plugin))
            package = dist.project_name if dist else getattr(plugin, "__name__", type(plugin).__name__)
            version = dist.version if dist else "-"
            provided = tuple((p, self.providers[p].description) for p, owner in self._owner.items() if owner == name)
            infos.append(PluginInfo(name, package, version, provided))
        return sorted(infos, key=lambda info: info.name)

    def select(self, names: str | Sequence[str] | None) -> list[Any]:
        """The providers named, in order; an unknown name is an error listing the known ones, and a name
        given twice an error too (its rewards would count twice)."""
        chosen = []
        for name in parse_names(names):
            if name in self.providers and self.providers[name] in chosen:
                raise RltfError(f"feedback provider {name!r} is named twice; each provider runs once")
            if name not in self.providers:
                known = ", ".join(sorted(self.providers)) or "none"
                raise RltfError(f"unknown feedback provider {name!r}; known providers: {known}")
            chosen.append(self.providers[name])
        return chosen

    def score(self, providers: Sequence[Any], samples: Sequence[JudgedSample],
              options: Mapping[str, Mapping[str, Any]] | None = None, strict: bool = False) -> ScoreReport:
        """Ask each provider for rewards; a provider that raises loses only the samples it failed on."""
        report = ScoreReport([[] for _ in samples])
        for provider in providers:
            if not hasattr(provider, "rltf_score"):
                continue
            own = dict((options or {}).get(provider.name, {}))
            for index, rewards in _score_isolating_failures(provider, samples, own, strict, report):
                report.rewards[index].extend(rewards)
        return report

    def extra_tests(self, providers: Sequence[Any], problem: Problem, oracle: "ReferenceOracle",
                    options: Mapping[str, Mapping[str, Any]] | None = None) -> Problem:
        """The problem with every selected generator's extra tests appended."""
        for provider in providers:
            if hasattr(provider, "rltf_extra_tests"):
                own = dict((options or {}).get(provider.name, {}))
                problem = with_extra_tests(problem, provider.rltf_extra_tests(problem=problem, oracle=oracle,
                                                                              options=own))
        return problem

    def observe(self, step: int, metrics: Mapping[str, float]) -> None:
        self.pm.hook.rltf_observe_metrics(step=step, metrics=metrics)


def _score_isolating_failures(provider, samples, options, strict, report):
    try:
        return list(enumerate(_checked(provider, samples, provider.rltf_score(samples=samples, options=options))))
    except Exception as batch_error:
        if len(samples) == 1:
            _failed(provider, samples[0], batch_error, strict, report)
            return []
    scored = []
    for index, sample in enumerate(samples):
        try:
            scored.append((index, _checked(provider, [sample], provider.rltf_score(samples=[sample], options=options))[0]))
        except Exception as error:
            _failed(provider, sample, error, strict, report)
    return scored


def _checked(provider, samples, answer) -> list[list[Reward]]:
    if not isinstance(answer, list) or len(answer) != len(samples):
        raise TypeError(f"returned {type(answer).__name__} instead of one list of rewards per sample")
    for rewards in answer:
        for reward in rewards:
            if not isinstance(reward, Reward) or reward.provider != provider.name:
                raise TypeError(f"returned {reward!r}, not a Reward of provider {provider.name!r}")
    return answer


def _failed(provider, sample: JudgedSample, error: Exception, strict: bool, report: ScoreReport) -> None:
    """A user error (bad options) stops the run whatever the setting: no sample would score."""
    if isinstance(error, RltfError):
        raise error
    message = f"feedback provider {provider.name!r} failed on sample {sample.sample_id}: {type(error).__name__}: {error}"
    if strict:
        raise ProviderError(message) from error
    log.warning("%s (continuing without its rewards for this sample)", message)
    report.failures[provider.name] += 1
    report.messages.append(message)


def with_extra_tests(problem: Problem, extra: Sequence[Any]) -> Problem:
    tests = problem.tests
    if not extra:
        return problem
    if isinstance(tests, CallTests):
        return replace(problem, tests=replace(tests, cases=tests.cases + tuple(extra)))
    if isinstance(tests, StdioTests):
        return replace(problem, tests=replace(tests, cases=tests.cases + tuple(extra)))
    return replace(problem, tests=replace(tests, asserts=tests.asserts + tuple(extra)))


class ReferenceOracle:
    """Runs a problem's reference solution on new inputs, in the judge, one case per program.

    Each case is its own program run, so a reference that crashes or times out on one
    input loses only that input (its output is None).
    """

    def __init__(self, judge: Judge):
        self.judge = judge

    def outputs(self, problem: Problem, cases: Sequence[CallCase | StdioCase]) -> list[Any]:
        if not problem.solutions or not cases:
            return [None] * len(cases)
        probes = [replace(problem, tests=_single_case_tests(problem.tests, case)) for case in cases]
        results = self.judge.run([Submission(p, problem.solutions[0], record_outputs=True) for p in probes])
        return [r.tests[0].output if r.run == 1 and r.tests[0].verdict in ("pass", "failure") else None
                for r in results]


def _single_case_tests(tests, case):
    if isinstance(case, StdioCase):
        return StdioTests((case,))
    if isinstance(tests, CallTests):
        return replace(tests, cases=(case,))
    raise TypeError("the oracle runs call-based or standard-input cases")
