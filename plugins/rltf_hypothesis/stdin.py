"""Standard-input layouts inferred from a problem's seen inputs, and strategies for new ones.

Competitive-programming input is whitespace-separated tokens in lines, and its commonest
structure is a count followed by that many items or lines ("3\\n1 5 2"). A generated input
that breaks that structure tests the reader, not the solution, so counts are detected and
kept consistent. Three layouts are recognised, tried in this order:

* ``ItemsLayout``: two lines; a header token counts the tokens of the second line.
* ``LinesLayout``: a header line; a header token counts the lines after it, each of a fixed
  number of tokens or of as many as another header token says (a grid "n m").
* ``BlocksLayout``: a line with ``T``, then ``T`` blocks of equally many lines, each block
  in one of these layouts (several test cases per input).
* ``FixedLayout``: every input has the same number of lines and tokens per line.

A count that never varied across the seen inputs is kept at its seen value inside a fixed
layout instead: with nothing varying, we cannot tell a count from a coincidence.
Anything else (blocks of varying length, free text) gets no layout, and no tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence, Union

from hypothesis import strategies as st

from .strategies import (MAX_LEN, IntShape, OneOfShape, SeenShape, Shape, StrShape, infer, strategy, text, token_text,
                         token_value)

Lines = list[list[Any]]


@dataclass(frozen=True)
class FixedLayout:
    lines: tuple[tuple[Shape, ...], ...]


@dataclass(frozen=True)
class ItemsLayout:
    """``chars``: the count is the length of the second line's only token ("5\\nabcab")."""

    header: tuple[Shape, ...]
    count_at: int
    item: Shape
    chars: bool = False


@dataclass(frozen=True)
class LinesLayout:
    header: tuple[Shape, ...]
    count_at: int
    columns: tuple[Shape, ...]  # one shape per token of a row, or one for all when width_at is set
    width_at: int | None = None
    chars: bool = False  # each row is one token of width_at characters (a character grid)


@dataclass(frozen=True)
class BlocksLayout:
    count: IntShape
    block: "Layout"


Layout = Union[FixedLayout, ItemsLayout, LinesLayout, BlocksLayout]
MAX_BLOCKS = 10  # test cases in one generated input


def tokens(stdin: str) -> Lines:
    """The input as lines of token values, blank lines dropped (readers skip them too)."""
    return [[token_value(t) for t in line.split()] for line in stdin.splitlines() if line.strip()]


def infer_layout(stdins: Sequence[str]) -> Layout | None:
    cases = [tokens(s) for s in stdins]
    return _layout_of([c for c in cases if c]) if any(cases) else None


def _counted(cases: list[Lines]) -> tuple[Layout | None, tuple[int, ...]]:
    """A layout with a varying count, or the header positions of counts that never varied."""
    width = {len(c[0]) for c in cases}
    if len(width) != 1:
        return None, ()
    pinned = []
    for at in range(width.pop()):
        if not all(isinstance(c[0][at], int) for c in cases):
            continue
        varies = len({c[0][at] for c in cases}) > 1
        for chars in (False, True):
            if all(len(c) == 2 and _width(c[1], chars) == c[0][at] for c in cases):
                if not varies:
                    pinned.append(at)
                    break
                item = _chars_shape(c[1] for c in cases) if chars else _token_shape([t for c in cases for t in c[1]])
                return ItemsLayout(_header(cases, at), at, item, chars), ()
        if all(c[0][at] == len(c) - 1 for c in cases):
            if not varies:
                pinned.append(at)
                continue
            layout = _lines(cases, at)
            if layout is not None:
                return layout, ()
    return None, tuple(pinned)


def _width(line: list[Any], chars: bool) -> int:
    """Tokens on the line, or characters of its only token (a row of a character grid)."""
    if not chars:
        return len(line)
    return len(str(line[0])) if len(line) == 1 else -1


def _chars_shape(lines: Iterable[list[Any]]) -> Shape:
    return _token_shape([str(line[0]) for line in lines])


def _blocks(cases: list[Lines]) -> Layout | None:
    """``T`` then ``T`` test cases of one layout: the commonest Codeforces input.

    Blocks are equally long, or each is a header line and as many lines as one of the
    header's numbers says ("n m" and n rows).
    """
    if not all(len(c[0]) == 1 and isinstance(c[0][0], int) and c[0][0] >= 1 for c in cases):
        return None
    splits = (_equal_blocks(cases), _sized_blocks(cases))
    block = next((layout for blocks in splits if blocks for layout in [_layout_of(blocks)] if layout), None)
    if block is None:
        return None
    count = _count_shape([c[0][0] for c in cases])
    assert isinstance(count, IntShape)
    return BlocksLayout(IntShape(max(1, count.lo), max(1, min(count.hi, MAX_BLOCKS))), block)


