"""Where judge workers live: inside bubblewrap when it works here, else the best that remains.

With ``bwrap`` each worker gets its own PID, network, IPC and UTS namespaces, a
read-only view of the filesystem with a private ``/tmp`` and the home directory hidden,
and an empty environment. Without it, programs still get every limit of ``confine``,
but share the host's network and filesystem: the judge says so once, at start-up.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import rltf

log = logging.getLogger("rltf.judge")
PROGRAM_UID_BASE = 1_500_000
_ROOT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
_warned = False
# One hash seed for every worker: a program that prints a set gives the same output, and
# the same verdict, whichever worker runs it and whenever.
WORKER_ENV = {"PYTHONHASHSEED": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Isolation:
    """How workers are started; ``description`` is the line users see."""

    kind: str
    description: str
    prefix: tuple[str, ...]
    private_pids: bool
    drop_to_uid: bool
    scratch_root: str

    def worker_command(self, config: str) -> list[str]:
        """No user site-packages; the environment is ``WORKER_ENV`` and nothing else."""
        package_root = str(Path(rltf.__file__).resolve().parent.parent)
        bootstrap = (f"import sys; sys.path.insert(0, {package_root!r}); "
                     "from rltf.judge.worker import main; main()")
        return [*self.prefix, sys.executable, "-s", "-c", bootstrap, config]


def detect(mode: str = "auto") -> Isolation:
    """``mode`` is "auto" (bubblewrap if it works), "bwrap" (required) or "none"."""
    root = os.geteuid() == 0
    if mode != "none":
        bwrap = shutil.which("bwrap")
        prefix = tuple(bwrap_prefix(bwrap, root)) if bwrap else ()
        if bwrap and _works(prefix):
            return Isolation("bwrap", _describe_bwrap(root), prefix, True, root, "/tmp/rltf-judge")
        if mode == "bwrap":
            from rltf.errors import RltfError

            raise RltfError("bubblewrap (bwrap) is required but missing or not working here; "
                            "install it (apt-get install bubblewrap) or use isolation 'auto'")
    return _fallback(root, mode)


def bwrap_prefix(bwrap: str, root: bool) -> list[str]:
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if root:
        for cap in _ROOT_CAPS:
            args += ["--cap-add", cap]
    else:
        args += ["--unshare-user"]
    hidden = [Path("/tmp"), Path("/var/tmp"), Path("/run")]
    home = Path.home().resolve()
    if home != Path("/"):
        hidden.append(home)
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for directory in hidden:
        args += ["--perms", "0755", "--tmpfs", str(directory)]
    for path in _needed_inside(hidden):
        for parent in _between(path, hidden):
            args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(path), str(path)]
    args += ["--clearenv", "--setenv", "HOME", "/tmp", "--chdir", "/tmp"]
    for name, value in WORKER_ENV.items():
        args += ["--setenv", name, value]
    return args + ["--"]


def _needed_inside(hidden: list[Path]) -> list[Path]:
    """Python and rltf must stay visible even when they live under a hidden directory.

    The home directory (keys, tokens, caches), /tmp and /run vanish behind empty tmpfs
    mounts; the interpreter, the virtual environment and rltf's own code come back
    read-only.
    """
    wanted = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    wanted.add(Path(sys.executable).resolve().parent.parent)
    wanted.add(Path(rltf.__file__).resolve().parent.parent)
    inside = sorted(p for p in wanted if any(p.is_relative_to(h) and p != h for h in hidden))
    return [p for p in inside if not any(p != q and p.is_relative_to(q) for q in inside)]


def _between(path: Path, hidden: list[Path]) -> list[Path]:
    """Directories between a hidden mount and ``path``, made traversable for other uids."""
    top = next(h for h in hidden if path.is_relative_to(h))
    return [p for p in reversed(path.parents) if p.is_relative_to(top) and p != top]


def _works(prefix: tuple[str, ...]) -> bool:
    try:
        probe = subprocess.run([*prefix, sys.executable, "-I", "-c", "print('ok')"],
                               capture_output=True, text=True, timeout=30, env={})
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0 and probe.stdout.strip() == "ok"


def _python_readable_by_all() -> bool:
    """A program dropped to a uid of its own must still be able to import the standard library."""
    for top in {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}:
        for directory in (top, *top.parents):
            if not os.stat(directory).st_mode & 0o001:
                return False
    return True


def _describe_bwrap(root: bool) -> str:
    who = "a uid of their own" if root else "the user's uid in a user namespace"
    return ("bubblewrap sandbox: private PID/network/IPC namespaces, read-only filesystem, "
            f"hidden home, empty environment; programs run as {who} with CPU, memory, "
            "output and process limits")


def _fallback(root: bool, mode: str) -> Isolation:
    global _warned
    root = root and _python_readable_by_all()
    description = ("NO SANDBOX: bubblewrap (bwrap) is " + ("disabled" if mode == "none" else "not available")
                   + "; programs run with CPU, memory, output and process limits, a clean environment and a "
                   "scratch directory, but CAN reach the network and read and write the user's files"
                   + (" (they run as an unprivileged uid of their own)" if root else "")
                   + ". Install bubblewrap (apt-get install bubblewrap) for isolation.")
    if not _warned:
        log.warning("rltf judge: %s", description)
        _warned = True
    scratch = tempfile.mkdtemp(prefix="rltf-judge-")
    if root:
        os.chmod(scratch, 0o711)
    return Isolation("none", description, (), False, root, scratch)
