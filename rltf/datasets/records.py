"""What every loader shares: raw records that know where they came from, and the
raise-or-skip policy for bad ones.

A benchmark file with one broken row should neither crash a run with a traceback nor
lose the row silently, so every row error is a ``DataError`` naming file, row and field,
and a skipping load reports what it skipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, TypeVar

from rltf.errors import DataError, RltfError
from rltf.inputs import numbered_lines, read_text
from rltf.problems import Problem

OnError = Literal["raise", "skip"]
ON_ERROR_CHOICES: tuple[OnError, ...] = ("raise", "skip")

T = TypeVar("T")
log = logging.getLogger(__name__)

# Python refuses to turn longer digit strings into ints (sys.get_int_max_str_digits);
# APPS has integers with thousands of digits in its test data.
_INT_DIGITS_SAFE = 4000


@dataclass(frozen=True)
class LoadReport:
    """The problems a load produced, and the bad rows it skipped (empty unless skipping)."""

    problems: list[Problem]
    skipped: list[DataError] = field(default_factory=list)


@dataclass(frozen=True)
class Record:
    """One raw row plus its location, so any problem with it becomes a precise error.

    ``row`` is a 1-based line number (or position in a JSON list) or a task id;
    ``field_prefix`` names the enclosing field for records nested inside a field.
    """

    path: str
    row: int | str | None
    data: Mapping[str, Any]
    field_prefix: str = ""

    def error(self, message: str, field_name: str) -> DataError:
        return DataError(self.path, message, row=self.row, field=self.field_prefix + field_name)

    def required(self, name: str, kind: type[T]) -> T:
        if name not in self.data:
            raise self.error("missing required field", name)
        return self._checked(name, kind)

    def optional(self, name: str, kind: type[T], default: T) -> T:
        if self.data.get(name) is None:
            return default
        return self._checked(name, kind)

    def strings(self, name: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A list-of-strings field; required unless a default is given."""
        if default is not None and self.data.get(name) is None:
            return default
        values = self.required(name, list)
        if not all(isinstance(value, str) for value in values):
            raise self.error("expected a list of strings", name)
        return tuple(values)

    def nested(self, name: str, data: Mapping[str, Any]) -> Record:
        """A record for the object decoded from field ``name``, located at this row."""
        return Record(self.path, self.row, data, f"{self.field_prefix}{name}.")

    def _checked(self, name: str, kind: type[T]) -> T:
        value = self.data[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(f"expected {kind.__name__}, got {type(value).__name__}", name)
        return value


def decode_json(text: str) -> Any:
    """``json.loads`` that keeps integers of any length exact instead of failing on them."""
    return json.loads(text, parse_int=_exact_int)


def _exact_int(digits: str) -> int:
    return int(digits) if len(digits) <= _INT_DIGITS_SAFE else int(Decimal(digits))


def json_error_message(err: ValueError) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"invalid JSON ({err.msg} at line {err.lineno} column {err.colno})"
    return f"invalid JSON ({err})"


def read_json_file(path: Path, row: int | str | None = None) -> Any:
    return parse_json(path, read_text(path, row), row)


def parse_json(path: Path, text: str, row: int | str | None = None) -> Any:
    try:
        return decode_json(text)
    except ValueError as err:
        raise DataError(str(path), json_error_message(err), row=row) from None


def read_jsonl(path: Path) -> Iterator[Record | DataError]:
    return jsonl_records(path, read_text(path))


def jsonl_records(path: Path, text: str) -> Iterator[Record | DataError]:
    """One record per non-blank line; a line that is not a JSON object becomes its error."""
    for number, line in numbered_lines(text):
        yield _parse_line(str(path), number, line)


def _parse_line(path: str, number: int, line: str) -> Record | DataError:
    try:
        data = decode_json(line)
    except ValueError as err:
        return DataError(path, json_error_message(err), row=number)
    if not isinstance(data, dict):
        return DataError(path, f"expected a JSON object, got {type(data).__name__}", row=number)
    return Record(path, number, data)


def json_list_records(path: Path, text: str) -> Iterator[Record | DataError]:
    """Records of a file holding one JSON list of objects; ``row`` is the 1-based position."""
    rows = parse_json(path, text)
    if not isinstance(rows, list):
        raise DataError(str(path), f"expected a JSON list of objects, got {type(rows).__name__}")
    for number, data in enumerate(rows, start=1):
        if isinstance(data, dict):
            yield Record(str(path), number, data)
        else:
            yield DataError(str(path), f"expected a JSON object, got {type(data).__name__}", row=number)


def collect(items: Iterable[T | DataError], build: Callable[[T], Problem], on_error: OnError) -> LoadReport:
    """Build a problem from each item, raising on the first bad one or skipping it loudly."""
    problems: list[Problem] = []
    skipped: list[DataError] = []
    for item in items:
        try:
            if isinstance(item, DataError):
                raise item
            problems.append(build(item))
        except DataError as err:
            if on_error == "raise":
                raise
            log.warning("skipping bad row: %s", err)
            skipped.append(err)
    if skipped:
        log.warning("skipped %d bad row(s); loaded %d problem(s)", len(skipped), len(problems))
    return LoadReport(problems, skipped)


def hub_error(what: str, err: Exception, local_copy: str) -> RltfError:
    """The one-line error for a hub that cannot be reached, pointing at a local copy."""
    reason = (str(err).strip().splitlines() or [""])[0]
    return RltfError(
        f"could not load {what} from the Hugging Face hub ({type(err).__name__}: {reason}); "
        f"pass --data-path to a local copy (offline copies live under ../shared/data: {local_copy})"
    )


def check_split(split: str | None, known: Iterable[str], dataset: str) -> None:
    known = tuple(known)
    if split is not None and split not in known:
        raise RltfError(f"{dataset} has no split {split!r}; known splits: {', '.join(known)}")
