"""How a program's output is compared with the expected output, by trusted code only.

Both sides are plain builtin data here (see ``plaindata``), so ``==`` is Python's own.

Call-based (APPS rules): tuples in the returned value count as lists (JSON, where the
expected values come from, has no tuples); the value passes if it equals the expected
value, or if the expected value is a one-item list and the value equals that item (APPS
wraps expected returns in a list). String dictionary keys that spell integers also match
integer keys, as APPS reads them. No float tolerance, as in APPS. Stricter than APPS, a
list of several expected items never accepts its first item alone (APPS would take 3 for
[3, 4, 5]).

Standard input (lenient, as the APPS harness): the output passes if it equals the
expected text exactly, or else if both split on whitespace into the same number of
tokens and each pair of tokens is equal as text, or, when the expected token is an
integer, as exactly that number (``+007``, ``7.0`` and ``7e0`` are ``7``; decimal
arithmetic, no rounding), or, when the expected token has a decimal point or an exponent,
as numbers within ``|a - e| <= 1e-8 + 1e-5 * |e|`` (NumPy's ``allclose`` defaults, which
APPS uses). Line breaks therefore count as whitespace, and trailing whitespace and blank
lines are ignored; case is not. Stricter than APPS, an integer answer must be exact (APPS
would take 1000000000, or 1e9, for 1000000007).

Every comparison is linear in the size of what the program returned or printed, which the
output cap bounds: the number pattern has no ambiguity to backtrack over, and ``excerpt``
shows values without converting huge integers to decimal (quadratic in their length).
"""

from __future__ import annotations

import re
import reprlib
from decimal import Decimal
from typing import Any

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
REL_TOL = 1e-5
ABS_TOL = 1e-8


def call_output_matches(actual: Any, expected: Any) -> bool:
    actual = _lists_for_tuples(actual)
    for wanted in (expected, _int_keys(expected)):
        if actual == wanted or (isinstance(wanted, list) and len(wanted) == 1 and actual == wanted[0]):
            return True
    return False


def _lists_for_tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_lists_for_tuples(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists_for_tuples(v) for k, v in value.items()}
    return value


def _int_keys(value: Any) -> Any:
    if isinstance(value, list):
        return [_int_keys(v) for v in value]
    if isinstance(value, dict):
        return {_as_int(k): _int_keys(v) for k, v in value.items()}
    return value


def _as_int(key: Any) -> Any:
    if isinstance(key, str) and re.fullmatch(r"-?\d+", key):
        return int(key)
    return key


def stdout_matches(actual: str, expected: str) -> bool:
    if actual == expected:
        return True
    got, want = actual.split(), expected.split()
    if len(got) != len(want):
        return False
    return all(_tokens_match(g, w) for g, w in zip(got, want))


def _tokens_match(got: str, want: str) -> bool:
    if got == want:
        return True
    if not (_NUMBER.fullmatch(got) and _NUMBER.fullmatch(want)):
        return False
    if _INTEGER.fullmatch(want):  # an integer answer must be that number exactly, however printed
        return Decimal(got) == Decimal(want)
    g, w = float(got), float(want)
    return abs(g - w) <= ABS_TOL + REL_TOL * abs(w)


class _Excerpt(reprlib.Repr):
    """``repr`` that shows the first items of big containers and the size of huge integers."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxset, self.maxfrozenset = 6, 12, 12, 12, 12
        self.maxdict, self.maxstring, self.maxother = 8, 120, 120

    def repr_int(self, value: int, level: int) -> str:
        bits = value.bit_length()
        return repr(value) if bits <= 3000 else f"<int of {bits} bits>"

    def repr_bool(self, value: bool, level: int) -> str:
        return repr(value)


_EXCERPT = _Excerpt()


def excerpt(value: Any, limit: int = 200) -> str:
    """A bounded description of ``value`` for a test's detail line."""
    return _EXCERPT.repr(value)[:limit]
