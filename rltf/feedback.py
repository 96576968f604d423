"""Rewards on program text: what feedback providers say, before any tokenizer is involved.

A reward applies to the whole program or to a span of its characters. Providers name
lines (1-based, as in tracebacks and pylint messages) and ``Reward.on_lines`` turns them
into the matching character span, so the trainer can map any reward onto the tokens of
any tokenizer through its offset mapping.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from rltf.judge.result import JudgeResult
from rltf.problems import Problem

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def line_spans(program: str) -> list[tuple[int, int]]:
    """Character range ``[start, end)`` of each line's text, as Python numbers lines.

    Only ``\\n``, ``\\r\\n`` and ``\\r`` end a line (as in Python's tokenizer), unlike
    ``str.splitlines``, which also splits on form feeds and Unicode separators.
    """
    spans = []
    for match in _LINE.finditer(program):
        if match.start() == len(program) and spans:
            break
        text = match.group().rstrip("\r\n")
        spans.append((match.start(), match.start() + len(text)))
    return spans


@dataclass(frozen=True)
class Reward:
    """A value from one provider, on the whole program (all positions None) or on a span.

    Lines are 1-based and inclusive; characters are 0-based offsets into the program text,
    end exclusive. A span reward carries both, and they agree.

    ``rescale`` asks the learner to multiply the span's per-token term by
    ``program tokens / span tokens`` (RLTF's alpha), so that a short span weighs as much as
    a whole-program reward; only the learner knows token counts.

    ``baseline`` (whole-program rewards only) asks the learner to subtract the baseline
    program's value of the same provider and kind (RLTF's coarse and adaptive terms), which
    turns a score into an advantage; without it the value applies as it is (a penalty such as
    RLTF's fine-grained one). Span rewards always apply as they are.
    """

    provider: str
    kind: str
    value: float
    start_line: int | None = None
    end_line: int | None = None
    start_char: int | None = None
    end_char: int | None = None
    rescale: bool = False
    baseline: bool = True

    @property
    def whole_program(self) -> bool:
        return self.start_char is None

    @classmethod
    def on_program(cls, provider: str, kind: str, value: float, baseline: bool = True) -> "Reward":
        return cls(provider, kind, float(value), baseline=baseline)

    @classmethod
    def on_lines(cls, provider: str, kind: str, value: float, program: str, start_line: int,
                 end_line: int | None = None, rescale: bool = False) -> "Reward":
        """Lines outside the program are clamped to it (a traceback may point past a cut-off end)."""
        spans = line_spans(program)
        end_line = start_line if end_line is None else end_line
        first = min(max(start_line, 1), len(spans))
        last = min(max(end_line, first), len(spans))
        return cls(provider, kind, float(value), first, last, spans[first - 1][0], spans[last - 1][1], rescale,
                   baseline=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reward":
        return cls(**data)


@dataclass(frozen=True)
class JudgedSample:
    """Everything a provider may look at: the problem, the program text and the judge's result.

    ``truncated``: the model did not end the program; ``max_new_tokens`` did (only the trainer
    knows, so samples from a file, as ``rltf eval`` reads them, say False)."""

    sample_id: str
    problem: Problem
    program: str
    result: JudgeResult
    truncated: bool = False
