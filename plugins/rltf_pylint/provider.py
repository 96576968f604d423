"""The ``pylint`` feedback provider: one line reward per pylint message.

Options (``[feedback.pylint]``), see the package docstring for their meaning and defaults:
``penalties`` (category -> value), ``disable`` and ``enable`` (pylint message names),
``timeout_s`` (seconds per program).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from rltf.errors import RltfError
from rltf.feedback import JudgedSample, Reward
from rltf.hookspecs import hookimpl
from rltf.options import OptionReader

from .worker import PylintFailure, PylintWorker

NAME = "pylint"
PENALTIES: Mapping[str, float] = MappingProxyType({
    "error": -0.3, "warning": -0.1, "refactor": -0.05, "convention": -0.02, "info": 0.0,
})
DEFAULT_DISABLED: tuple[str, ...] = (
    # documentation and naming
    "missing-module-docstring", "missing-class-docstring", "missing-function-docstring",
    "empty-docstring", "invalid-name", "disallowed-name",
    # layout and formatting
    "line-too-long", "too-many-lines", "trailing-whitespace", "missing-final-newline",
    "trailing-newlines", "multiple-statements", "superfluous-parens", "mixed-line-endings",
    "unexpected-line-ending-format", "bad-indentation", "unnecessary-semicolon",
    # where and in which order imports are written
    "wrong-import-order", "wrong-import-position", "ungrouped-imports", "multiple-imports",
    "import-outside-toplevel",
    # size limits
    "too-many-ancestors", "too-many-instance-attributes", "too-few-public-methods",
    "too-many-public-methods", "too-many-return-statements", "too-many-branches",
    "too-many-arguments", "too-many-positional-arguments", "too-many-locals",
    "too-many-statements", "too-many-boolean-expressions", "too-many-nested-blocks",
    # style of control flow and string formatting
    "no-else-return", "no-else-raise", "no-else-break", "no-else-continue", "consider-using-f-string",
)
# They compare the programs of a batch with one another, so one sample's rewards would depend
# on which others share its batch.
ALWAYS_OFF: tuple[str, ...] = ("duplicate-code", "cyclic-import")
ALWAYS_OFF_IDS: tuple[str, ...] = ("R0801", "R0401")
DEFAULT_TIMEOUT_S = 10.0
OPTION_NAMES = ("penalties", "disable", "enable", "timeout_s")


@dataclass(frozen=True)
class Settings:
    penalties: Mapping[str, float] = field(default_factory=lambda: PENALTIES)
    disable: tuple[str, ...] = ()
    enable: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Settings":
        read = OptionReader(NAME, options, OPTION_NAMES)
        settings = cls(
            penalties=read.table("penalties", PENALTIES, ("category", "categories")),
            disable=_message_names(read, "disable"),
            enable=_message_names(read, "enable"),
            timeout_s=read.number("timeout_s", DEFAULT_TIMEOUT_S, positive=True),
        )
        _refuse_always_off(settings.enable)
        return settings

    @property
    def pylint_config(self) -> dict[str, list[str]]:
        return {"defaults": list(DEFAULT_DISABLED), "disable": list(self.disable),
                "enable": list(self.enable), "always_off": list(ALWAYS_OFF)}


def _message_names(read: OptionReader, name: str) -> tuple[str, ...]:
    """A list of names, or one comma-separated string as pylint's own ``--disable`` takes."""
    value = read.options.get(name, ())
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise read.error(name, f"must be a list of pylint message names, not {value!r}")
    return tuple(item.strip() for item in items if item.strip())


def _refuse_always_off(enable: Sequence[str]) -> None:
    for name in enable:
        if name.lower() in ALWAYS_OFF or name.upper() in ALWAYS_OFF_IDS:
            raise RltfError(f"option 'enable' of feedback provider {NAME!r}: {name!r} compares the programs "
                            "of a batch with one another, so it stays disabled")


def rewards_for(sample: JudgedSample, messages: Sequence[Mapping[str, Any]], settings: Settings) -> list[Reward]:
    """A fatal message means pylint could not analyse the program: no rewards, a failure."""
    for message in messages:
        if message["category"] == "fatal":
            first_line = (message["message"].strip().splitlines() or [""])[0][:300]
            raise PylintFailure(f"pylint could not analyse the program: {message['symbol']}: {first_line}")
    return [Reward.on_lines(NAME, message["category"], settings.penalties[message["category"]], sample.program,
                            message["line"], message["end_line"] or message["line"])
            for message in messages if settings.penalties[message["category"]] != 0]


class PylintFeedback:
    name = NAME
    description = "pylint static analysis: a penalty on the lines of each message, by category"

    def __init__(self) -> None:
        self.worker = PylintWorker()

    @hookimpl
    def rltf_check_options(self, options: Mapping[str, Any]) -> None:
        Settings.from_options(options)

    @hookimpl
    def rltf_score(self, samples: Sequence[JudgedSample], options: Mapping[str, Any]) -> list[list[Reward]]:
        settings = Settings.from_options(options)
        if not samples:
            return []
        messages = self.worker.lint([s.program for s in samples], [s.problem.program_preamble for s in samples],
                                    settings.pylint_config, settings.timeout_s)
        return [rewards_for(sample, own, settings) for sample, own in zip(samples, messages)]

    def close(self) -> None:
        """Stops the pylint worker process now rather than at exit."""
        self.worker.close()


@hookimpl
def rltf_feedback_providers() -> list[PylintFeedback]:
    return [PylintFeedback()]
