"""Hypothesis strategies inferred from the values a problem's own tests pass in.

The existing tests are the only statement of a problem's input domain we have, so every
rule here stays close to them: numbers keep their sign and roughly their range, strings
keep their characters, containers keep their element types and roughly their sizes. Going
further afield finds more inputs the reference handles, but also more inputs outside what
the problem promises, where a correct program may legitimately disagree with the reference.

Inference is two steps: ``infer`` turns seen values into a ``Shape`` (plain data, easy to
test and print), and ``strategy`` turns a shape into a Hypothesis strategy.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

from hypothesis import strategies as st

MAX_LEN = 30            # longest generated string or collection (the judge runs each input)
MAX_CELLS = 400         # most scalars in one generated nested collection
CLASS_EXTENSION = 3     # seen members of a character class before the whole class is used
_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


@dataclass(frozen=True)
class IntShape:
    """``digits="01"``: numbers written in binary digits, as bit-string problems take them."""

    lo: int
    hi: int
    digits: str = ""


@dataclass(frozen=True)
class FloatShape:
    lo: float
    hi: float
    places: int | None  # decimal places the seen values were written with; None: any


@dataclass(frozen=True)
class BoolShape:
    """Booleans carry no range or length to remember."""


@dataclass(frozen=True)
class StrShape:
    """``seen``: the characters the tests used, a subset of ``alphabet`` (drawn from as often)."""

    alphabet: str
    min_len: int
    max_len: int
    seen: str = ""


@dataclass(frozen=True)
class SeqShape:
    """A variable-size list, tuple, set or frozenset; ``grid`` keeps nested rows equally long."""

    item: "Shape"
    min_len: int
    max_len: int
    kind: type = list
    grid: str = ""  # "" (rows vary), "rect" (rows of one length) or "square"
    order: str = ""  # "asc" or "desc": every seen value was sorted (binary search wants it)


@dataclass(frozen=True)
class RecordShape:
    """A fixed-length list or tuple whose positions hold different kinds of value."""

    items: tuple["Shape", ...]
    kind: type = tuple


@dataclass(frozen=True)
class DictShape:
    key: "Shape"
    value: "Shape"
    min_len: int
    max_len: int


@dataclass(frozen=True)
class KeyedShape:
    """Dicts that always had the same string keys: records, not maps."""

    fields: tuple[tuple[str, "Shape"], ...]


@dataclass(frozen=True)
class OneOfShape:
    options: tuple["Shape", ...]


@dataclass(frozen=True)
class SeenShape:
    """Values we cannot generalise (None, objects): reuse the seen ones."""

    values: tuple[Any, ...]


Shape = Union[IntShape, FloatShape, BoolShape, StrShape, SeqShape, RecordShape, DictShape, KeyedShape,
              OneOfShape, SeenShape]


# ---- inference -------------------------------------------------------------------------

def kind_of(value: Any) -> str:
    """The grouping used for inference: bool is not an int here, and int and float mix."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    for name, types in (("str", str), ("list", list), ("tuple", tuple), ("set", (set, frozenset)), ("dict", dict)):
        if isinstance(value, types):
            return name
    return "other"


def infer(values: Sequence[Any]) -> Shape:
    """The shape of ``values``: one shape per kind of value seen, a choice between them."""
    groups: dict[str, list[Any]] = {}
    for value in values:
        groups.setdefault(kind_of(value), []).append(value)
    shapes = tuple(_INFER[kind](group) for kind, group in groups.items())
    return shapes[0] if len(shapes) == 1 else OneOfShape(shapes)


