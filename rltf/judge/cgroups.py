"""One memory cap for everything a program allocates, and one process count, per worker.

A program's heap is capped by ``RLIMIT_AS``, but files in a tmpfs and shared memory are not
address space. Where the machine lets rltf create cgroups (cgroup v2 with the memory
controller delegated to the judge's own cgroup, or a writable cgroup v1 memory hierarchy,
as for root in most containers), each worker gets a group ``worker-N`` with two leaves:

* ``programs``, whose memory limit is the program's ``memory_mb`` and counts all of it,
  heap and files together; each program process joins it before it runs;
* ``zygote``, for the zygote that forks the programs; ``worker-N``'s own limit is
  ``memory_mb`` plus ``ZYGOTE_HEADROOM_MB``, so that files a program left behind (which
  stay charged until the worker removes them) never make the kernel's OOM killer pick
  the zygote.

``pids.max`` on the worker bounds the processes of that worker alone, and a CPU group per
worker (the default weight, no quota) makes the scheduler share the machine between workers,
not between processes: a program that starts 30 busy processes, each in a session of its own,
then takes one worker's share, not 30. A quota would also cap a worker at a core, but its
throttling stalls every program of the worker for the rest of a 100 ms period.
Where no cgroup can be made the judge falls back to the rlimits and size-limited tmpfs
mounts, and says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("rltf.judge")

_LIMIT_FILE = {1: "memory.limit_in_bytes", 2: "memory.max"}
_NO_SWAP_FILE = {1: "memory.memsw.limit_in_bytes", 2: "memory.swap.max"}
_EVENTS_FILE = {1: "memory.oom_control", 2: "memory.events"}
ZYGOTE_HEADROOM_MB = 64
ZYGOTE, PROGRAMS = "zygote", "programs"


@dataclass(frozen=True)
class Hierarchy:
    """Where the judge may create groups for one controller: its own cgroup's directory."""

    version: int
    directory: Path


@dataclass(frozen=True)
class WorkerCgroup:
    """A worker's groups: host paths, created and limited by the host. ``memory`` holds the
    ``zygote`` and ``programs`` leaves; ``pids`` is where the zygote counts its tasks; ``cpu``
    holds the zygote and so every program."""

    version: int
    memory: Path
    pids: Path | None
    cpu: Path | None


def read_oom_kills(version: int, memory_dir: str | Path) -> int:
    """How many processes the kernel killed for memory in that group so far."""
    try:
        text = (Path(memory_dir) / _EVENTS_FILE[version]).read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


