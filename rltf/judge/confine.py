"""Limits a freshly forked program process puts on itself before any program code runs.

These hold with or without bubblewrap: its own session (so the worker can kill the
whole group), CPU/memory/file-size/process limits, a clean environment (set once in the
worker, see ``clean_environment``), the scratch directory as working directory, when the
worker is root a uid of its own (so it can neither signal the worker nor read files the
user keeps private).
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
from typing import NamedTuple

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36


class Limits(NamedTuple):
    """A NamedTuple, not a dataclass: dataclasses would map ``_opcode`` into every zygote."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_output_bytes: int = 4 << 20
    max_file_mb: int = 64
    max_processes: int = 32
    max_program_bytes: int = 128 << 10


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


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                          ctypes.c_ulong(0)) == 0
    except OSError:
        return False


def become_subreaper() -> bool:
    """Orphans of a program re-parent to the zygote, which can then find and kill them."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def forbid_inspection() -> bool:
    """No process of the same uid may trace this one or open its memory (programs share the
    worker's uid when the judge does not run as root). Inherited by every fork."""
    return _prctl(_PR_SET_DUMPABLE, 0)


def confine_zygote(limits: Limits, scratch: str) -> None:
    """The limits a program zygote sets on itself once, for every program it forks to inherit:
    memory, file size and core dumps (the zygote needs nothing beyond them), and the working
    directory. Each setting done here is one less in every program's start-up."""
    _limit(resource.RLIMIT_AS, limits.memory_mb << 20)
    _limit(resource.RLIMIT_FSIZE, limits.max_file_mb << 20)
    _limit(resource.RLIMIT_CORE, 0)
    os.chdir(scratch)


def confine(limits: Limits, fds: dict[int, int], uid: int | None) -> None:
    """Called in the child right after fork; ``fds`` maps target fd -> current fd.

    The zygote already runs with ``clean_environment``, Python's usual signal set-up, the
    seccomp filter and ``confine_zygote``'s limits, which the child inherits: touching as
    little as possible here keeps the fork cheap (each page a new process writes to is
    copied). CPU time is counted per process and the process count per uid, so those two
    limits are set here, before the process takes its own uid.
    """
    os.setsid()
    _place_fds(fds)
    _limit(resource.RLIMIT_CPU, math.ceil(limits.timeout_s) + 1)
    _limit(resource.RLIMIT_NPROC, limits.max_processes)
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
    """Move each needed descriptor to its fixed number and close every other one."""
    base = max(*fds, *fds.values()) + 1
    high = {}
    for i, (target, current) in enumerate(fds.items()):
        high[target] = base + i
        os.dup2(current, base + i)
    for target, current in high.items():
        os.dup2(current, target, inheritable=True)
    os.closerange(max(fds) + 1, 65536)
