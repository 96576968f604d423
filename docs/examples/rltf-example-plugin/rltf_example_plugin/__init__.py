"""The ``prints`` feedback provider: a penalty on each ``print()`` call in function-style problems.

In HumanEval, MBPP and APPS call-based problems the tests check return values, never output,
so a ``print`` there is leftover debugging: it costs time on every test, fills the judge's
captured stdout, and, on a standard-input problem learned from later, would corrupt the answer.
The penalty sits on the call's own lines, so the learner pushes down exactly those tokens.
Standard-input problems are left alone: printing is how they answer.

Options (``[prints]`` in a ``--feedback-options`` file): ``penalty`` (default -0.5).
"""

from __future__ import annotations

import ast

from rltf.errors import RltfError
from rltf.feedback import Reward
from rltf.hookspecs import hookimpl


class Prints:
    name = "prints"
    description = "Penalty on the lines of print() calls where tests check return values, not output"

    @hookimpl
    def rltf_check_options(self, options):
        """Called when the options are read, so a typo stops the command before any program runs."""
        self.penalty(options)

    @hookimpl
    def rltf_score(self, samples, options):
        penalty = self.penalty(options)
        return [self.penalties(sample.program, penalty) if sample.problem.tests.style != "stdio" else []
                for sample in samples]

    def penalty(self, options) -> float:
        if set(options) - {"penalty"}:  # RltfError: the user's mistake, so rltf stops the command with it
            raise RltfError(f"feedback provider 'prints' takes only the option 'penalty', not {sorted(options)}")
        value = options.get("penalty", -0.5)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RltfError(f"option 'penalty' of feedback provider 'prints' must be a number, not {value!r}")
        return float(value)

    def penalties(self, program: str, penalty: float) -> list[Reward]:
        try:
            tree = ast.parse(program)
        except SyntaxError:
            return []  # the judge already reports the program as a compile error
        spans = {(node.lineno, node.end_lineno) for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"}
        return [Reward.on_lines(self.name, "print", penalty, program, start, end) for start, end in sorted(spans)]


@hookimpl
def rltf_feedback_providers():
    return [Prints()]
