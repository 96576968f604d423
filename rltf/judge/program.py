"""The program's side of the boundary: compiles and runs untrusted code, answers the worker's calls.

Nothing this module reports is believed. The worker sends arguments, never expected
values, so the most a tampering program can forge is its own return values. Compiling
happens here, under the program's own limits, not in the worker: CPython's compiler can be
made to take exponential time and memory (nested ``try``/``finally`` blocks copy each
``finally`` body once per way out), and a kilobyte of source must not cost the worker
gigabytes.
"""

from __future__ import annotations

import builtins
import os
import sys
import time
from contextlib import suppress
from typing import Any

from . import channel, plaindata

PROGRAM_FILENAME = "<program>"
MESSAGE_LIMIT = 1000
COMPILE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


def compile_program(source: str, standard_input: bool):
    """Standard-input programs that only compile inside a function (a top-level ``return``,
    ``nonlocal``) are run as the body of one, as the APPS harness runs every such program."""
    try:
        return compile(source, PROGRAM_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        if not standard_input:
            raise
        try:
            return _compile_as_function(source)
        except SyntaxError:
            raise exc from None


def _compile_as_function(source: str):
    import ast

    tree = ast.parse(source, PROGRAM_FILENAME)
    extra = {"type_params": []} if sys.version_info >= (3, 12) else {}
    main = ast.FunctionDef(name="__rltf_main__", args=ast.arguments([], [], None, [], [], None, []),
                           body=tree.body or [ast.Pass()], decorator_list=[], returns=None,
                           lineno=1, col_offset=0, **extra)
    call = ast.Expr(ast.Call(ast.Name("__rltf_main__", ast.Load()), [], []), lineno=1, col_offset=0)
    module = ast.fix_missing_locations(ast.Module([main, call], []))
    return compile(module, PROGRAM_FILENAME, "exec", dont_inherit=True)


def compile_error(exc: BaseException) -> dict[str, Any]:
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return {"type": type(exc).__name__, "message": str(message)[:MESSAGE_LIMIT], "line": line}


def error_info(exc: BaseException, callee: Any = None) -> dict[str, Any]:
    """Exception type, message and the innermost line of the program in its traceback.

    A call that fails before any of the program's lines runs (wrong number of arguments)
    is blamed on the ``def`` line of the program's function that was called.
    """
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == PROGRAM_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    code = getattr(callee, "__code__", None)
    if line is None and code is not None and code.co_filename == PROGRAM_FILENAME:
        line = code.co_firstlineno
    try:
        message = str(exc)[:MESSAGE_LIMIT]
    except BaseException:
        message = "<unprintable message>"
    return {"type": type(exc).__name__, "message": message, "line": line}


def fresh_namespace(name: str) -> dict[str, Any]:
    return {"__name__": name, "__builtins__": builtins}


class ObjectTable:
    """Objects that are not plain data stay here; the worker holds only their numbers."""

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}

    def handle_for(self, obj: Any) -> int:
        handle = len(self._objects)
        self._objects[handle] = obj
        return handle

    def resolve(self, handle: int) -> Any:
        return self._objects[handle]


def serve(preamble, source: str, rpc_in: int, rpc_out: int, plan: list, wanted: list[str]) -> None:
    """Compile and define the program, tell the worker the ``wanted`` names it defined, make
    the predicted calls, then answer requests."""
    try:
        code = compile_program(source, standard_input=False)
    except COMPILE_ERRORS as exc:
        channel.send(rpc_out, {"compile_error": compile_error(exc)})
        return
    namespace = fresh_namespace("__rltf_program__")
    table = ObjectTable()
    try:
        exec(preamble, namespace)
        given = dict(namespace)
        exec(code, namespace)
    except BaseException as exc:
        _flush_output()
        channel.send(rpc_out, {"raised": error_info(exc)})
        return
    _flush_output()
    names = _program_names(namespace, given, wanted, table)
    channel.send(rpc_out, {"names": names})
    _make_planned_calls(plan, namespace, names, table, rpc_out)
    while True:
        request = channel.recv(rpc_in)
        answer = _answer(request, namespace, table)
        _flush_output()
        channel.send(rpc_out, answer)


