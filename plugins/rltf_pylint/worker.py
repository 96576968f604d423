"""The trainer's side of the pylint worker process (``rltf_pylint.server``).

The worker is started on first use and kept for later batches, so pylint's start-up is paid
once. Anything that goes wrong inside it (a program it hangs on, a crash, running out of
memory) kills and forgets it, raises ``PylintFailure`` for the batch, and the next batch starts
a fresh one. It is shut down by ``close()``, when its owner is garbage-collected, or at exit.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from typing import IO, Any, Sequence

from rltf.errors import RltfError

SERVER = Path(__file__).with_name("server.py")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
# A worker whose peak memory passed this is replaced after its batch: astroid keeps what the
# programs imported, which stays near 100 MB for MBPP-like programs but has no bound of its own.
RECYCLE_RSS_MB = 1024
LOG_TAIL_CHARS = 2000


class PylintFailure(RuntimeError):
    """pylint could not analyse a program, or its worker process failed on the batch.

    Not an ``RltfError``: the registry counts it against the sample and goes on, whereas an
    ``RltfError`` (bad options) stops the run.
    """


class PylintWorker:
    """A long-lived pylint process, one batch at a time (calls from several threads queue)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: _Process | None = None

    def lint(self, programs: Sequence[str], preambles: Sequence[str], config: dict[str, list[str]],
             timeout_s: float) -> list[list[dict[str, Any]]]:
        """pylint's messages for each program; ``timeout_s`` bounds the time on any one program."""
        with self._lock:
            if self._process is None or self._process.owner != os.getpid():
                # A forked copy of the trainer shares its parent's pipes: it needs its own worker.
                self._process = _Process.start()
            process = self._process
            try:
                reply = process.request({"config": config, "programs": list(programs),
                                         "preambles": list(preambles)}, timeout_s)
            except BaseException:
                # Interrupted mid-batch (a failure, or Ctrl-C in the caller), the worker would
                # answer the next request with this batch's leftovers.
                self._stop(kill=True)
                raise
            if "error" in reply:
                raise RltfError(f"feedback provider 'pylint': {reply['error']}")
            if reply["stray"]:
                raise PylintFailure(f"pylint reported on no program of the batch: {reply['stray'][0]}")
            if reply["max_rss_mb"] > RECYCLE_RSS_MB:
                self._stop()
            return reply["messages"]

    def close(self) -> None:
        with self._lock:
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._process.popen.pid if self._process else None

    @property
    def directory(self) -> Path | None:
        """The worker's private directory: programs of the batch, crash reports, stderr log."""
        return self._process.directory if self._process else None

    def _stop(self, kill: bool = False) -> None:
        if self._process is not None:
            self._process.stop(kill)
            self._process = None


class _Process:
    """One worker process with its private directory (programs, crash reports, stderr log)."""

    def __init__(self, popen: subprocess.Popen, directory: Path, log: IO[bytes]) -> None:
        self.popen = popen
        self.directory = directory
        self.log = log
        self.buffer = b""
        self.owner = os.getpid()
        self._finalizer = weakref.finalize(self, _shutdown, popen, directory, log, self.owner)

    def stop(self, kill: bool = False) -> None:
        """``kill`` for a worker that cannot be trusted to finish (hung, or failed mid-batch)."""
        if kill and self.owner == os.getpid() and self.popen.poll() is None:
            self.popen.kill()
        self._finalizer()

    @classmethod
    def start(cls) -> "_Process":
        directory = Path(tempfile.mkdtemp(prefix="rltf-pylint-"))
        workdir = directory / "programs"
        workdir.mkdir()
        log = open(directory / "worker.log", "ab")
        env = {"PATH": os.environ.get("PATH", os.defpath), "PYLINTHOME": str(workdir)}
        popen = subprocess.Popen([sys.executable, "-I", str(SERVER), str(workdir)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=log, env=env, cwd=workdir)
        process = cls(popen, directory, log)
        try:
            process.read_reply(START_TIMEOUT_S, "starting")
        except PylintFailure:
            process.stop(kill=True)
            raise
        return process

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        try:
            self.popen.stdin.write(json.dumps(message).encode() + b"\n")
            self.popen.stdin.flush()
        except OSError as error:
            raise PylintFailure(f"pylint worker stopped taking requests ({error}){self.log_tail()}") from None
        reply = self.read_reply(timeout_s, "on the batch")
        while "at" in reply:
            reply = self.read_reply(timeout_s, f"on program {reply['at']} of the batch")
        self.log.truncate(0)
        return reply

    def read_reply(self, timeout_s: float, doing: str) -> dict[str, Any]:
        """The next line, within ``timeout_s``; ``doing`` says what the worker was busy with."""
        fd = self.popen.stdout.fileno()
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([fd], [], [], timeout_s)
            if not ready:
                raise PylintFailure(f"pylint took more than {timeout_s:g} s {doing}")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise PylintFailure(f"pylint worker died {doing}{self.log_tail()}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def log_tail(self) -> str:
        self.log.flush()
        text = (self.directory / "worker.log").read_text(errors="replace")[-LOG_TAIL_CHARS:].strip()
        return f"; its last words: {text}" if text else ""


def _shutdown(popen: subprocess.Popen, directory: Path, log: IO[bytes], owner: int) -> None:
    """Closing its input ends the worker's loop; one that does not end in time is killed.

    A forked copy of the trainer inherits the finalizer but not the worker: it leaves it alone.
    """
    if os.getpid() != owner:
        return
    try:
        popen.stdin.close()
        popen.wait(STOP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        popen.kill()
        popen.wait()
    popen.stdout.close()
    log.close()
    shutil.rmtree(directory, ignore_errors=True)
