"""Limits a freshly forked program process puts on itself before any program code runs.

These hold with or without bubblewrap: its own session (so the worker can kill the
whole group), CPU/memory/file-size/process limits, a clean environment (set once in the
worker, see ``clean_environment``), the scratch directory as working directory, when the
worker is root a uid of its own (so it can neither signal the worker nor read files the
user keeps private), and last the seccomp filter (see ``seccomp``).
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
from dataclasses import dataclass

from .seccomp import Filter

_PR_SET_DUMPABLE = 4
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


def confine(limits: Limits, scratch: str, fds: dict[int, int], uid: int | None, seccomp: Filter | None,
            first_to_die: bool) -> None:
    """Called in the child right after fork; ``fds`` maps target fd -> current fd.

    The zygote already runs with ``clean_environment`` and Python's usual signal set-up,
    which the child inherits: touching as little as possible here keeps the fork cheap.
    ``first_to_die``: under a memory cgroup, the kernel's OOM killer picks the program,
    never its zygote.
    """
    os.setsid()
    _place_fds(fds)
    _limit(resource.RLIMIT_CPU, math.ceil(limits.timeout_s) + 1)
    _limit(resource.RLIMIT_AS, limits.memory_mb << 20)
    _limit(resource.RLIMIT_FSIZE, limits.max_file_mb << 20)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NPROC, limits.max_processes)
    os.chdir(scratch)
    if first_to_die:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    if seccomp is not None:
        seccomp.install()


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
