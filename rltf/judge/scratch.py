"""Emptying a directory a program has had its way with, in a way that cannot fail.

Programs may leave trees thousands of levels deep, paths longer than ``PATH_MAX``,
directories without permissions, FIFOs, sockets and symbolic-link loops. The walk below
keeps one directory descriptor open at a time, works only with names relative to it,
never follows a link, gives each directory back its owner's permissions before entering
it, and keeps its own stack (no recursion). It runs only after every process of the
program is dead, so nothing changes under it.
"""

from __future__ import annotations

import os
import stat
import time

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TooSlow(Exception):
    """Emptying went past its deadline (a program left millions of entries)."""


def empty(path: str, deadline: float | None = None) -> None:
    """Remove everything inside ``path`` (which stays); ``TooSlow`` past ``deadline`` (monotonic)."""
    top = os.open(path, _DIR_FLAGS)
    try:
        _empty(top, deadline)
    finally:
        os.close(top)


def is_empty(path: str) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def _empty(top: int, deadline: float | None) -> None:
    fd = os.dup(top)
    try:
        os.fchmod(fd, 0o700)
        stack: list[tuple[str, list[str]]] = [("", _subdirectories_after_unlinking_the_rest(fd, deadline))]
        while stack:
            name, pending = stack[-1]
            if pending:
                child = pending.pop()
                child_fd = _open_dir(child, fd)
                os.close(fd)
                fd = child_fd
                stack.append((child, _subdirectories_after_unlinking_the_rest(fd, deadline)))
                continue
            stack.pop()
            if not stack:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)


def _open_dir(name: str, parent: int) -> int:
    """Open a directory the program may have made unreadable to its owner."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=parent)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    os.fchmod(fd, 0o700)
    return fd


def _subdirectories_after_unlinking_the_rest(fd: int, deadline: float | None) -> list[str]:
    if deadline is not None and time.monotonic() > deadline:
        raise TooSlow()
    directories = []
    for count, name in enumerate(os.listdir(fd)):
        if deadline is not None and count % 1024 == 1023 and time.monotonic() > deadline:
            raise TooSlow()
        mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            directories.append(name)
        else:
            os.unlink(name, dir_fd=fd)
    return directories
