"""Reading assert-style tests as calls with literal arguments, and writing new ones alike.

MBPP's tests are ``assert f(1, [2, 3]) == 5`` and HumanEval's ``assert candidate(...) ==
...`` (with ``candidate = entry_point`` in the setup code). When a test has that form we
know the arguments as data, so they can seed the strategies, and a new test can be written
in the same form with the reference's answer. Tests of any other form are left out of the
inference (they still run as they are); a problem with no test of a known form gets no
new tests.

A new test checks the answer the way the problem's own tests do, with one exception:
a float answer is compared with a tolerance (relative 1e-6, absolute 1e-9), because a
correct program that sums in another order differs from the reference in the last bits,
and the point of these tests is to catch wrong programs, not different roundings. Answers
with floats inside containers are skipped rather than compared exactly.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Sequence

REL_TOL, ABS_TOL = 1e-6, 1e-9
_ABS_OPS = {ast.Lt: "<", ast.LtE: "<="}


@dataclass(frozen=True)
class Check:
    """How a test judges the answer: ``eq`` (``==``/``is``), ``truth`` (``assert f(x)``,
    ``assert not f(x)``) or ``abs`` (``assert abs(f(x) - y) < tol``)."""

    kind: str
    op: str = ""
    tol: float = 0.0


@dataclass(frozen=True)
class AssertCall:
    name: str
    args: tuple[Any, ...]
    check: Check
    expects_none: bool = False


@dataclass(frozen=True)
class AssertPlan:
    """The calls to learn from, the name tests call and the function the program defines."""

    name: str
    function: str
    calls: tuple[AssertCall, ...]
    check: Check

    @property
    def none_seen(self) -> bool:
        """The tests expect None somewhere, so None is an answer, not a sign of bad input."""
        return any(c.expects_none for c in self.calls)


def parse_assert(text: str) -> AssertCall | None:
    """The call and check of an assert of a known form, else None."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return None
    if len(body) != 1 or not isinstance(body[0], ast.Assert):
        return None
    test = body[0].test
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if isinstance(test, ast.Call):
        return _call(test, Check("truth"))
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not _literal(test.comparators[0]):
        return None
    op, left, right = type(test.ops[0]), test.left, test.comparators[0]
    if op is ast.Eq or (op is ast.Is and _literal_value(right) in (True, False, None)):
        call = _call(left, Check("eq"))
        return replace(call, expects_none=_literal_value(right) is None) if call else None
    if op in _ABS_OPS and isinstance(tol := _literal_value(right), (int, float)):
        inner = _abs_difference(left)
        return _call(inner, Check("abs", _ABS_OPS[op], float(tol))) if inner is not None else None
    return None


def _abs_difference(node: ast.expr) -> ast.expr | None:
    """The call in ``abs(CALL - literal)``."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "abs"
            and len(node.args) == 1 and not node.keywords):
        diff = node.args[0]
        if isinstance(diff, ast.BinOp) and isinstance(diff.op, ast.Sub) and _literal(diff.right):
            return diff.left
    return None


def _call(node: ast.expr, check: Check) -> AssertCall | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords):
        return None
    if not all(_literal(arg) for arg in node.args):
        return None
    return AssertCall(node.func.id, tuple(ast.literal_eval(arg) for arg in node.args), check)


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _literal_value(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def plan_asserts(asserts: Sequence[str], setup_code: str = "") -> AssertPlan | None:
    """The most-called function among the parsable asserts, and its commonest check."""
    calls = [c for c in map(parse_assert, asserts) if c is not None]
    if not calls:
        return None
    name = Counter(c.name for c in calls).most_common(1)[0][0]
    mine = tuple(c for c in calls if c.name == name)
    check = Counter(c.check for c in mine).most_common(1)[0][0]
    return AssertPlan(name, aliases(setup_code).get(name, name), mine, check)


def aliases(setup_code: str) -> dict[str, str]:
    """``candidate = has_close_elements`` in HumanEval's setup: the name tests call."""
    try:
        body = ast.parse(setup_code).body
    except SyntaxError:
        return {}
    return {node.targets[0].id: node.value.id for node in body
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)}


def round_trips(value: Any) -> bool:
    """Its repr reads back as the same value of the same types (no nan, no objects)."""
    text = repr(value)
    try:
        back = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return back == value and repr(back) == text


def has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(has_float(k) or has_float(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(map(has_float, value))
    return False


def write_assert(plan: AssertPlan, args: tuple[Any, ...], answer: Any) -> str | None:
    """A test in the plan's form that the reference's ``answer`` passes; None if we cannot."""
    if not (round_trips(args) and round_trips(answer)):
        return None
    call = f"{plan.name}({', '.join(map(repr, args))})"
    number = isinstance(answer, (int, float)) and not isinstance(answer, bool)
    if answer is None:
        return f"assert {call} is None"
    if plan.check.kind == "truth" and isinstance(answer, bool):
        return f"assert {call}" if answer else f"assert not {call}"
    if plan.check.kind == "abs" and number:
        return f"assert abs({call} - {answer!r}) {plan.check.op} {plan.check.tol!r}"
    if isinstance(answer, float):
        return f"assert abs({call} - {answer!r}) <= {ABS_TOL!r} + {REL_TOL!r} * abs({answer!r})"
    if has_float(answer):
        return None
    return f"assert {call} == {answer!r}"
