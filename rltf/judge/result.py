"""What the judge says about one program: a typed object that round-trips through JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from . import plaindata

Outcome = Literal["pass", "failure", "runtime_error", "compile_error", "timeout"]
Verdict = Literal["pass", "failure", "runtime_error", "timeout"]
OUTCOMES: tuple[Outcome, ...] = ("pass", "failure", "runtime_error", "compile_error", "timeout")


@dataclass(frozen=True)
class ProgramError:
    """Why a program crashed, located in the program's own text.

    ``line`` is a 1-based line of the judged program (the innermost traceback frame that
    lies in it), or None when no line of the program is to blame (a timeout, a signal,
    an exit before the tests finished).
    """

    type: str
    message: str
    line: int | None = None


@dataclass(frozen=True)
class TestVerdict:
    """``output`` is the program's actual output, kept only when the submission asked for it."""

    index: int
    verdict: Verdict
    time_s: float
    detail: str = ""
    output: Any = None


@dataclass(frozen=True)
class JudgeResult:
    outcome: Outcome
    passed: int
    run: int
    total: int
    tests: tuple[TestVerdict, ...] = ()
    error: ProgramError | None = None
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def pass_ratio(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tests"] = [asdict(t) for t in self.tests]
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JudgeResult":
        """Also reads the worker's wire format, where outputs are tagged plain data."""
        error = data.get("error")
        return cls(
            outcome=data["outcome"],
            passed=data["passed"],
            run=data["run"],
            total=data["total"],
            tests=tuple(_verdict(t) for t in data.get("tests", ())),
            error=ProgramError(**error) if error else None,
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            duration_s=data.get("duration_s", 0.0),
            notes=tuple(data.get("notes", ())),
        )


def _verdict(data: dict[str, Any]) -> TestVerdict:
    data = dict(data)
    if "output" in data and isinstance(data["output"], dict) and "plain" in data["output"]:
        data["output"] = plaindata.from_json(data["output"]["plain"])
    return TestVerdict(**data)
