"""The calls a problem's tests will make, worked out before the program runs.

Most tests call the program with literal arguments (``assert add(1, 2) == 3``). Knowing
those calls in advance, the program process makes them all right after defining the
program and streams the values back, instead of waiting for one round trip per call.
Only arguments are known in advance, never expected values, so nothing of the test
reaches the program. The plan is a prediction: the worker checks each call the test
actually makes against it and, at the first difference, discards the run and judges
the program again call by call.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Any

from . import plaindata

_UNPLANNABLE = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.IfExp, ast.BoolOp, ast.Lambda, ast.FunctionDef,
                ast.AsyncFunctionDef, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                ast.Try, ast.With, ast.Global, ast.Nonlocal, ast.NamedExpr, ast.Await, ast.Yield, ast.Match)


@dataclass(frozen=True)
class PlannedCall:
    """Call ``target`` (a program name, or ``(class, method)`` on one shared instance)."""

    target: tuple[str, ...]
    args: Any  # the arguments as plain-data JSON, exactly as they will be sent


def call_plan(fn_name: str, class_name: str | None, cases: list) -> list[PlannedCall]:
    target = (class_name, fn_name) if class_name else (fn_name,)
    return [PlannedCall(target, plaindata.to_json(list(args))) for args, _ in cases]


def without_messages(source: str) -> tuple[str, list[str]]:
    """A test with its assert messages taken out, and their source text.

    Python evaluates a message only when its assertion fails, so a message that calls the
    program (HumanEval/95: ``assert candidate(x) == False, "..." + str(candidate(x))``) tells
    the program which of its answers were wrong: knowledge it could hand to a later program.
    Messages are shown as text, never run."""
    tree = ast.parse(source)
    messages = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.msg is not None:
            messages.append(ast.get_source_segment(source, node.msg) or ast.unparse(node.msg))
            node.msg = None
    return (ast.unparse(tree) if messages else source), messages


CHECK = "__rltf_check__"


def checking(source: str) -> ast.Module:
    """The test with each ``assert X`` turned into ``__rltf_check__(X)``, which records a failure
    and carries on. A failed assert inside a loop would end the loop, and the calls that did not
    come would tell the program that its last answer was wrong (HumanEval/53 loops over 100
    random inputs). The test fails if any check failed; the calls it makes never depend on
    whether the program's answers were right."""
    tree = ast.parse(source)

    class Checks(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> ast.AST:
            call = ast.Call(ast.Name(CHECK, ast.Load()), [self.visit(node.test)], [])
            return ast.copy_location(ast.Expr(call), node)

    return ast.fix_missing_locations(Checks().visit(tree))


def names_used(setup_code: str, asserts: list[str], entry_point: str | None) -> list[str]:
    """The names the tests read but never bind and that are not builtins, and the entry point
    even when it is named like a builtin (MBPP's ``sum``). Tests see Python's own builtins."""
    trees = [ast.parse(setup_code), *(ast.parse(src) for src in asserts)]
    local = _bound_names(trees) | (set(dir(builtins)) - {entry_point})
    return sorted({name for tree in trees for name in _free_names(tree, local)})


def assert_plan(setup_code: str, asserts: list[str], entry_point: str | None = None) -> list[PlannedCall]:
    """Planned calls of the leading tests whose program calls are all literal and unconditional."""
    try:
        setup = ast.parse(setup_code)
        tests = [ast.parse(src) for src in asserts]
    except SyntaxError:
        return []
    local = _bound_names([setup, *tests]) | (set(dir(builtins)) - {entry_point})
    aliases = _aliases(setup, local)
    if aliases is None:
        return []
    local -= set(aliases)
    plan: list[PlannedCall] = []
    for tree in tests:
        calls = _literal_calls(tree, local, aliases)
        if calls is None:
            break
        plan.extend(calls)
    return plan


def _bound_names(trees: list[ast.Module]) -> set[str]:
    bound = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                bound.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                bound.add(node.name)
    return bound


def _aliases(setup: ast.Module, local: set[str]) -> dict[str, str] | None:
    """``candidate = entry_point`` in HumanEval's setup; any other use of the program there
    (MBPP's tree-building setup) means the calls cannot be known in advance."""
    aliases = {}
    for stmt in setup.body:
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Name) and stmt.value.id not in local):
            aliases[stmt.targets[0].id] = stmt.value.id
        elif _free_names(stmt, local):
            return None
    return aliases


def _free_names(node: ast.AST, local: set[str]) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and n.id not in local}


def _literal_calls(tree: ast.Module, local: set[str], aliases: dict[str, str]) -> list[PlannedCall] | None:
    if any(isinstance(n, _UNPLANNABLE) for n in ast.walk(tree)):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.msg is not None and _free_names(node.msg, local):
            return None
    calls: list[PlannedCall] = []
    program_names = _free_names(tree, local)
    found = _collect(tree, program_names, aliases, calls)
    return calls if found == _count_uses(tree, program_names) else None


def _collect(node: ast.AST, program_names: set[str], aliases: dict[str, str], calls: list[PlannedCall]) -> int:
    """Calls in evaluation order (arguments before the call); returns how many it planned."""
    planned = 0
    for child in ast.iter_child_nodes(node):
        if isinstance(node, ast.Assert) and child is node.msg:
            continue
        planned += _collect(child, program_names, aliases, calls)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in program_names:
        args = _literal_args(node)
        if args is not None:
            calls.append(PlannedCall((aliases.get(node.func.id, node.func.id),), plaindata.to_json(args)))
            planned += 1
    return planned


def _count_uses(tree: ast.Module, program_names: set[str]) -> int:
    return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in program_names)


def _literal_args(call: ast.Call) -> list | None:
    if call.keywords:
        return None
    try:
        return [ast.literal_eval(arg) for arg in call.args]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
