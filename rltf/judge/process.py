"""One forked program process as the worker sees it: its pipes, its deadline, its output."""

from __future__ import annotations

import os
import select
import signal
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from . import channel

class ProgramStopped(BaseException):
    """The program can no longer answer: it crashed, exited, timed out or flooded output.

    A BaseException so that a test's ``except Exception`` cannot swallow it.
    """

    def __init__(self, verdict: str, error: dict[str, Any]):
        super().__init__(error["message"])
        self.verdict, self.error = verdict, error


@dataclass
class Capture:
    """Bounded stdout/stderr of the program; going past the bound stops it."""

    limit: int
    data: dict[str, bytearray] = field(default_factory=dict)

    def add(self, stream: str, chunk: bytes) -> bool:
        buf = self.data.setdefault(stream, bytearray())
        buf += chunk
        return len(buf) <= self.limit

    def text(self, stream: str, limit: int | None = None) -> str:
        raw = bytes(self.data.get(stream, b""))
        return raw[: limit or len(raw)].decode("utf-8", "replace")


class ProgramProcess:
    """One forked program process and the worker's pipes to it."""

    def __init__(self, pid: int, rpc_out: int | None, rpc_in: int | None, out_fd: int, err_fd: int,
                 deadline: float, capture: Capture):
        self.pid, self.rpc_out, self.rpc_in = pid, rpc_out, rpc_in
        self.out_fd, self.err_fd = out_fd, err_fd
        self.deadline, self.capture = deadline, capture
        self.pidfd = os.pidfd_open(pid)
        self.frames = channel.FrameBuffer()
        self.status: int | None = None

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        with suppress(OSError):  # a program that is gone is reported by wait_frame()
            channel.send(self.rpc_out, message)
        return self.wait_frame()

    def wait_frame(self) -> dict[str, Any]:
        while True:
            ready, frame = self.frames.pop()
            if ready:
                return frame
            self._pump(expect_frame=True)

    def wait_exit(self) -> int:
        while self.status is None:
            self._pump(expect_frame=False)
        return self.status

    def _pump(self, expect_frame: bool) -> None:
        if self.status is not None:
            raise stopped_by(self.status)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProgramStopped("timeout", {"type": "Timeout", "message": "wall-clock limit reached", "line": None})
        fds = [self.out_fd, self.err_fd, self.pidfd] + ([self.rpc_in] if self.rpc_in is not None else [])
        readable, _, _ = select.select(fds, [], [], left)
        exited = self.pidfd in readable
        for fd in fds if exited else readable:
            if fd != self.pidfd:
                self._drain(fd, until_empty=exited)
        if exited:
            _, self.status = os.waitpid(self.pid, 0)
            if expect_frame and not self.frames.has_frame():
                raise stopped_by(self.status)

    def _drain(self, fd: int, until_empty: bool) -> None:
        os.set_blocking(fd, False)
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            if fd == self.rpc_in:
                self.frames.feed(chunk)
            elif not self.capture.add("stdout" if fd == self.out_fd else "stderr", chunk):
                raise ProgramStopped("runtime_error", {"type": "OutputLimitExceeded",
                                                       "message": f"output passed {self.capture.limit} bytes",
                                                       "line": None})
            if not until_empty:
                return

    def close(self) -> None:
        with suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.status is None:
            with suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
                _, self.status = os.waitpid(self.pid, 0)
        for fd in (self.rpc_out, self.rpc_in, self.out_fd, self.err_fd, self.pidfd):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)


def stopped_by(status: int) -> ProgramStopped:
    """A process that ended before answering; running out of CPU time is a timeout."""
    error = ended_early(status)
    return ProgramStopped("timeout" if error["type"] == "CPUTimeLimit" else "runtime_error", error)


def ended_early(status: int) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        kind = "CPUTimeLimit" if sig == signal.SIGXCPU else "Signal"
        return {"type": kind, "message": f"killed by {name}", "line": None}
    code = os.WEXITSTATUS(status)
    return {"type": "EarlyExit", "message": f"exited with status {code} before the tests finished", "line": None}
