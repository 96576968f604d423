"""The one problem type every dataset loads into and the judge runs.

The field tests programs in three styles, and a problem carries exactly one of them:

* ``CallTests``: APPS call-based problems. Call a function (or a method of a fresh
  ``class Solution`` instance) with argument lists and compare the returned values.
* ``StdioTests``: APPS standard-input problems. Feed stdin, compare stdout leniently.
* ``AssertTests``: MBPP and HumanEval. Trusted test statements (``assert f(x) == y``)
  that call into the program.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Union

TestStyle = Literal["call", "stdio", "assert"]


@dataclass(frozen=True)
class CallCase:
    """One call: positional arguments and the expected return value (plain JSON data)."""

    args: tuple[Any, ...]
    expected: Any


@dataclass(frozen=True)
class CallTests:
    """Call ``fn_name`` (a method of ``class_name()`` when set) once per case."""

    fn_name: str
    cases: tuple[CallCase, ...]
    class_name: str | None = None
    style: TestStyle = field(default="call", init=False)

    def __len__(self) -> int:
        return len(self.cases)


@dataclass(frozen=True)
class StdioCase:
    stdin: str
    expected_stdout: str


@dataclass(frozen=True)
class StdioTests:
    """Run the whole program once per case with ``stdin`` and compare its stdout."""

    cases: tuple[StdioCase, ...]
    style: TestStyle = field(default="stdio", init=False)

    def __len__(self) -> int:
        return len(self.cases)


@dataclass(frozen=True)
class AssertTests:
    """Trusted test code that refers to names the program defines.

    ``setup_code`` runs once (imports, fixtures such as MBPP's tree-building code,
    HumanEval's ``candidate = entry_point``); each entry of ``asserts`` is one test: a
    block of statements, at least one of them an ``assert``. They run in order in one
    namespace; an ``AssertionError`` fails that test and the next one still runs.
    """

    asserts: tuple[str, ...]
    setup_code: str = ""
    style: TestStyle = field(default="assert", init=False)

    def __len__(self) -> int:
        return len(self.asserts)


Tests = Union[CallTests, StdioTests, AssertTests]


@dataclass(frozen=True)
class Problem:
    """A programming problem with its tests.

    ``solutions`` are reference solutions as whole programs (for HumanEval: prompt plus
    canonical solution), so that every solution can be judged as it is.
    ``program_prefix`` is what a completion continues: HumanEval completions continue the
    prompt; MBPP and APPS completions are whole programs (empty prefix).
    ``program_preamble`` runs in the program's namespace just before it, without being
    part of its text (so error lines stay the program's own): the APPS harness gives
    every program a header of imports, and APPS solutions rely on it.
    """

    task_id: str
    prompt: str
    tests: Tests
    starter_code: str = ""
    solutions: tuple[str, ...] = ()
    difficulty: str | None = None
    entry_point: str | None = None
    program_prefix: str = ""
    program_preamble: str = ""
    source: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def program(self, completion: str) -> str:
        """The program to judge for a model's completion."""
        return self.program_prefix + completion
