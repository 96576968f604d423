"""The ``unittest`` feedback provider: RLTF's three reward granularities from the judge's verdict.

Options (``[feedback.options.unittest]`` in a run's config), see the package docstring for their meaning:
``coarse``, ``fine``, ``adaptive`` (bool), ``coarse_rewards`` (outcome -> value),
``fine_penalty`` (float), ``alpha`` (``"paper"`` or ``"one"``), ``adaptive_scope``
(``"failing"`` or ``"all"``) and ``unlocated`` (``"global"`` or ``"ignore"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from rltf.feedback import JudgedSample, Reward, line_spans
from rltf.hookspecs import hookimpl
from rltf.options import OptionReader

from .errors import ErrorClass, classify

NAME = "unittest"
COARSE_REWARDS: Mapping[str, float] = MappingProxyType({
    "pass": 1.0, "failure": -0.3, "runtime_error": -0.6, "timeout": -0.6, "compile_error": -1.0,
})
ADAPTIVE_FLOOR = -0.3
ADAPTIVE_SPAN = 1.3
ALPHAS = ("paper", "one")
ADAPTIVE_SCOPES = ("failing", "all")
UNLOCATED = ("global", "ignore")
OPTION_NAMES = ("coarse", "fine", "adaptive", "coarse_rewards", "fine_penalty", "alpha", "adaptive_scope", "unlocated")


@dataclass(frozen=True)
class Settings:
    coarse: bool = True
    fine: bool = True
    adaptive: bool = True
    coarse_rewards: Mapping[str, float] = field(default_factory=lambda: COARSE_REWARDS)
    fine_penalty: float = -0.3
    alpha: str = "paper"
    adaptive_scope: str = "failing"
    unlocated: str = "global"

    @property
    def rescale(self) -> bool:
        """The paper's alpha = T/(E-S+1) needs token counts, so only the learner can apply it."""
        return self.alpha == "paper"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Settings":
        read = OptionReader(NAME, options, OPTION_NAMES)
        return cls(
            coarse=read.flag("coarse", True),
            fine=read.flag("fine", True),
            adaptive=read.flag("adaptive", True),
            coarse_rewards=read.table("coarse_rewards", COARSE_REWARDS, ("outcome", "outcomes")),
            fine_penalty=read.number("fine_penalty", cls.fine_penalty),
            alpha=read.choice("alpha", cls.alpha, ALPHAS),
            adaptive_scope=read.choice("adaptive_scope", cls.adaptive_scope, ADAPTIVE_SCOPES),
            unlocated=read.choice("unlocated", cls.unlocated, UNLOCATED),
        )


def coarse_reward(sample: JudgedSample, settings: Settings) -> Reward:
    return Reward.on_program(NAME, "coarse", settings.coarse_rewards[sample.result.outcome])


def adaptive_reward(sample: JudgedSample, settings: Settings) -> list[Reward]:
    """The method's rule (``"failing"``): a program that answers every test, some wrongly, gets
    partial credit passed / (passed + failed), which is passed / all tests (as the released RLTF
    code does: its ratio is only computed when no test crashed). A program that crashes or times
    out gets none: counting only the tests before the crash would pay a program to crash right
    after a wrong answer (pass 3, fail 1, crash: 3/4, where answering all 20 tests gives 3/20).
    ``"all"``: every outcome, passed / all tests (a pass 1.0, a compile error -0.3), as rltf did
    before. The learner subtracts the baseline's value, and a program without the reward counts
    as 0 there."""
    result = sample.result
    if settings.adaptive_scope == "all":
        ratio = 1.0 if result.outcome == "pass" else result.pass_ratio
        return [Reward.on_program(NAME, "adaptive", ADAPTIVE_FLOOR + ADAPTIVE_SPAN * ratio)]
    if result.outcome != "failure" or not result.total:
        return []
    return [Reward.on_program(NAME, "adaptive", ADAPTIVE_FLOOR + ADAPTIVE_SPAN * result.passed / result.total)]


def fine_rewards(sample: JudgedSample, settings: Settings) -> list[Reward]:
    """A program ``max_new_tokens`` cut off is U_global, as the method says, even when what was
    written so far parses (its error then points at a line the model never finished).

    A crash with no line (``os._exit``, a signal, output or memory past its limit, the asked-for
    function missing) is U_global unless ``unlocated = "ignore"`` (the method's table): ignored, it
    would teach a policy to end its own process instead of raising, which dodges the penalty.
    """
    if sample.truncated and sample.result.outcome != "pass":
        return [Reward.on_program(NAME, "fine", settings.fine_penalty, baseline=False)]
    error_class, line = classify(sample.result, sample.program)
    if error_class is ErrorClass.LINE and not holds_written_code(sample, line):
        error_class = ErrorClass.GLOBAL
    if error_class is ErrorClass.GLOBAL or (error_class is ErrorClass.UNLOCATED and settings.unlocated == "global"):
        return [Reward.on_program(NAME, "fine", settings.fine_penalty, baseline=False)]
    if error_class is ErrorClass.LINE:
        return [Reward.on_lines(NAME, "fine", settings.fine_penalty, sample.program, line,
                                rescale=settings.rescale)]
    return []


def holds_written_code(sample: JudgedSample, line: int | None) -> bool:
    """Whether the blamed line holds code of the completion, not a blank line, a comment or the
    prompt it continues. A penalty there would fall on no sampled token and weigh nothing, and a
    program can steer its traceback there (code compiled under the program's name, a forged
    traceback, a crash inside a helper the prompt gives): the whole program is blamed instead."""
    spans = line_spans(sample.program)
    if line is None or not 1 <= line <= len(spans):
        return False
    start, end = spans[line - 1]
    text = sample.program[max(start, len(sample.problem.program_prefix)):end].strip()
    return bool(text) and not text.startswith("#")


def score_sample(sample: JudgedSample, settings: Settings) -> list[Reward]:
    rewards = [coarse_reward(sample, settings)] if settings.coarse else []
    if settings.fine:
        rewards += fine_rewards(sample, settings)
    if settings.adaptive:
        rewards += adaptive_reward(sample, settings)
    return rewards


class UnitTestFeedback:
    name = NAME
    description = "RLTF unit-test rewards: coarse outcome, fine-grained error line, adaptive pass ratio"

    @hookimpl
    def rltf_check_options(self, options: Mapping[str, Any]) -> None:
        Settings.from_options(options)

    @hookimpl
    def rltf_score(self, samples: Sequence[JudgedSample], options: Mapping[str, Any]) -> list[list[Reward]]:
        settings = Settings.from_options(options)
        return [score_sample(sample, settings) for sample in samples]


@hookimpl
def rltf_feedback_providers() -> list[UnitTestFeedback]:
    return [UnitTestFeedback()]
