"""Judge workers as the host sees them: what each is given, how it starts, how it stops.

A judge owns a few machine resources for its workers: a range of program uids (when it
runs as root), a cgroup per worker (where the machine lets it make them) and, without
bubblewrap, a scratch directory per worker. ``WorkerProcess.close`` returns only when
every process of the worker is gone, sandbox and programs included.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import subprocess
import uuid
from typing import Any

from rltf.errors import RltfError

from . import channel, scratch
from .cgroups import JudgeCgroups, WorkerCgroup
from .sandbox import SANDBOX_SCRATCH, SANDBOX_SHM, WORKER_ENV, Isolation, fallback_scratch
from .seccomp import filter_code
from .uids import UidRange

log = logging.getLogger("rltf.judge")
_STOP_WAIT_S = 5.0


class WorkerTimedOut(Exception):
    """The worker did not answer within the host's bound on one program."""


class Resources:
    """What one judge holds on the machine for its workers, given back by ``close``."""

    def __init__(self, isolation: Isolation, workers: int, memory_mb: int, max_processes: int):
        self.isolation = isolation
        self.id = uuid.uuid4().hex[:12]
        self.uids = UidRange(workers) if isolation.drop_to_uid else None
        self.cgroups = JudgeCgroups(f"rltf-judge-{os.getpid()}-{self.id}", memory_mb, max_processes)
        self.memory_mb = memory_mb
        self._scratch: list[str] = []

    @property
    def memory_limit(self) -> str:
        return f"cgroup v{self.cgroups.version}" if self.cgroups.version else "rlimits"

    def describe(self) -> str:
        if self.cgroups.version:
            memory = (f"memory: one cgroup (v{self.cgroups.version}) per worker caps heap, files and shared memory "
                      "together")
        else:
            memory = ("memory: no cgroup can be made here, so the heap is capped by RLIMIT_AS"
                      + (" and files by size-limited /tmp and /dev/shm" if self.isolation.kind == "bwrap" else ""))
        machine = os.uname().machine
        calls = ("a system-call filter denies namespaces, mounts, tracing, keyrings, BPF and SysV IPC"
                 if filter_code(machine) is not None else f"NO system-call filter ({machine} has none in rltf)")
        return f"{self.isolation.description}; {calls}; {memory}"

    def worker_config(self, index: int) -> tuple[dict[str, Any], WorkerCgroup | None]:
        cgroup = self.cgroups.for_worker(index)
        bwrap = self.isolation.kind == "bwrap"
        if not bwrap:  # a fresh one for each worker: one that was replaced may have left it full
            self._scratch.append(os.path.join(fallback_scratch(self.isolation.drop_to_uid), "scratch"))
        config = {
            "id": self.id,
            "uid": self.uids.uids[index] if self.uids else None,
            "scratch": SANDBOX_SCRATCH if bwrap else self._scratch[-1],
            "shm": SANDBOX_SHM if bwrap else None,
            "cgroup": self.isolation.cgroup_dirs(cgroup),
        }
        return config, cgroup

    def close(self) -> None:
        self.cgroups.close()
        if self.uids:
            self.uids.close()
        for directory in self._scratch:
            parent = os.path.dirname(directory)
            if os.path.isdir(directory):
                scratch.empty(directory)
            shutil.rmtree(parent, ignore_errors=True)
        self._scratch = []


class WorkerProcess:
    """A sandboxed worker and the problems whose tests it already holds."""

    def __init__(self, resources: Resources, index: int):
        config, cgroup = resources.worker_config(index)
        isolation = resources.isolation
        info_r, info_w = os.pipe() if isolation.kind == "bwrap" else (None, None)
        command = isolation.worker_command(config, cgroup, resources.memory_mb, info_w)
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=WORKER_ENV,
                                     pass_fds=(info_w,) if info_w is not None else (), start_new_session=True)
        self.known: set[str] = set()
        self.sandbox_pid: int | None = None
        if info_w is not None:
            os.close(info_w)
        try:
            hello = channel.recv(self.proc.stdout.fileno())
        except (channel.ChannelClosed, ValueError) as exc:
            self.close()
            raise RltfError("a judge worker failed to start (its error output is above); "
                            f"isolation was: {isolation.kind}") from exc
        finally:
            if info_r is not None:
                self.sandbox_pid = _read_child_pid(info_r)
        if not hello.get("ready"):
            raise RltfError(f"a judge worker failed to start: {hello}")

    def judge(self, job: dict[str, Any], spec: dict[str, Any], bound_s: float) -> dict[str, Any]:
        """The worker's reply; ``WorkerTimedOut`` when it takes longer than ``bound_s``."""
        job = {**job, "spec": None if job["key"] in self.known else spec}
        channel.send(self.proc.stdin.fileno(), job)
        if not select.select([self.proc.stdout], [], [], bound_s)[0]:  # a worker writes a reply at once
            self.proc.kill()
            raise WorkerTimedOut()
        reply = channel.recv(self.proc.stdout.fileno())
        self.known.add(job["key"])
        return reply

    def kill(self) -> None:
        """End the worker and its program now, from any thread; the thread using it sees the
        channel close and calls ``close``. Its session holds every process it started (in
        the sandbox, so does its PID namespace)."""
        if self.proc.poll() is not None:  # already reaped: its pid may belong to someone else now
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()

    def close(self) -> None:
        """Ask the worker to stop, kill it if it does not, and wait until its sandbox is empty."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        if self.sandbox_pid is not None:
            _wait_gone(self.sandbox_pid)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if not pipe.closed:
                pipe.close()


def _read_child_pid(fd: int) -> int | None:
    """bubblewrap's ``--info-fd`` names the sandbox's first process, whose end empties it."""
    chunks = []
    with os.fdopen(fd, "rb") as info:
        chunks.append(info.read())
    try:
        return int(json.loads(b"".join(chunks) or b"{}").get("child-pid"))
    except (TypeError, ValueError):
        return None


def _wait_gone(pid: int) -> None:
    """The sandbox's first process ends only after every process in its PID namespace."""
    try:
        pidfd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return
    try:
        select.select([pidfd], [], [], _STOP_WAIT_S)
    finally:
        os.close(pidfd)
