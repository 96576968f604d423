"""One program process as the worker sees it: its pipes, its deadline, its output.

The process is forked by a zygote; the worker holds the other ends of its pipes and a
pidfd, sends it the code to run down its request pipe, and reads what comes back. Every
byte from the program is untrusted: output beyond the cap stops it, and a reply that is
not a well-formed frame is its own fault (``BrokenChannel``), never the worker's.
"""

from __future__ import annotations

import os
import select
import signal
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Callable

from . import channel
from .confine import Limits
from .zygote import Zygote


class ProgramStopped(BaseException):
    """The program can no longer answer: it crashed, exited, timed out or flooded output.

    A BaseException so that a test's ``except Exception`` cannot swallow it.
    """

    def __init__(self, verdict: str, error: dict[str, Any]):
        super().__init__(error["message"])
        self.verdict, self.error = verdict, error


def broken_channel(detail: str) -> ProgramStopped:
    return ProgramStopped("runtime_error", {"type": "BrokenChannel", "line": None,
                                            "message": f"the program wrote something that is not a reply to the "
                                                       f"judge: {detail[:300]}"})


TIMEOUT = {"type": "Timeout", "message": "wall-clock limit reached", "line": None}


# The error types the judge itself gives. A program's exception class may carry one of these
# names (``class JudgeError(Exception)``); reported as it is, it would pass for the judge's
# verdict: a timeout, or a fault of the judge's that feedback providers ignore.
JUDGE_ERROR_TYPES = frozenset({
    "Timeout", "Signal", "CPUTimeLimit", "EarlyExit", "OutputLimitExceeded", "MemoryLimitExceeded",
    "BrokenChannel", "UnsafeValue", "WorkerKilled", "JudgeError", "ProgramTooLarge",
})


def reported_error(info: Any, program_lines: int) -> dict[str, Any]:
    """The program's own account of its crash: believed as far as its types and its line go,
    and never for one of the judge's own error types (those become ``program.<name>``)."""
    if not (isinstance(info, dict) and isinstance(info.get("type"), str) and isinstance(info.get("message"), str)):
        raise broken_channel("a crash report of the wrong shape")
    line = info.get("line")
    if type(line) is not int or not 1 <= line <= program_lines:
        line = None
    kind = info["type"][:100]
    return {"type": f"program.{kind}" if kind in JUDGE_ERROR_TYPES else kind, "message": info["message"][:1000],
            "line": line}


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
    """A program process, from its fork by ``zygote`` to its reaping.

    ``bootstrap`` is what the program runs (``marshal`` bytes, see ``zygote``). ``serve``
    keeps the request pipe open for calls; otherwise (standard-input programs) the reply
    pipe carries only an error report. ``memory_exceeded`` says whether the kernel's OOM
    killer struck since it was last asked (a memory cgroup), to name a SIGKILL.
    """

    def __init__(self, zygote: Zygote, limits: Limits, bootstrap: bytes, stdin_fd: int, deadline: float,
                 capture: Capture, serve: bool, memory_exceeded: Callable[[], bool]):
        self.zygote, self.deadline, self.capture = zygote, deadline, capture
        self.memory_exceeded = memory_exceeded
        self.frames = channel.FrameBuffer(limits.max_output_bytes)
        self.status: int | None = None
        requests_r, self.rpc_out = os.pipe()
        self.rpc_in, replies_w = os.pipe()
        self.out_fd, out_w = os.pipe()
        self.err_fd, err_w = os.pipe()
        try:
            self.pid, self.pidfd = zygote.fork(limits, (stdin_fd, requests_r, replies_w, out_w, err_w))
        except BaseException:
            for fd in (self.rpc_out, self.rpc_in, self.out_fd, self.err_fd):
                os.close(fd)
            raise
        finally:
            for fd in (requests_r, replies_w, out_w, err_w):
                os.close(fd)
        self.open = [self.out_fd, self.err_fd, self.rpc_in]  # watched until the program closes its end
        with suppress(OSError):  # a program that is gone is reported by wait_frame() / wait_exit()
            channel.send_bytes(self.rpc_out, bootstrap)
        if not serve:
            os.close(self.rpc_out)
            self.rpc_out = None

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        with suppress(OSError):
            channel.send(self.rpc_out, message)
        return self.wait_frame()

    def wait_frame(self) -> dict[str, Any]:
        while True:
            try:
                ready, frame = self.frames.pop()
            except channel.BrokenFrame as exc:
                raise broken_channel(str(exc)) from None
            if ready:
                return frame
            self._pump(expect_frame=True)

    def wait_exit(self) -> int:
        while self.status is None:
            self._pump(expect_frame=False)
        return self.status

    def _pump(self, expect_frame: bool) -> None:
        if self.status is not None:
            raise self.stopped()
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProgramStopped("timeout", TIMEOUT)
        readable, _, _ = select.select([*self.open, self.pidfd], [], [], left)
        if self.pidfd in readable:
            self.zygote.reap(self.pid)  # also kills what it left running
            self.status = self.zygote.reaped.pop(self.pid)
            for fd in list(self.open):
                self._drain(fd, until_empty=True)
            if expect_frame and not self.frames.has_frame():
                raise self.stopped()
            return
        for fd in readable:
            self._drain(fd, until_empty=False)

    def _drain(self, fd: int, until_empty: bool) -> None:
        os.set_blocking(fd, False)
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self.open.remove(fd)
                return
            if fd == self.rpc_in:
                try:
                    self.frames.feed(chunk)
                except channel.FrameTooLarge as exc:
                    raise ProgramStopped("runtime_error", {"type": "OutputLimitExceeded", "line": None,
                                                           "message": f"a returned value passed the output limit "
                                                                      f"({exc})"}) from None
            elif not self.capture.add("stdout" if fd == self.out_fd else "stderr", chunk):
                raise ProgramStopped("runtime_error", {"type": "OutputLimitExceeded",
                                                       "message": f"output passed {self.capture.limit} bytes",
                                                       "line": None})
            if not until_empty:
                return

    def stopped(self) -> ProgramStopped:
        """Why a process that ended before answering ended; running out of CPU time is a timeout."""
        error = ended_early(self.status)
        if error["type"] == "Signal" and os.WTERMSIG(self.status) == signal.SIGKILL and self.memory_exceeded():
            error = {"type": "MemoryLimitExceeded", "line": None,
                     "message": "killed for using more memory than its limit (files in its scratch directory and "
                                "shared memory count too)"}
        return ProgramStopped("timeout" if error["type"] == "CPUTimeLimit" else "runtime_error", error)

    def close(self) -> None:
        """Kill the program and everything it started; its zygote reaps it while the worker goes on
        (``Zygote.settle`` waits for that)."""
        if self.status is None:
            self.status = self.zygote.reaped.pop(self.pid, None)  # reaped, then cut off by the watchdog
        if self.status is None:
            with suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            with suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self.zygote.reap_later(self.pid)
        for fd in (self.rpc_out, self.rpc_in, self.out_fd, self.err_fd, self.pidfd):
            if fd is not None:
                with suppress(OSError):
                    os.close(fd)


def ended_early(status: int) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        kind = "CPUTimeLimit" if sig == signal.SIGXCPU else "Signal"
        return {"type": kind, "message": f"killed by {name}", "line": None}
    code = os.WEXITSTATUS(status)
    return {"type": "EarlyExit", "message": f"exited with status {code} before the tests finished", "line": None}
