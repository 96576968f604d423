"""Errors that reach the user as one clear line instead of a traceback."""

from __future__ import annotations


class RltfError(Exception):
    """An error the CLI prints as ``error: <message>`` and exits with status 2."""


class DataError(RltfError):
    """Bad input data, located by file, row and field so the user can fix it."""

    def __init__(self, path: str, message: str, row: int | str | None = None, field: str | None = None):
        self.path, self.row, self.field, self.reason = str(path), row, field, message
        where = self.path
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


class Interrupted(Exception):
    """The user stopped a command (Ctrl-C); the message says what was done and what was not.

    The CLI prints it as ``interrupted: <message>`` and exits with status 130, as a shell does.
    """
