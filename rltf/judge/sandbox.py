"""Where judge workers live: inside bubblewrap when it works here, else the best that remains.

With ``bwrap`` each worker gets its own PID, network, IPC, UTS and cgroup namespaces, the
filesystem view of ``view`` (interpreter, standard library, judge code, allowed packages),
a private size-limited ``/tmp`` (the programs' scratch directory) and ``/dev/shm``, and an
empty environment. Without it, programs still get every limit of ``confine``, the seccomp
filter and, where the machine allows, the memory cgroup, but share the host's network and
filesystem: the judge says so once, at start-up.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import rltf

from . import view
from .cgroups import PROGRAMS, ZYGOTE, WorkerCgroup

log = logging.getLogger("rltf.judge")
_ROOT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
_warned = False
# One hash seed for every worker: a program that prints a set gives the same output, and
# the same verdict, whichever worker runs it and whenever.
WORKER_ENV = {"PYTHONHASHSEED": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
SANDBOX_SCRATCH = "/tmp"
SANDBOX_SHM = "/dev/shm"


@dataclass(frozen=True)
class Isolation:
    """How workers are started; ``description`` is the line users see."""

    kind: str
    description: str
    drop_to_uid: bool
    bwrap: str | None = None
    view: view.View | None = None
    sized_tmpfs: bool = False

    @property
    def private_pids(self) -> bool:
        return self.kind == "bwrap"

    def worker_command(self, config: dict[str, Any], cgroup: WorkerCgroup | None, memory_mb: int,
                       info_fd: int | None = None) -> list[str]:
        """The worker's command line; ``config`` reaches it as its one argument."""
        if self.kind != "bwrap":
            root = str(Path(rltf.__file__).resolve().parent.parent)
            return [sys.executable, "-s", "-c", _bootstrap([root]), json.dumps(config)]
        return [*self._bwrap_args(cgroup, memory_mb, info_fd), self.view.interpreter, "-s", "-c",
                _bootstrap([view.JUDGE_LIB, view.PACKAGES]), json.dumps(config)]

    def _bwrap_args(self, cgroup: WorkerCgroup | None, memory_mb: int, info_fd: int | None) -> list[str]:
        args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if self.drop_to_uid:  # as root bubblewrap keeps every capability unless told otherwise
            args += ["--cap-drop", "ALL"]
            for cap in _ROOT_CAPS:
                args += ["--cap-add", cap]
        else:
            args += ["--unshare-user"]
        args += self.view.args
        if cgroup is not None:
            args += ["--bind", str(cgroup.memory), f"{view.CGROUPS}/memory"]
            for name in ("pids", "cpu"):
                if getattr(cgroup, name) is not None:
                    args += ["--bind", str(getattr(cgroup, name)), f"{view.CGROUPS}/{name}"]
        args += ["--dev", "/dev", "--proc", "/proc"]
        size = ["--size", str(memory_mb << 20)] if self.sized_tmpfs else []
        args += ["--perms", "0700", *size, "--tmpfs", SANDBOX_SCRATCH,
                 "--perms", "1777", *size, "--tmpfs", SANDBOX_SHM]
        args += ["--clearenv", "--chdir", SANDBOX_SCRATCH, "--setenv", "HOME", SANDBOX_SCRATCH]
        for name, value in WORKER_ENV.items():
            args += ["--setenv", name, value]
        if info_fd is not None:
            args += ["--info-fd", str(info_fd)]
        return args + ["--"]

    def cgroup_dirs(self, cgroup: WorkerCgroup | None) -> dict[str, Any] | None:
        """The worker's groups as the worker sees them (see ``cgroups``)."""
        if cgroup is None:
            return None
        bwrap = self.kind == "bwrap"
        seen = {name: (f"{view.CGROUPS}/{name}" if bwrap else str(getattr(cgroup, name)))
                if getattr(cgroup, name) is not None else None for name in ("memory", "pids", "cpu")}
        return {"version": cgroup.version, "zygote": f"{seen['memory']}/{ZYGOTE}",
                "programs": f"{seen['memory']}/{PROGRAMS}", "pids": seen["pids"], "cpu": seen["cpu"]}


