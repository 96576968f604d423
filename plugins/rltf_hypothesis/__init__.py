"""More diverse tests: Hypothesis-generated inputs, expected outputs from the reference solution.

Inputs are drawn from strategies inferred from the problem's own test inputs
(``strategies``, ``stdin``, ``asserts``), reproducibly under a seed (``sampling``); the
reference solution runs on each in the judge, inputs it fails on are dropped, and the
tests written from its answers are run against it once more before they are kept
(``generate``). Options (``[feedback.hypothesis]``): ``seed`` (0), ``max_tests`` (10 per
problem), ``deadline_s`` (5.0 seconds of input drawing per problem).
"""

from __future__ import annotations

from typing import Any, Mapping

from rltf.hookspecs import hookimpl
from rltf.problems import Problem

from .generate import Options, extra_tests


class HypothesisTests:
    name = "hypothesis"
    description = "extra tests: Hypothesis inputs shaped like the problem's own, answers from its reference solution"

    @hookimpl
    def rltf_check_options(self, options: Mapping[str, Any]) -> None:
        Options.parse(options)

    @hookimpl
    def rltf_extra_tests(self, problem: Problem, oracle: Any, options: Mapping[str, Any]) -> list[Any]:
        return extra_tests(problem, oracle, Options.parse(options))


@hookimpl
def rltf_feedback_providers() -> list[HypothesisTests]:
    return [HypothesisTests()]
