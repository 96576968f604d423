"""Plain data across the trust boundary: builtin values as tagged JSON.

The program's process sends only this encoding; the trusted worker decodes it with
``json.loads``, which can build nothing but builtin values. So an object whose ``__eq__``
always says True never reaches a comparison: the best a program can return is data.
Tuples, sets, bytes, dicts with non-string keys and integers beyond 64 bits (as hex, which
converts in linear time, unlike decimal) are tagged so they survive the trip. Objects that
are not plain data travel as handles the worker can only pass back.

Decoding never imports anything. A standard-library module crosses by name (tests use
``math.isclose`` when the program imported ``math``); the worker gives back its own copy of
a module from ``TEST_MODULES`` and, for any other name, an ``Opaque`` value that equals
nothing. A ``HashGuard`` refuses values built to make sets and dicts quadratic.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any, Callable

TAGS = ("$tuple", "$set", "$frozenset", "$dict", "$bytes", "$complex", "$int", "$type", "$module", "$handle")
_BUILTIN_TYPES = {t.__name__: t for t in (int, float, str, bool, list, tuple, dict, set, frozenset, bytes,
                                          complex, type(None), object, type, range, bytearray)}
_BASES = (bool, int, float, str, list, tuple, dict, set, frozenset, bytes, complex)
_SCALARS = (type(None), bool, float, str)
_SMALL = 1 << 63
MAX_DEPTH = 200
TEST_MODULES = frozenset({
    "math", "cmath", "sys", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
    "random", "copy", "operator", "statistics", "fractions", "decimal", "datetime", "json", "array",
    "numbers", "textwrap", "queue", "typing", "hashlib", "time", "struct",
})


class NotPlainData(TypeError):
    """A value that cannot cross the boundary as data (and no handle was allowed)."""


class UnsafeValue(ValueError):
    """A value the worker refuses to compare: it would cost more than its size."""


class Opaque:
    """Something that is not data (a module the worker will not import): equal to nothing."""

    __slots__ = ("description",)

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return f"<{self.description}>"


def to_json(value: Any, handle_for: Callable[[Any], int] | None = None) -> Any:
    """Encode ``value``; objects that are not plain data become handles (or raise)."""
    return _encode(value, handle_for, 0)


def _encode(value: Any, handle_for, depth: int) -> Any:
    kind = type(value)
    if kind is int:
        return value if -_SMALL <= value < _SMALL else {"$int": format(value, "x")}
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
    if kind.__name__ == "module" and _is_stdlib(getattr(value, "__name__", None)):
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


class HashGuard:
    """Refuses decoded values with many distinct members of equal hash.

    Small integers hash to themselves and strings use a keyed hash, but integers beyond
    2**61, complex numbers and tuples can be chosen to collide: a set of 100,000 of them
    costs the worker minutes to build. Honest data never has ``LIMIT`` distinct such values
    with one hash; a program that sends them gets ``UnsafeValue``. A guard lives for one
    decoded value, so what it keeps is bounded by that value's size.
    """

    LIMIT = 32

    def __init__(self) -> None:
        self._by_hash: dict[int, list[Any]] = {}

    def add(self, value: Any) -> None:
        try:
            key = hash(value)
        except TypeError:  # a tuple holding a list: never a set member
            return
        group = self._by_hash.setdefault(key, [])
        if value in group:
            return
        if len(group) >= self.LIMIT:
            raise UnsafeValue(f"more than {self.LIMIT} distinct values of one hash ({type(value).__name__}s built "
                              "to make sets and dicts slow)")
        group.append(value)


def from_json(data: Any, resolve_handle: Callable[[int], Any] | None = None, guard: HashGuard | None = None) -> Any:
    """Decode what ``to_json`` made; handles resolve through ``resolve_handle``."""
    if isinstance(data, list):
        return [from_json(v, resolve_handle, guard) for v in data]
    if not isinstance(data, dict):
        if guard is not None and type(data) is int and not -_SMALL <= data < _SMALL:
            guard.add(data)
        return data
    if len(data) == 1:
        (tag, inner), = data.items()
        if tag in TAGS:
            value = _decode_tagged(tag, inner, resolve_handle, guard)
            if guard is not None and type(value) in (tuple, frozenset, complex, int):
                guard.add(value)
            return value
    return {k: from_json(v, resolve_handle, guard) for k, v in data.items()}


def _decode_tagged(tag: str, inner: Any, resolve_handle, guard) -> Any:
    if tag == "$tuple":
        return tuple(from_json(v, resolve_handle, guard) for v in inner)
    if tag == "$set":
        return set(_members(inner, resolve_handle, guard))
    if tag == "$frozenset":
        return frozenset(_members(inner, resolve_handle, guard))
    if tag == "$dict":
        pairs = [(from_json(k, resolve_handle, guard), from_json(v, resolve_handle, guard)) for k, v in inner]
        return dict(pairs)
    if tag == "$bytes":
        return inner.encode("latin-1")
    if tag == "$complex":
        real, imag = inner
        if type(real) not in (int, float) or type(imag) not in (int, float):
            raise ValueError("$complex takes two numbers")
        return complex(real, imag)
    if tag == "$int":
        if type(inner) is not str:
            raise ValueError("$int takes a hex string")
        return int(inner, 16)
    if tag == "$type":
        return _BUILTIN_TYPES[inner]
    if tag == "$module":
        return _module(inner)
    if resolve_handle is None:
        raise NotPlainData("a handle where plain data was required")
    if type(inner) is not int:
        raise ValueError("$handle takes an integer")
    return resolve_handle(inner)


def _members(inner: list, resolve_handle, guard) -> list[Any]:
    """Members are decoded (and guarded) before any set is built from them."""
    return [from_json(v, resolve_handle, guard) for v in inner]


def _module(name: Any) -> Any:
    if type(name) is not str:
        raise ValueError("$module takes a name")
    if name in TEST_MODULES:
        return sys.modules.get(name) or importlib.import_module(name)
    return Opaque(f"module {name[:100]!r} (not data)")


def _is_stdlib(module: Any) -> bool:
    return isinstance(module, str) and module.split(".")[0] in sys.stdlib_module_names


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def loads(raw: bytes) -> Any:
    return json.loads(raw)