def _bootstrap(paths: Sequence[str]) -> str:
    """Not ``-I``, which would also ignore PYTHONHASHSEED (the environment is set whole
    anyway); the working directory that ``-c`` puts first on the path is replaced, so a
    file a program leaves there can never be imported by the worker."""
    return f"import sys; sys.path[0:1] = {list(paths)!r}; from rltf.judge.start import main; main()"


@functools.lru_cache(maxsize=None)
def detect(mode: str = "auto", packages: tuple[str, ...] = view.DEFAULT_PACKAGES) -> Isolation:
    """``mode`` is "auto" (bubblewrap if it works), "bwrap" (required) or "none".

    Remembered for the life of the process: probing bubblewrap and finding the packages'
    files take about 0.1 s, and a process that makes several judges would pay it for each."""
    root = os.geteuid() == 0
    why = "not installed"
    if mode != "none":
        bwrap = shutil.which("bwrap")
        if bwrap:
            sized = "--size" in _bwrap_help(bwrap)
            isolation = Isolation("bwrap", _describe_bwrap(root), root, bwrap, view.build(packages), sized)
            failure = _probe_failure(isolation)
            if failure is None:
                return isolation
            why = f"installed but could not start a sandbox here: {failure}"
        if mode == "bwrap":
            from rltf.errors import RltfError

            remedy = "install it (apt-get install bubblewrap)" if why == "not installed" else "fix that"
            raise RltfError(f"bubblewrap (bwrap) is required, and it is {why}; {remedy} or use isolation 'auto'")
    return _fallback(root, "disabled" if mode == "none" else why)


def _bwrap_help(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _probe_failure(isolation: Isolation) -> str | None:
    """Why a trial sandbox did not print ``ok``, in bubblewrap's own words; None when it did.

    The user must be told the real cause (a bind mount that failed, namespaces the machine
    forbids), not that bubblewrap is missing when it is installed."""
    command = isolation._bwrap_args(None, 64, None) + [isolation.view.interpreter, "-I", "-c", "print('ok')"]
    try:
        probe = subprocess.run(command, capture_output=True, text=True, timeout=30, env={})
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    if probe.returncode == 0 and probe.stdout.strip() == "ok":
        return None
    lines = probe.stderr.strip().splitlines()
    return lines[-1] if lines else f"the trial sandbox exited with status {probe.returncode}"


def _python_readable_by_all() -> bool:
    """A program dropped to a uid of its own must still be able to import the standard library."""
    for top in {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}:
        for directory in (top, *top.parents):
            if not os.stat(directory).st_mode & 0o001:
                return False
    return True


def _describe_bwrap(root: bool) -> str:
    who = "a uid of their own" if root else "the user's uid in a user namespace"
    return ("bubblewrap sandbox: private PID/network/IPC namespaces; the filesystem shows only the "
            "interpreter, its standard library and the allowed packages; empty environment; programs run "
            f"as {who} with CPU, memory, output and process limits")


def _fallback(root: bool, why: str) -> Isolation:
    """``why`` completes "bubblewrap (bwrap) is ...": disabled, not installed, or what failed."""
    global _warned
    root = root and _python_readable_by_all()
    hint = " Install bubblewrap (apt-get install bubblewrap) for isolation." if why == "not installed" else ""
    description = (f"NO SANDBOX: bubblewrap (bwrap) is {why}; programs run with CPU, memory, output and process "
                   "limits, a clean environment and a scratch directory, but CAN reach the network and read and "
                   "write the user's files" + (" (they run as an unprivileged uid of their own)" if root else "")
                   + "." + hint)
    if not _warned:
        log.warning("rltf judge: %s", description)
        _warned = True
    return Isolation("none", description, root)


def fallback_scratch(drop_to_uid: bool) -> str:
    """A host directory for one worker's programs when there is no sandbox."""
    scratch = tempfile.mkdtemp(prefix="rltf-judge-")
    if drop_to_uid:
        os.chmod(scratch, 0o711)
    return scratch
