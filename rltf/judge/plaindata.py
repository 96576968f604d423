"""Plain data across the trust boundary: builtin values as tagged JSON.

The program's process sends only this encoding; the trusted worker decodes it with
``json.loads``, which can build nothing but builtin values. So an object whose ``__eq__``
always says True never reaches a comparison: the best a program can return is data.
Tuples, sets, bytes and dicts with non-string keys are tagged so they survive the trip.
Objects that are not plain data travel as handles the worker can only pass back.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

TAGS = ("$tuple", "$set", "$frozenset", "$dict", "$bytes", "$complex", "$handle")
_SCALARS = (type(None), bool, int, float, str)
MAX_DEPTH = 200


class NotPlainData(TypeError):
    pass


def to_json(value: Any, handle_for: Callable[[Any], int] | None = None) -> Any:
    """Encode ``value``; objects that are not plain data become handles (or raise)."""
    return _encode(value, handle_for, 0)


def _encode(value: Any, handle_for, depth: int) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth > MAX_DEPTH:
        raise NotPlainData("value nested too deeply (or cyclic)")
    if kind is list:
        return [_encode(v, handle_for, depth + 1) for v in value]
    if kind is tuple:
        return {"$tuple": [_encode(v, handle_for, depth + 1) for v in value]}
    if kind is set or kind is frozenset:
        tag = "$set" if kind is set else "$frozenset"
        return {tag: [_encode(v, handle_for, depth + 1) for v in value]}
    if kind is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: _encode(v, handle_for, depth + 1) for k, v in value.items()}
        return {"$dict": [[_encode(k, handle_for, depth + 1), _encode(v, handle_for, depth + 1)] for k, v in value.items()]}
    if kind is bytes:
        return {"$bytes": value.decode("latin-1")}
    if kind is complex:
        return {"$complex": [value.real, value.imag]}
    converted = _numpy_to_builtin(value)
    if converted is not None:
        return _encode(converted, handle_for, depth + 1)
    if handle_for is None:
        raise NotPlainData(f"{kind.__name__} is not plain data")
    return {"$handle": handle_for(value)}


def _numpy_to_builtin(value: Any) -> Any:
    """NumPy scalars and arrays are data in everything but type; solutions return them."""
    if type(value).__module__ != "numpy":
        return None
    convert = getattr(value, "tolist", None)
    return convert() if callable(convert) else None


def from_json(data: Any, resolve_handle: Callable[[int], Any] | None = None) -> Any:
    """Decode what ``to_json`` made; handles resolve through ``resolve_handle``."""
    if isinstance(data, list):
        return [from_json(v, resolve_handle) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        (tag, inner), = data.items()
        if tag in TAGS:
            return _decode_tagged(tag, inner, resolve_handle)
    return {k: from_json(v, resolve_handle) for k, v in data.items()}


def _decode_tagged(tag: str, inner: Any, resolve_handle) -> Any:
    if tag == "$tuple":
        return tuple(from_json(v, resolve_handle) for v in inner)
    if tag == "$set":
        return {from_json(v, resolve_handle) for v in inner}
    if tag == "$frozenset":
        return frozenset(from_json(v, resolve_handle) for v in inner)
    if tag == "$dict":
        return {from_json(k, resolve_handle): from_json(v, resolve_handle) for k, v in inner}
    if tag == "$bytes":
        return inner.encode("latin-1")
    if tag == "$complex":
        return complex(inner[0], inner[1])
    if resolve_handle is None:
        raise NotPlainData("a handle where plain data was required")
    return resolve_handle(inner)


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def loads(raw: bytes) -> Any:
    return json.loads(raw)
