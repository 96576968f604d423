"""The one way rltf reads a user's text file.

Users' files come from editors, spreadsheets and Windows tools, not only from Python: a
UTF-8 byte-order mark at the start is common and harmless, so it is accepted; a byte that
is not UTF-8 is the user's to fix, and like every other input error it is reported by
file and row, never as a ``UnicodeDecodeError`` traceback.

Only a regular file is read: a pipe would block forever waiting for a writer.

Lines end at ``\\n`` (``\\r\\n`` too) as JSON Lines says, and only there: ``str.splitlines``
would also cut at characters such as U+2028 that JSON allows raw inside a string, breaking
a valid row in two.
"""

from __future__ import annotations

import gzip
import json
import stat
import sys
import zlib
from pathlib import Path
from typing import Any, Callable

from rltf.errors import DataError

BOM = b"\xef\xbb\xbf"


def read_text(path: Path, row: int | str | None = None) -> str:
    """The file's text, gunzipped when its name ends in ``.gz``.

    ``row`` locates errors about the whole file (the task a file belongs to); a byte that is
    not UTF-8 is located by its own line instead, which is where the user must look.
    """
    data = _read_bytes(path, row)
    if path.name.endswith(".gz"):
        data = _gunzip(path, data, row)
    data = data.removeprefix(BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(path, data, error.start) from None


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines with their 1-based numbers: the rows of a JSON-lines file."""
    lines = enumerate(text.split("\n"), start=1)
    return [(number, line.removesuffix("\r")) for number, line in lines if line.strip()]


def _read_bytes(path: Path, row: int | str | None) -> bytes:
    """Only a regular file is read: opening a pipe would wait forever for a writer, a device
    might never end."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise DataError(str(path), "is a folder, not a file", row=row)
        if not stat.S_ISREG(mode):
            raise DataError(str(path), "is not a regular file (a pipe, device or socket); give a file", row=row)
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(str(path), "no such file", row=row) from None
    except OSError as error:
        raise DataError(str(path), f"cannot read ({error.strerror or error})", row=row) from None


def _gunzip(path: Path, data: bytes, row: int | str | None) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(str(path), f"not a readable gzip file ({error})", row=row) from None


def _not_utf8(path: Path, data: bytes, start: int) -> DataError:
    """The error for the first bad byte, at the line and column an editor shows for it."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8")) + 1
    return DataError(str(path), f"not UTF-8 text (byte 0x{data[start]:02X} at column {column}); save the file as UTF-8",
                     row=line)


def load_json(text: str, path: Path | str, row: int | str | None = None, parse_int: Callable[[str], Any] = int) -> Any:
    """``json.loads`` where every failure is the user's to fix, so a ``DataError`` at the row.

    Besides bad syntax, valid JSON can still fail: an integer past Python's digit limit
    (``ValueError``), one that ``parse_int`` finds too large (``OverflowError``), or nesting
    deeper than the interpreter's stack (``RecursionError``).
    """
    try:
        return json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as error:
        where = f"column {error.colno}" if row is not None else f"line {error.lineno} column {error.colno}"
        raise DataError(str(path), f"not valid JSON ({error.msg} at {where})", row=row) from None
    except ValueError:
        raise DataError(str(path), f"holds an integer of more than {sys.get_int_max_str_digits()} digits",
                        row=row) from None
    except OverflowError:
        raise DataError(str(path), "holds a number too large for a float", row=row) from None
    except RecursionError:
        raise DataError(str(path), "nested too deeply to read", row=row) from None