class JudgeCgroups:
    """The groups of one judge, under the judge process's own cgroup, removed on ``close``."""

    def __init__(self, name: str, memory_mb: int, max_processes: int):
        self.memory_bytes = memory_mb << 20
        self.max_pids = max_processes + 2  # the zygote and its spare count too
        self.name = name
        self._memory, self._pids, self._cpu = _usable_hierarchies()
        self._made: list[Path] = []
        self._lock = threading.Lock()
        for hierarchy in filter(None, (self._memory, self._pids, self._cpu)):
            _remove_stale(hierarchy.directory)

    @property
    def version(self) -> int | None:
        return self._memory.version if self._memory else None

    def for_worker(self, index: int) -> WorkerCgroup | None:
        """Called from each worker's thread; a replaced worker gets its slot's groups again."""
        if self._memory is None:
            return None
        with self._lock:
            return self._worker(index)

    def _worker(self, index: int) -> WorkerCgroup:
        version = self._memory.version
        memory = self._make(self._memory.directory / self.name, f"worker-{index}")
        self._limit_memory(memory, self.memory_bytes + (ZYGOTE_HEADROOM_MB << 20))
        self._make(memory, ZYGOTE)
        self._limit_memory(self._make(memory, PROGRAMS), self.memory_bytes)
        pids = self._make(self._pids.directory / self.name, f"worker-{index}") if self._pids else None
        if pids is not None:
            _write(pids / "pids.max", str(self.max_pids))
        cpu = self._make(self._cpu.directory / self.name, f"worker-{index}") if self._cpu else None
        return WorkerCgroup(version, memory, pids, cpu)

    def _limit_memory(self, directory: Path, limit: int) -> None:
        version = self._memory.version
        _write(directory / _LIMIT_FILE[version], str(limit))
        no_swap = directory / _NO_SWAP_FILE[version]
        if no_swap.exists():
            _write(no_swap, "0" if version == 2 else str(limit))

    def _make(self, parent: Path, name: str) -> Path:
        """Make ``parent/name`` (and ``parent`` itself, for the judge's own directory)."""
        for directory in (parent, parent / name):
            if not directory.exists():
                directory.mkdir()
                self._made.append(directory)
            if self._memory.version == 2 and directory == parent:
                controllers = ["+memory"] + ["+pids"] * bool(self._pids) + ["+cpu"] * bool(self._cpu)
                _write(directory / "cgroup.subtree_control", " ".join(controllers))
        return parent / name

    def close(self) -> None:
        """Groups are removed deepest first; a group still holding a process is left (and logged)."""
        for directory in sorted(self._made, key=lambda path: len(path.parts), reverse=True):
            try:
                directory.rmdir()
            except OSError as exc:
                log.debug("rltf judge: could not remove cgroup %s: %s", directory, exc)
        self._made = []


def _remove_stale(directory: Path) -> None:
    """Groups a judge left when its process was killed (``rltf-judge-<pid>-<id>``, pid dead)."""
    for group in directory.glob("rltf-judge-*-*"):
        try:
            os.kill(int(group.name.split("-")[2]), 0)
            continue
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        try:
            leaves = sorted(group.rglob("*/"), key=lambda path: len(path.parts), reverse=True) + [group]
        except OSError:  # another judge starting now (a rank beside this one) is removing it too
            leaves = [group]
        for leaf in leaves:
            with contextlib.suppress(OSError):
                leaf.rmdir()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _usable_hierarchies() -> tuple[Hierarchy | None, Hierarchy | None, Hierarchy | None]:
    """Memory, pids and cpu: cgroup v2 if the memory controller can be given to children
    here, else v1 where writable. Without a memory group none is used."""
    mounts = _mounts()
    own = _own_cgroups()
    unified = mounts.get("cgroup2")
    if unified is not None and "" in own:
        directory = unified / own[""].lstrip("/")
        if _delegates(directory, "memory"):
            found = [Hierarchy(2, directory) if _delegates(directory, name) else None for name in ("pids", "cpu")]
            return Hierarchy(2, directory), found[0], found[1]
    memory = _v1(mounts, own, "memory")
    if memory is None:
        return None, None, None
    return memory, _v1(mounts, own, "pids"), _v1(mounts, own, "cpu")


def _v1(mounts: dict[str, Path], own: dict[str, str], controller: str) -> Hierarchy | None:
    if controller not in mounts or controller not in own:
        return None
    directory = mounts[controller] / own[controller].lstrip("/")
    return Hierarchy(1, directory) if os.access(directory, os.W_OK) else None


def _delegates(directory: Path, controller: str) -> bool:
    """Whether children of ``directory`` get ``controller``; enabling it is tried once."""
    control = directory / "cgroup.subtree_control"
    try:
        if controller in control.read_text().split():
            return True
        _write(control, f"+{controller}")
        return controller in control.read_text().split()
    except OSError:
        return False


def _mounts() -> dict[str, Path]:
    """Mount points: "cgroup2" for the unified hierarchy, else the v1 controller's name."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or fields[3] != "/":
            continue
        if tail[0] == "cgroup2":
            found.setdefault("cgroup2", Path(fields[4]))
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                found.setdefault(option, Path(fields[4]))
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller, and under "" its v2 cgroup."""
    own: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own
