"""Sorting a judged program's error into RLTF's fine-grained classes (U_global, U_line, U_ignore).

The classes decide where the fine-grained penalty lands, so they follow what the error says
about the program's text, not its message wording: the judge gives the exception's class name
and the line of the innermost traceback frame inside the program, which stay the same across
Python versions where messages change (the released RLTF code matched old messages and missed
errors as a result). Message text is read only for syntax errors, where Python's class names
do not tell an unfinished program from a wrong one.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from contextlib import suppress
from enum import Enum

from rltf.feedback import line_spans
from rltf.judge.result import JudgeResult, ProgramError

# Errors that blame no single line: the program as a whole ran too long or too deep.
_WHOLE_PROGRAM_TYPES = frozenset({"Timeout", "CPUTimeLimit", "RecursionError"})
# The judge's own failures: nothing the program did, so nothing to learn from.
_JUDGE_FAULTS = frozenset({"JudgeError"})
# Syntax errors that only the end of the input can cause: the generation was cut off.
_END_OF_INPUT_MESSAGES = ("unterminated triple-quoted string", "unexpected EOF")
_NEVER_CLOSED = "was never closed"
_CLOSER = {"(": ")", "[": "]", "{": "}"}


class ErrorClass(str, Enum):
    """Where a fine-grained penalty goes: the whole program, one line, or nowhere.

    UNLOCATED is a crash the program caused that no line is blamed for (an early exit, a signal,
    a missing function): the method's table ignores it; the provider decides (``unlocated``).
    """

    GLOBAL = "global"
    LINE = "line"
    UNLOCATED = "unlocated"
    IGNORE = "ignore"


Classified = tuple[ErrorClass, int | None]


def classify(result: JudgeResult, program: str) -> Classified:
    """The error's class and, for ``ErrorClass.LINE``, the 1-based line of the program to blame."""
    if result.outcome in ("pass", "failure"):
        return ErrorClass.IGNORE, None
    if result.outcome == "timeout":
        return ErrorClass.GLOBAL, None
    error = result.error
    if error is None or error.type in _JUDGE_FAULTS:
        return ErrorClass.IGNORE, None
    if error.type in _WHOLE_PROGRAM_TYPES:
        return ErrorClass.GLOBAL, None
    if result.outcome == "compile_error":
        return _classify_syntax(error, program)
    return _at_line(error.line)


def _at_line(line: int | None) -> Classified:
    """Without a line the error says nothing the policy could fix at a place (a signal, an early exit)."""
    return (ErrorClass.UNLOCATED, None) if line is None else (ErrorClass.LINE, line)


def _classify_syntax(error: ProgramError, program: str) -> Classified:
    if error.line is None or _is_tab_mixing(error, program):
        return ErrorClass.IGNORE, None
    if is_cut_off(error, program):
        return ErrorClass.GLOBAL, None
    return ErrorClass.LINE, error.line


def is_cut_off(error: ProgramError, program: str) -> bool:
    """Whether the syntax error comes from the program ending too soon (a truncated generation).

    A truncated program fails where it ends, so an error on the last non-blank line or past it
    counts, and so do errors only the end of input can raise. A program that parses is whole,
    though: its error comes from the compiler (``return`` outside a function, often a dedented
    last line), which more text would not fix. Python reports an unclosed bracket at the line
    that opened it, which may be far above the cut; there the program counts as cut off when
    closing its brackets at the end leaves no error above its last line.
    """
    if error.message.startswith(_END_OF_INPUT_MESSAGES):
        return True
    if _parses(program):
        return False
    last = last_code_line(program)
    if error.line is not None and error.line >= last:
        return True
    return error.message.endswith(_NEVER_CLOSED) and _parses_once_closed(program, last)


def last_code_line(program: str) -> int:
    """The 1-based number of the last line that is not blank (1 for a blank program)."""
    for number, (start, end) in reversed(list(enumerate(line_spans(program), start=1))):
        if program[start:end].strip():
            return number
    return 1


def _parse(source: str) -> None:
    """Parsing only (no compiling) runs nothing of the program and stops short of compiler checks.

    Warnings the parser raises about the program (``1if``: invalid decimal literal) are the
    program's, not the user's: they stay off the trainer's terminal.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ast.parse(source)


def _parses(program: str) -> bool:
    try:
        _parse(program)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _parses_once_closed(program: str, last: int) -> bool:
    closers = _open_brackets_closers(program)
    if not closers:
        return False
    try:
        _parse(program + "\n" + closers)
    except SyntaxError as exc:
        return exc.lineno is not None and exc.lineno >= last
    except (ValueError, MemoryError, RecursionError):
        return False
    return True


def _open_brackets_closers(program: str) -> str:
    """The closing brackets that the program's still-open brackets need at its end, innermost first."""
    stack: list[str] = []
    with suppress(tokenize.TokenError, SyntaxError):  # a cut-off program ends mid-token: keep what was read
        for token in tokenize.generate_tokens(io.StringIO(program).readline):
            if token.type == tokenize.OP and token.string in _CLOSER:
                stack.append(token.string)
            elif token.type == tokenize.OP and token.string in _CLOSER.values() and stack:
                stack.pop()
    return "".join(_CLOSER[opener] for opener in reversed(stack))


def _is_tab_mixing(error: ProgramError, program: str) -> bool:
    """Tab/space mixing says nothing about the code of the line Python stops at (RLTF ignores it).

    Python raises TabError for only some such programs and IndentationError for the rest, so an
    IndentationError counts too when the indentation up to its line uses both tabs and spaces.
    """
    if error.type == "TabError":
        return True
    return error.type == "IndentationError" and _mixes_tabs_and_spaces(program, error.line)


def _mixes_tabs_and_spaces(program: str, line: int | None) -> bool:
    spans = line_spans(program)[: line or None]
    indents = {char for start, end in spans for char in _indentation(program[start:end])}
    return {" ", "\t"} <= indents


def _indentation(text: str) -> str:
    return text[: len(text) - len(text.lstrip(" \t"))]