def _equal_blocks(cases: list[Lines]) -> list[Lines] | None:
    sizes = {(len(c) - 1) // c[0][0] if (len(c) - 1) % c[0][0] == 0 else 0 for c in cases}
    if len(sizes) != 1 or (size := sizes.pop()) == 0:
        return None
    return [c[i:i + size] for c in cases for i in range(1, len(c), size)]


def _sized_blocks(cases: list[Lines]) -> list[Lines] | None:
    for at in range(max(len(c[1]) for c in cases if len(c) > 1) if any(len(c) > 1 for c in cases) else 0):
        blocks: list[Lines] = []
        for c in cases:
            found = _split_sized(c, at)
            if found is None:
                break
            blocks.extend(found)
        else:
            return blocks
    return None


def _split_sized(case: Lines, at: int) -> list[Lines] | None:
    blocks, i = [], 1
    for _ in range(case[0][0]):
        if i >= len(case) or len(case[i]) <= at or not isinstance(case[i][at], int) or case[i][at] < 0:
            return None
        blocks.append(case[i:i + 1 + case[i][at]])
        i += 1 + case[i][at]
    return blocks if i == len(case) else None


def _layout_of(cases: list[Lines]) -> Layout | None:
    counted, pinned = _counted(cases)
    return counted or _blocks(cases) or _fixed(cases, pinned)


def _header(cases: list[Lines], count_at: int) -> tuple[Shape, ...]:
    shapes = [_token_shape([c[0][i] for c in cases]) for i in range(len(cases[0][0]))]
    shapes[count_at] = _count_shape([c[0][count_at] for c in cases])
    return tuple(shapes)


def _count_shape(counts: list[int]) -> Shape:
    shape = infer(counts)
    assert isinstance(shape, IntShape)
    lo = max(0, min(shape.lo, MAX_LEN))
    return IntShape(lo, max(lo, min(shape.hi, MAX_LEN)))


def _lines(cases: list[Lines], count_at: int) -> Layout | None:
    rows = [row for c in cases for row in c[1:]]
    if not rows:
        return None
    header = _header(cases, count_at)
    if len({len(r) for r in rows}) == 1 and not isinstance(rows[0][0], str):
        return LinesLayout(header, count_at, tuple(_token_shape([r[i] for r in rows]) for i in range(len(rows[0]))))
    for chars in (False, True):
        for at in range(len(cases[0][0])):
            if all(isinstance(c[0][at], int) and all(_width(r, chars) == c[0][at] for r in c[1:]) for c in cases):
                shapes = list(header)
                shapes[at] = _count_shape([c[0][at] for c in cases])
                cell = _chars_shape(rows) if chars else _token_shape([t for r in rows for t in r])
                return LinesLayout(tuple(shapes), count_at, (cell,), at, chars)
    if len({len(r) for r in rows}) == 1:
        return LinesLayout(header, count_at, tuple(_token_shape([r[i] for r in rows]) for i in range(len(rows[0]))))
    return None


def _fixed(cases: list[Lines], pinned: tuple[int, ...]) -> Layout | None:
    if len({tuple(len(line) for line in c) for c in cases}) != 1:
        return None
    lines = []
    for n, line in enumerate(cases[0]):
        shapes = [_token_shape([c[n][i] for c in cases]) for i in range(len(line))]
        if n == 0:
            for at in pinned:
                shapes[at] = SeenShape((cases[0][0][at],))
        lines.append(tuple(shapes))
    return FixedLayout(tuple(lines))


def _token_shape(values: list[Any]) -> Shape:
    return _non_empty(infer(values))


def _non_empty(shape: Shape) -> Shape:
    """A string token may not be empty: it would vanish from the line."""
    if isinstance(shape, StrShape):
        return replace(shape, min_len=max(1, shape.min_len), max_len=max(1, shape.max_len))
    if isinstance(shape, OneOfShape):
        return OneOfShape(tuple(map(_non_empty, shape.options)))
    return shape


# ---- generation ------------------------------------------------------------------------

def layout_strategy(layout: Layout) -> st.SearchStrategy[str]:
    if isinstance(layout, FixedLayout):
        return st.tuples(*(_line(shapes) for shapes in layout.lines)).map(lambda lines: _text(list(lines)))
    if isinstance(layout, BlocksLayout):
        block = layout_strategy(layout.block)
        return strategy(layout.count).flatmap(
            lambda n: st.lists(block, min_size=n, max_size=n).map(lambda blocks: f"{n}\n" + "".join(blocks)))
    if isinstance(layout, ItemsLayout):
        return _line(layout.header).flatmap(
            lambda head: _row(layout.item, _int(head, layout.count_at), layout.chars).map(
                lambda row: _text([head, row])))
    return _line(layout.header).flatmap(lambda head: _rows(layout, head))


def _rows(layout: LinesLayout, head: str) -> st.SearchStrategy[str]:
    count = _int(head, layout.count_at)
    if layout.width_at is None:
        row = _line(layout.columns)
    else:
        row = _row(layout.columns[0], _int(head, layout.width_at), layout.chars)
    return st.lists(row, min_size=count, max_size=count).map(lambda rows: _text([head, *rows]))


def _row(shape: Shape, width: int, chars: bool) -> st.SearchStrategy[str]:
    """``width`` tokens of ``shape``, or one token of ``width`` characters from its alphabet."""
    if chars and isinstance(shape, StrShape):
        return text(shape, width, width)
    return st.lists(_token(shape), min_size=width, max_size=width).map(" ".join)


def _line(shapes: Sequence[Shape]) -> st.SearchStrategy[str]:
    return st.tuples(*map(_token, shapes)).map(" ".join)


def _token(shape: Shape) -> st.SearchStrategy[str]:
    return strategy(shape).map(lambda value: token_text(value, shape))


def _int(line: str, at: int) -> int:
    return int(line.split()[at])


def _text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
