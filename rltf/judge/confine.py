"""Limits a freshly forked program process puts on itself before any program code runs.

These hold with or without bubblewrap: its own session (so the worker can kill the
whole group), CPU/memory/file-size/process limits, a clean environment (set once in the
worker, see ``clean_environment``), a private
scratch directory as the working directory, and, when the worker is root, a uid of
its own so it can neither signal the worker nor read files the user keeps private.
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
from dataclasses import dataclass

_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_output_bytes: int = 4 << 20
    max_file_mb: int = 64
    max_processes: int = 32


def clean_environment(home: str) -> dict[str, str]:
    """Nothing of the parent's environment (tokens, keys) crosses into the program."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def become_subreaper() -> bool:
    """Orphans of a program re-parent to the worker, which can then find and kill them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def confine(limits: Limits, scratch: str, fds: dict[int, int], uid: int | None) -> None:
    """Called in the child right after fork; ``fds`` maps target fd -> current fd.

    The worker already runs with ``clean_environment`` and Python's usual signal set-up,
    which the child inherits: touching as little as possible here keeps the fork cheap.
    """
    os.setsid()
    _place_fds(fds)
    cpu = math.ceil(limits.timeout_s) + 1
    memory = limits.memory_mb << 20
    _limit(resource.RLIMIT_CPU, cpu)
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_FSIZE, limits.max_file_mb << 20)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NPROC, limits.max_processes)
    os.chdir(scratch)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def _limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _place_fds(fds: dict[int, int]) -> None:
    """Move each needed pipe to its fixed number and close every other descriptor."""
    import fcntl

    high = {target: fcntl.fcntl(current, fcntl.F_DUPFD, 100) for target, current in fds.items()}
    for target, current in high.items():
        os.dup2(current, target, inheritable=True)
    os.closerange(max(fds) + 1, 65536)