def _make_planned_calls(plan: list, namespace: dict[str, Any], names: dict[str, Any], table: ObjectTable,
                        rpc_out: int) -> None:
    """Stream each predicted call's value; stop at a crash or at a name the program lacks.

    ``plan`` holds ``(target, args)`` pairs: a name or ``(class, method)``, and the
    arguments as plain-data JSON.
    """
    instances: dict[str, Any] = {}
    for target, args in plan:
        owner = target[0]
        if owner not in names:
            return
        started = time.perf_counter()
        function = None
        try:
            function = namespace[owner]
            if len(target) == 2:
                if owner not in instances:
                    instances[owner] = function()
                function = getattr(instances[owner], target[1])
            value = function(*plaindata.from_json(args))
            reply = {"value": plaindata.to_json(value, table.handle_for), "t": time.perf_counter() - started}
        except BaseException as exc:
            reply = {"raised": error_info(exc, function), "t": time.perf_counter() - started}
        _flush_output()
        channel.send(rpc_out, reply)
        if "raised" in reply:
            return


def _flush_output() -> None:
    """What the program printed so far reaches the worker even if it dies next."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(BaseException):
            stream.flush()


def _program_names(namespace: dict[str, Any], given: dict[str, Any], wanted: list[str],
                   table: ObjectTable) -> dict[str, Any]:
    """The names the tests use that the program defined (the preamble's own are not the program's)."""
    names = {}
    for name in wanted:
        value = namespace.get(name, given)
        if value is given or given.get(name, namespace) is value:
            continue
        names[name] = plaindata.to_json(value, table.handle_for)
    return names


def _answer(request: dict[str, Any], namespace: dict[str, Any], table: ObjectTable) -> dict[str, Any]:
    target = None
    try:
        target = table.resolve(request["handle"])
        op = request["op"]
        if op == "call":
            args = plaindata.from_json(request["args"], table.resolve)
            kwargs = plaindata.from_json(request.get("kwargs", {}), table.resolve)
            value = target(*args, **kwargs)
            return {"value": plaindata.to_json(value, table.handle_for), "args": _mutable_args_back(args, table)}
        if op == "getattr":
            return {"value": plaindata.to_json(getattr(target, request["name"]), table.handle_for)}
        if op == "setattr":
            setattr(target, request["name"], plaindata.from_json(request["value"], table.resolve))
            return {"value": None}
        if op == "iter":
            return {"value": plaindata.to_json(list(target), table.handle_for)}
        if op == "bool":
            return {"value": bool(target)}
        return {"value": plaindata.to_json(len(target), table.handle_for)}
    except BaseException as exc:
        return {"raised": error_info(exc, target)}


def _mutable_args_back(args: list[Any], table: ObjectTable) -> list[Any]:
    """Lists, dicts and sets the program changed in place must change in the test too."""
    return [plaindata.to_json(a, table.handle_for) if type(a) in (list, dict, set) else None for a in args]


def run_main(preamble, source: str, error_fd: int) -> None:
    """Run a standard-input program as ``__main__``; exit status and errors as CPython would."""
    try:
        code = compile_program(source, standard_input=True)
    except COMPILE_ERRORS as exc:
        channel.send(error_fd, {"compile_error": compile_error(exc)})
        os._exit(1)
    status = 0
    namespace = fresh_namespace("__main__")
    try:
        exec(preamble, namespace)
        exec(code, namespace)
    except SystemExit as exc:
        status = _exit_status(exc)
    except BaseException as exc:
        channel.send(error_fd, error_info(exc))
        status = 1
    try:
        sys.stdout.flush()
    except BaseException:
        status = status or 120
    os._exit(status)


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    with suppress(Exception):
        print(exc.code, file=sys.stderr)
    return 1
