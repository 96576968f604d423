"""Plain data across the trust boundary: builtin values as tagged JSON.

The program's process sends only this encoding; the trusted worker decodes it with
``json.loads``, which can build nothing but builtin values. So an object whose ``__eq__``
always says True never reaches a comparison: the best a program can return is data.
Tuples, sets, bytes and dicts with non-string keys are tagged so they survive the trip.
Objects that are not plain data travel as handles the worker can only pass back.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any, Callable

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

TAGS = ("$tuple", "$set", "$frozenset", "$dict", "$bytes", "$complex", "$type", "$module", "$handle")
_BUILTIN_TYPES = {t.__name__: t for t in (int, float, str, bool, list, tuple, dict, set, frozenset, bytes,
                                          complex, type(None), object, type, range, bytearray)}
_BASES = (bool, int, float, str, list, tuple, dict, set, frozenset, bytes, complex)
_SCALARS = (type(None), bool, int, float, str)
MAX_DEPTH = 200


class NotPlainData(TypeError):
    """A value that cannot cross the boundary as data (and no handle was allowed)."""


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
    if kind is type and _BUILTIN_TYPES.get(value.__name__) is value:
        return {"$type": value.__name__}
    if kind.__name__ == "module" and _is_stdlib(value.__name__):
        return {"$module": value.__name__}
    converted = _as_builtin(value)
    if converted is not None:
        return _encode(converted, handle_for, depth + 1)
    if handle_for is None:
        raise NotPlainData(f"{kind.__name__} is not plain data")
    return {"$handle": handle_for(value)}


def _as_builtin(value: Any) -> Any:
    """Data in everything but type: ``Counter``, ``OrderedDict``, NumPy values, an int enum.

    Only the data crosses, so an overridden ``__eq__`` on such a subclass is left behind.
    """
    for base in _BASES:
        if isinstance(value, base):
            return base(value)
    if type(value).__module__ == "numpy":
        convert = getattr(value, "tolist", None)
        return convert() if callable(convert) else None
    return None


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
    if tag == "$type":
        return _BUILTIN_TYPES[inner]
    if tag == "$module":
        return importlib.import_module(inner) if _is_stdlib(inner) else None
    if resolve_handle is None:
        raise NotPlainData("a handle where plain data was required")
    return resolve_handle(inner)


def _is_stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def loads(raw: bytes) -> Any:
    return json.loads(raw)