def widen_ints(lo: int, hi: int) -> tuple[int, int]:
    """Down to the smallest number of the seen sign, up by a quarter of the span or magnitude.

    A problem whose tests use only positive numbers rarely promises anything for zero or
    negatives, so the floor is 1 (or 0) when the seen values are; but the small numbers of
    that sign are the classic edge cases (n = 1), so the floor goes all the way down.
    """
    width = max(2, (hi - lo) // 4, abs(hi) // 4, abs(lo) // 4)
    new_lo, new_hi = lo - width, hi + width
    if lo >= 0:
        new_lo = min(lo, 1)
    if hi <= 0:
        new_hi = max(hi, -1)
    return new_lo, new_hi


def _infer_numbers(values: list[Any]) -> Shape:
    if all(isinstance(v, int) for v in values):
        lo, hi = widen_ints(min(values), max(values))
        if min(values) >= 0 and max(values) >= 10 and set("".join(map(str, values))) <= set("01"):
            return IntShape(0, hi, "01")
        return IntShape(lo, hi)
    if not all(math.isfinite(v) for v in values):
        return SeenShape(tuple(values))
    lo, hi = float(min(values)), float(max(values))
    width = max(1.0, (hi - lo) / 4, abs(hi) / 4, abs(lo) / 4)
    new_lo = max(lo - width, 0.0) if lo >= 0 else lo - width
    new_hi = min(hi + width, 0.0) if hi <= 0 else hi + width
    return FloatShape(new_lo, new_hi, _places([v for v in values if isinstance(v, float)]))


def _places(values: Sequence[float]) -> int | None:
    """Seen floats written with few decimals (``2.5``) make generated ones look the same."""
    places = 0
    for value in values:
        written = repr(value)
        if "e" in written or "E" in written:
            return None
        places = max(places, len(written.partition(".")[2]))
    return places if places <= 6 else None


def _infer_strings(values: list[str]) -> Shape:
    seen = set("".join(values))
    if not seen:
        return SeenShape(tuple(values))
    alphabet = set(seen)
    for members in _CLASSES:
        if len(seen & set(members)) >= CLASS_EXTENSION:
            alphabet |= set(members)
    lo, hi = _widen_lengths([len(v) for v in values])
    return StrShape("".join(sorted(alphabet)), lo, hi, "".join(sorted(seen)))


def _widen_lengths(lengths: Sequence[int]) -> tuple[int, int]:
    """Down to one item (to none when the tests had one), up by a quarter.

    Single items and empty collections are where off-by-one programs break; a problem
    whose tests never had fewer than two items rarely promises anything for none.
    """
    lo, hi = min(lengths), max(lengths)
    return min(0 if lo <= 1 else 1, MAX_LEN), min(max(hi + max(1, hi // 4), lo), MAX_LEN)


def _infer_sequences(values: list[Any]) -> Shape:
    lengths = {len(v) for v in values}
    items = [item for value in values for item in value]
    kind = type(values[0]) if len({type(v) for v in values}) == 1 else list
    if not items:
        return SeenShape(tuple(values))
    if len(lengths) == 1 and kind in (list, tuple) and _mixed_positions(values):
        return RecordShape(tuple(infer([v[i] for v in values]) for i in range(len(values[0]))), kind)
    if len(lengths) == 1 and kind is tuple:
        return SeqShape(infer(items), len(values[0]), len(values[0]), kind)
    lo, hi = _widen_lengths(list(lengths))
    return SeqShape(infer(items), lo, hi, kind, _grid(values), _order(values))


def _order(values: list[Any]) -> str:
    """Sorted in every test, with at least three items somewhere: the problem wants it sorted."""
    if not all(isinstance(v, (list, tuple)) for v in values) or max(map(len, values)) < 3:
        return ""
    if {kind_of(x) for v in values for x in v} not in ({"number"}, {"str"}):
        return ""
    for order, pairs_ok in (("asc", lambda a, b: a <= b), ("desc", lambda a, b: a >= b)):
        if all(pairs_ok(a, b) for v in values for a, b in zip(v, v[1:])):
            return order
    return ""


def _mixed_positions(values: list[Sequence[Any]]) -> bool:
    """Same-length sequences with different kinds by position are records ("A", 1)."""
    by_position = [{kind_of(v[i]) for v in values} for i in range(len(values[0]))]
    return len(set().union(*by_position)) > 1 and all(len(kinds) == 1 for kinds in by_position)


def _grid(values: list[Any]) -> str:
    """Matrices in the tests (all rows of a value equally long) stay matrices."""
    if not all(isinstance(v, (list, tuple)) and v and all(isinstance(r, (list, tuple)) for r in v) for v in values):
        return ""
    if not all(len({len(row) for row in v}) == 1 for v in values):
        return ""
    return "square" if all(len(v) == len(v[0]) for v in values) else "rect"


def _infer_dicts(values: list[dict]) -> Shape:
    keysets = {tuple(v) for v in values}
    if len(keysets) == 1 and all(isinstance(k, str) for k in next(iter(keysets))) and keysets != {()}:
        keys = next(iter(keysets))
        return KeyedShape(tuple((k, infer([v[k] for v in values])) for k in keys))
    keys = [k for v in values for k in v]
    if not keys:
        return SeenShape(tuple(values))
    lo, hi = _widen_lengths([len(v) for v in values])
    return DictShape(infer(keys), infer([x for v in values for x in v.values()]), lo, hi)


_INFER: dict[str, Callable[[list[Any]], Shape]] = {
    "bool": lambda values: BoolShape(),
    "number": _infer_numbers,
    "str": _infer_strings,
    "list": _infer_sequences,
    "tuple": _infer_sequences,
    "set": _infer_sequences,
    "dict": _infer_dicts,
    "other": lambda values: SeenShape(tuple(values)),
}


# ---- strategies ------------------------------------------------------------------------

def strategy(shape: Shape) -> st.SearchStrategy[Any]:
    """The Hypothesis strategy that draws values of ``shape``."""
    if isinstance(shape, IntShape) and shape.digits:
        return st.text(shape.digits, min_size=1, max_size=len(str(shape.hi))).map(int)
    if isinstance(shape, IntShape):
        return st.integers(shape.lo, shape.hi)
    if isinstance(shape, FloatShape):
        floats = st.floats(shape.lo, shape.hi, allow_nan=False, allow_infinity=False)
        return floats if shape.places is None else floats.map(lambda x, p=shape.places: round(x, p))
    if isinstance(shape, BoolShape):
        return st.booleans()
    if isinstance(shape, StrShape):
        return text(shape, shape.min_len, shape.max_len)
    if isinstance(shape, SeqShape):
        return _sequences(shape)
    if isinstance(shape, RecordShape):
        return st.tuples(*map(strategy, shape.items)).map(shape.kind)
    if isinstance(shape, DictShape):
        return st.dictionaries(strategy(shape.key), strategy(shape.value), min_size=shape.min_len,
                               max_size=shape.max_len)
    if isinstance(shape, KeyedShape):
        return st.fixed_dictionaries({k: strategy(s) for k, s in shape.fields})
    if isinstance(shape, OneOfShape):
        return st.one_of(*map(strategy, shape.options))
    return st.sampled_from(shape.values)


def text(shape: StrShape, min_len: int, max_len: int) -> st.SearchStrategy[str]:
    """Half the strings from the seen characters only: few characters, many repeats."""
    texts = [st.text(st.sampled_from(chars), min_size=min_len, max_size=max_len)
             for chars in dict.fromkeys((shape.seen, shape.alphabet)) if chars]
    return st.one_of(*texts)


def _sequences(shape: SeqShape) -> st.SearchStrategy[Any]:
    """Half the collections repeat a few values: duplicates are where counting, pattern and
    first-occurrence programs differ, and independent draws rarely repeat."""
    hi = min(shape.max_len, max(shape.min_len, MAX_CELLS // max(1, _cells(shape.item))))
    if shape.grid and isinstance(shape.item, SeqShape):
        return _grids(shape, hi)
    items = strategy(shape.item)
    pooled = st.lists(items, min_size=1, max_size=3).flatmap(
        lambda pool: st.lists(st.sampled_from(pool), min_size=shape.min_len, max_size=hi))
    lists = st.one_of(st.lists(items, min_size=shape.min_len, max_size=hi), pooled)
    if shape.order:
        lists = lists.map(lambda xs: sorted(xs, reverse=shape.order == "desc"))
    return lists if shape.kind is list else lists.map(shape.kind)


def _grids(shape: SeqShape, hi: int) -> st.SearchStrategy[Any]:
    row = shape.item
    assert isinstance(row, SeqShape)
    cell, kind = strategy(row.item), row.kind

    def rows_of(width: int, height: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
        return height.flatmap(lambda n: st.lists(st.lists(cell, min_size=width, max_size=width).map(kind),
                                                 min_size=n, max_size=n)).map(shape.kind)

    size = st.integers(max(1, shape.min_len), max(1, hi))
    if shape.grid == "square":
        return size.flatmap(lambda n: rows_of(n, st.just(n)))
    return st.integers(max(0, row.min_len), max(0, min(row.max_len, MAX_CELLS // max(1, hi)))).flatmap(
        lambda width: rows_of(width, size))


def _cells(shape: Shape) -> int:
    """Scalars per value at most, so nested collections stay within ``MAX_CELLS``."""
    if isinstance(shape, SeqShape):
        return max(1, shape.max_len) * _cells(shape.item)
    if isinstance(shape, RecordShape):
        return sum(map(_cells, shape.items))
    if isinstance(shape, DictShape):
        return max(1, shape.max_len) * (_cells(shape.key) + _cells(shape.value))
    if isinstance(shape, KeyedShape):
        return sum(_cells(s) for _, s in shape.fields)
    if isinstance(shape, OneOfShape):
        return max(map(_cells, shape.options))
    return 1


# ---- argument lists --------------------------------------------------------------------

@dataclass(frozen=True)
class LengthLink:
    """Argument ``target`` was always ``len(args[source]) + offset`` (``arr, n`` pairs)."""

    target: int
    source: int
    offset: int


@dataclass(frozen=True)
class MemberLink:
    """Argument ``target`` was an item of ``args[source]`` in some test (search for ``x`` in
    ``xs``): half the time it is one again, or the search almost never finds anything."""

    target: int
    source: int


@dataclass(frozen=True)
class ArgsShape:
    args: tuple[Shape, ...]
    links: tuple[LengthLink, ...] = ()
    members: tuple[MemberLink, ...] = ()


def infer_args(arg_lists: Sequence[Sequence[Any]]) -> ArgsShape | None:
    """Per-position shapes for the most common arity, plus the length links between them."""
    if not arg_lists:
        return None
    arity = Counter(len(a) for a in arg_lists).most_common(1)[0][0]
    same = [tuple(a) for a in arg_lists if len(a) == arity]
    shapes = tuple(infer([a[i] for a in same]) for i in range(arity))
    links = _length_links(same)
    linked = {link.target for link in links}
    return ArgsShape(shapes, tuple(links), tuple(m for m in _member_links(same) if m.target not in linked))


def _length_links(arg_lists: list[tuple[Any, ...]]) -> list[LengthLink]:
    links, targets = [], set()
    for target in range(len(arg_lists[0])):
        if not all(kind_of(a[target]) == "number" and isinstance(a[target], int) for a in arg_lists):
            continue
        for source in range(len(arg_lists[0])):
            if target in targets or not all(isinstance(a[source], (str, list, tuple)) for a in arg_lists):
                continue
            offsets = {a[target] - len(a[source]) for a in arg_lists}
            if len(offsets) == 1 and abs(next(iter(offsets))) <= 1:
                links.append(LengthLink(target, source, offsets.pop()))
                targets.add(target)
    return links


def _member_links(arg_lists: list[tuple[Any, ...]]) -> list[MemberLink]:
    links, targets = [], set()
    for target in range(len(arg_lists[0])):
        for source in range(len(arg_lists[0])):
            if target in targets or not all(isinstance(a[source], (list, tuple)) for a in arg_lists):
                continue
            if any(_is_item(a[target], a[source]) for a in arg_lists):
                links.append(MemberLink(target, source))
                targets.add(target)
    return links


def _is_item(value: Any, items: Sequence[Any]) -> bool:
    return not isinstance(value, (list, tuple, set, dict)) and any(
        type(value) is type(item) and value == item for item in items)


def args_strategy(shape: ArgsShape) -> st.SearchStrategy[tuple[Any, ...]]:
    """Independent arguments, sometimes two of a kind made equal or one an item of another,
    then the length links.

    Independent draws almost never tie, and ties are where ``<`` and ``<=`` differ
    (``maximum(a, b)`` with ``a == b``, an isosceles triangle).
    """
    pairs = [(i, j) for i, a in enumerate(shape.args) for j, b in enumerate(shape.args)
             if i < j and type(a) is type(b) and isinstance(a, (IntShape, FloatShape, StrShape))]
    tie = st.one_of(st.none(), st.sampled_from(pairs)) if pairs else st.none()
    picks = st.tuples(*(st.one_of(st.none(), st.integers(0, MAX_LEN)) for _ in shape.members))

    def shaped(drawn: tuple[tuple[Any, ...], tuple[int, int] | None, tuple[int | None, ...]]) -> tuple[Any, ...]:
        args, pair, picked = list(drawn[0]), drawn[1], drawn[2]
        if pair is not None:
            args[pair[1]] = args[pair[0]]
        for member, pick in zip(shape.members, picked):
            if pick is not None and args[member.source]:
                args[member.target] = list(args[member.source])[pick % len(args[member.source])]
        for link in shape.links:
            args[link.target] = len(args[link.source]) + link.offset
        return tuple(args)

    return st.tuples(st.tuples(*map(strategy, shape.args)), tie, picks).map(shaped)


# ---- standard-input tokens -------------------------------------------------------------

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


def token_value(token: str) -> int | float | str:
    """A stdin token as the number it spells, when it spells one; "0011" stays a string."""
    if len(token) > 1 and token.lstrip("+-")[:1] == "0" and token.lstrip("+-")[1:2].isdigit():
        return token
    if _INT.fullmatch(token):
        return int(token)
    if _FLOAT.fullmatch(token):
        return float(token)
    return token


def token_text(value: Any, shape: Shape) -> str:
    """Floats come out with the decimals the seen input used, as a solution would read them."""
    if isinstance(value, float) and isinstance(shape, FloatShape) and shape.places is not None:
        return f"{value:.{shape.places}f}"
    return str(value)
