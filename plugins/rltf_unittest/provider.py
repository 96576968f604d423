"""The ``unittest`` feedback provider: RLTF's three reward granularities from the judge's verdict.

Options (``[feedback.unittest]``), see the package docstring for their meaning:
``coarse``, ``fine``, ``adaptive`` (bool), ``coarse_rewards`` (outcome -> value),
``fine_penalty`` (float) and ``alpha`` (``"paper"`` or ``"one"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from rltf.errors import RltfError
from rltf.feedback import JudgedSample, Reward
from rltf.hookspecs import hookimpl
from rltf.judge.result import OUTCOMES

from .errors import ErrorClass, classify

NAME = "unittest"
COARSE_REWARDS: Mapping[str, float] = MappingProxyType({
    "pass": 1.0, "failure": -0.3, "runtime_error": -0.6, "timeout": -0.6, "compile_error": -1.0,
})
ADAPTIVE_FLOOR = -0.3
ADAPTIVE_SPAN = 1.3
ALPHAS = ("paper", "one")
OPTION_NAMES = ("coarse", "fine", "adaptive", "coarse_rewards", "fine_penalty", "alpha")


@dataclass(frozen=True)
class Settings:
    coarse: bool = True
    fine: bool = True
    adaptive: bool = True
    coarse_rewards: Mapping[str, float] = field(default_factory=lambda: COARSE_REWARDS)
    fine_penalty: float = -0.3
    alpha: str = "paper"

    @property
    def rescale(self) -> bool:
        """The paper's alpha = T/(E-S+1) needs token counts, so only the learner can apply it."""
        return self.alpha == "paper"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Settings":
        """Checked up front, since a misspelt option would otherwise silently change training."""
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise RltfError(f"unknown option {unknown[0]!r} for feedback provider {NAME!r}; "
                            f"valid options: {', '.join(OPTION_NAMES)}")
        return cls(
            coarse=_flag(options, "coarse"),
            fine=_flag(options, "fine"),
            adaptive=_flag(options, "adaptive"),
            coarse_rewards=_coarse_table(options.get("coarse_rewards", {})),
            fine_penalty=_number(options.get("fine_penalty", cls.fine_penalty), "fine_penalty"),
            alpha=_alpha(options.get("alpha", cls.alpha)),
        )


def _flag(options: Mapping[str, Any], name: str) -> bool:
    value = options.get(name, True)
    if not isinstance(value, bool):
        raise RltfError(f"option {name!r} of feedback provider {NAME!r} must be true or false, not {value!r}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RltfError(f"option {name!r} of feedback provider {NAME!r} must be a number, not {value!r}")
    return float(value)


def _coarse_table(overrides: Any) -> Mapping[str, float]:
    """Outcomes left out keep the paper's values, so one can retune a single outcome."""
    if not isinstance(overrides, Mapping):
        raise RltfError(f"option 'coarse_rewards' of feedback provider {NAME!r} must be a table of outcomes")
    unknown = sorted(set(overrides) - set(OUTCOMES))
    if unknown:
        raise RltfError(f"unknown outcome {unknown[0]!r} in option 'coarse_rewards' of feedback provider "
                        f"{NAME!r}; outcomes: {', '.join(OUTCOMES)}")
    return MappingProxyType({**COARSE_REWARDS, **{k: _number(v, f"coarse_rewards.{k}") for k, v in overrides.items()}})


def _alpha(value: Any) -> str:
    if value not in ALPHAS:
        raise RltfError(f"option 'alpha' of feedback provider {NAME!r} must be one of {', '.join(ALPHAS)}, "
                        f"not {value!r}")
    return value


def coarse_reward(sample: JudgedSample, settings: Settings) -> Reward:
    return Reward.on_program(NAME, "coarse", settings.coarse_rewards[sample.result.outcome])


def adaptive_reward(sample: JudgedSample) -> Reward:
    """Given for every outcome, passes included: the learner subtracts the baseline's value."""
    result = sample.result
    ratio = 1.0 if result.outcome == "pass" else result.pass_ratio
    return Reward.on_program(NAME, "adaptive", ADAPTIVE_FLOOR + ADAPTIVE_SPAN * ratio)


def fine_rewards(sample: JudgedSample, settings: Settings) -> list[Reward]:
    error_class, line = classify(sample.result, sample.program)
    if error_class is ErrorClass.GLOBAL:
        return [Reward.on_program(NAME, "fine", settings.fine_penalty)]
    if error_class is ErrorClass.LINE and line is not None:
        return [Reward.on_lines(NAME, "fine", settings.fine_penalty, sample.program, line,
                                rescale=settings.rescale)]
    return []


def score_sample(sample: JudgedSample, settings: Settings) -> list[Reward]:
    rewards = [coarse_reward(sample, settings)] if settings.coarse else []
    if settings.fine:
        rewards += fine_rewards(sample, settings)
    if settings.adaptive:
        rewards.append(adaptive_reward(sample))
    return rewards


class UnitTestFeedback:
    name = NAME
    description = "RLTF unit-test rewards: coarse outcome, fine-grained error line, adaptive pass ratio"

    @hookimpl
    def rltf_score(self, samples: Sequence[JudgedSample], options: Mapping[str, Any]) -> list[list[Reward]]:
        settings = Settings.from_options(options)
        return [score_sample(sample, settings) for sample in samples]


@hookimpl
def rltf_feedback_providers() -> list[UnitTestFeedback]:
    return [UnitTestFeedback()]
