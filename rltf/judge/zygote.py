"""Zygotes: clean processes that fork every program, so that no program starts from a
process image that ever held a test, an expected value or another program.

A worker forks its base zygote at start-up, before it reads its first job. For each
program preamble (the APPS header of imports, or none) the base zygote forks a program
zygote, which runs the preamble once so every program finds its imports loaded, joins the
worker's cgroups, installs the seccomp filter, sets the limits it can hold for its children
and then forks programs on request (ahead of time, where a pids cgroup counts its tasks).
The worker talks to zygotes over a ``SOCK_SEQPACKET`` socket pair: it passes the program's
pipes as file descriptors, gets back the program's pid and a pidfd, and asks the zygote to
reap the program once it is dead or killed. The program's code, its predicted calls and its
test arguments go from the worker straight down the program's own pipe, never through a
zygote. A program zygote is a child subreaper: whatever a program leaves running is
re-parented to it and killed when the program is reaped.

Only ``_socket`` (not ``socket``) and no worker module is imported here: every extension
module in a zygote is mapped into each program it forks, and mappings make forks dear.
"""

from __future__ import annotations

import _socket
import gc
import marshal
import os
import signal
import sys
import time
import traceback
from contextlib import suppress
from typing import Any

from . import channel, program
from .confine import Limits, become_subreaper, confine, confine_zygote
from .seccomp import for_this_machine

# Imported once in the zygote, so programs do not pay for them: the modules programs use
# most whose cost is Python code, not shared libraries (each mapped library adds to the
# cost of every fork). Programs import anything else themselves.
PRELOAD = ("math", "re", "collections", "itertools", "functools", "string", "typing", "operator", "copy")
_MAX_FDS = 8


def send(sock: _socket.socket, message: Any, fds: tuple[int, ...] = ()) -> None:
    ancillary = []
    if fds:
        data = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, data)]
    sock.sendmsg([marshal.dumps(message)], ancillary)


def recv(sock: _socket.socket) -> tuple[Any, list[int]]:
    data, ancillary, _, _ = sock.recvmsg(1 << 16, _socket.CMSG_SPACE(_MAX_FDS * 4))
    fds = [int.from_bytes(raw[i:i + 4], sys.byteorder, signed=True)
           for level, kind, raw in ancillary if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS
           for i in range(0, len(raw) - len(raw) % 4, 4)]
    if not data:
        for fd in fds:
            os.close(fd)
        raise EOFError()
    return marshal.loads(data), fds


def _unalarmed(method):
    """A zygote exchange is never cut by the worker's watchdog (SIGALRM waits until it is done):
    a reply left unread would be taken for the answer to the next request."""

    def guarded(self, *args):
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            return method(self, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    return guarded


class Zygote:
    """The worker's handle on one zygote."""

    def __init__(self, sock: _socket.socket, pid: int):
        self.sock, self.pid = sock, pid
        self.unsettled = 0  # reaps asked for whose answer has not been read
        self.reaped: dict[int, int] = {}  # exit statuses, kept until their program's owner takes them

    @_unalarmed
    def spawn(self, preamble: str, limits: Limits) -> "Zygote":
        """A program zygote for ``preamble`` and ``limits`` (asked of the base zygote)."""
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            send(self.sock, ("zygote", preamble, tuple(limits)), (theirs.fileno(),))
        finally:
            theirs.close()
        reply, _ = recv(self.sock)
        return Zygote(ours, reply[1])

    @_unalarmed
    def fork(self, limits: Limits, fds: tuple[int, int, int, int, int]) -> tuple[int, int]:
        """A program process with ``fds`` as its stdin, request pipe, reply pipe, stdout and
        stderr; returns its pid and a pidfd, which the worker polls for its end."""
        self.settle()
        send(self.sock, ("fork", tuple(limits)), fds)
        reply, received = recv(self.sock)
        if reply[0] != "forked":
            raise OSError(f"the zygote could not fork a program: {reply[1]}")
        return reply[1], received[0]

    @_unalarmed
    def reap(self, pid: int) -> None:
        """Reap a program that is dead; its exit status goes to ``reaped`` (where it survives a
        watchdog that fires as this returns). Once reaped, nothing it started is left running."""
        self.settle()
        send(self.sock, ("reap", pid))
        reply, _ = recv(self.sock)
        self.reaped[pid] = reply[1]

    @_unalarmed
    def reap_later(self, pid: int) -> None:
        """Reap a killed program whose status nobody needs, without waiting: the zygote tears
        it down while the worker moves on. ``settle`` waits for it."""
        send(self.sock, ("reap", pid))
        self.unsettled += 1

    @_unalarmed
    def settle(self, deadline: float | None = None) -> None:
        """Returns once every program this zygote was asked to reap is gone, strays included;
        ``TimeoutError`` if that takes past ``deadline`` (monotonic)."""
        while self.unsettled:
            if deadline is not None and not _readable(self.sock, deadline):
                raise TimeoutError("the zygote did not finish reaping the last program in time")
            recv(self.sock)
            self.unsettled -= 1

    def close(self) -> None:
        self.sock.close()


def _readable(sock: _socket.socket, deadline: float) -> bool:
    import select  # the worker's side only: a zygote never waits like this

    return bool(select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0])


def start_base(config: dict[str, Any]) -> Zygote:
    """Fork the base zygote now, while this process holds nothing but its start-up state."""
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            _close_all_but(theirs.fileno())
            _serve_base(theirs, config)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    theirs.close()
    return Zygote(ours, pid)


def _close_all_but(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def _serve_base(sock: _socket.socket, config: dict[str, Any]) -> None:
    children: set[int] = set()
    while True:
        try:
            message, fds = recv(sock)
        except EOFError:
            break
        pid = os.fork()
        if pid == 0:
            sock.close()
            _ProgramZygote(_socket.socket(fileno=fds[0]), config, message[1], Limits(*message[2])).serve()
            os._exit(0)
        os.close(fds[0])
        children.add(pid)
        send(sock, ("zygote", pid))
    for pid in children:
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)


class _ProgramZygote:
    """Forks programs. Where the worker has a pids cgroup, it forks each program ahead of
    time: a spare child waits, still as the zygote's uid, for the next request's pipes, so
    the fork is off the path of the program that needs it, and the cgroup's task count says
    at once whether a program left anything running (otherwise the spare, being a child too,
    would hide that from ``waitpid``)."""

    def __init__(self, sock: _socket.socket, config: dict[str, Any], preamble_source: str, limits: Limits):
        self.sock, self.config = sock, config
        self.preamble = compile(preamble_source, "<preamble>", "exec")
        with suppress(Exception):
            exec(self.preamble, {"__name__": "__rltf_preamble__"})
        become_subreaper()
        cgroup = config.get("cgroup") or {}
        if cgroup:
            join_cgroups(cgroup["zygote"], cgroup.get("pids"), cgroup.get("cpu"))
        self.programs_cgroup = cgroup.get("programs")
        self.task_count = os.path.join(cgroup["pids"], "pids.current") if cgroup.get("pids") else None
        confine_zygote(limits, config["scratch"])
        seccomp = for_this_machine()
        if seccomp is not None:
            seccomp.install()  # inherited by every program: the zygote never needs what it denies
        gc.collect()
        gc.freeze()
        self.spare: tuple[int, _socket.socket] | None = None
        self._make_spare()

    def serve(self) -> None:
        while True:
            try:
                message, fds = recv(self.sock)
            except EOFError:
                self.kill_children(spare_too=True)
                return
            if message[0] == "fork":
                self._fork(Limits(*message[1]), fds)
            else:
                try:
                    _, status = os.waitpid(message[1], 0)
                except ChildProcessError:  # a worker bug; the worker, not the zygote, should pay for it
                    status = -1
                self.kill_children()
                send(self.sock, ("reaped", status))

    def _fork(self, limits: Limits, fds: list[int]) -> None:
        try:
            pid = self._use_spare(limits, fds) or self._fork_now(limits, fds)
        except OSError as exc:
            send(self.sock, ("failed", str(exc)))
            return
        finally:
            for fd in fds:
                os.close(fd)
        pidfd = os.pidfd_open(pid)
        send(self.sock, ("forked", pid), (pidfd,))
        os.close(pidfd)
        self._make_spare()

    def _fork_now(self, limits: Limits, fds: list[int]) -> int:
        pid = os.fork()
        if pid == 0:
            if self.programs_cgroup:
                join_cgroups(self.programs_cgroup)
            self._become_program(limits, fds)
        return pid

    def _make_spare(self) -> None:
        if self.task_count is None:
            return
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return
        if pid == 0:
            ours.close()
            self._wait_as_spare(theirs)
        theirs.close()
        self.spare = (pid, ours)

    def _wait_as_spare(self, sock: _socket.socket) -> None:
        """Never returns: moves to the programs' memory group, waits for a request's pipes, then
        becomes that program."""
        try:
            self.sock.close()
            if self.programs_cgroup:
                join_cgroups(self.programs_cgroup)
            message, fds = recv(sock)
            sock.close()
        except BaseException:
            os._exit(0)
        self._become_program(Limits(*message[1]), fds)

    def _use_spare(self, limits: Limits, fds: list[int]) -> int | None:
        """The spare's pid once it has the pipes, or None if there is no live spare."""
        if self.spare is None:
            return None
        pid, sock = self.spare
        self.spare = None
        try:
            send(sock, ("go", tuple(limits)), tuple(fds))
            return pid
        except OSError:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return None
        finally:
            sock.close()

    def _become_program(self, limits: Limits, fds: list[int]) -> None:
        """Never returns. Everything before the program's first line is trusted set-up."""
        try:
            self.sock.close()
            stdin, requests, replies, out, err = fds
            confine(limits, {0: stdin, 1: out, 2: err, 3: requests, 4: replies}, self.config.get("uid"))
            mode, source, plan, wanted = marshal.loads(channel.recv_bytes(3))
            if hasattr(sys, "set_int_max_str_digits"):
                sys.set_int_max_str_digits(0)
            if mode == "serve":
                program.serve(self.preamble, source, 3, 4, plan, wanted)
            else:
                os.close(3)
                program.run_main(self.preamble, source, 4)
        except BaseException:
            with suppress(BaseException):
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(70)

    def _nothing_left(self) -> bool:
        """No child but the spare: one read of the task count, or else one ``waitpid``."""
        if self.task_count is None:  # no spare then: waitpid sees only what programs left
            while True:
                try:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    return True
                if pid == 0:
                    return False
        with open(self.task_count, "rb") as f:
            return int(f.read()) <= 1 + (self.spare is not None)

    def kill_children(self, spare_too: bool = False) -> None:
        """Kill and reap every process left in this zygote's care, at any depth.

        Each pass kills the whole tree at once, whatever process groups or sessions its
        members made (a chain of processes, each in a group of its own, each forking again
        as soon as one above it dies, outlasts a loop that kills children one level at a
        time). Orphans re-parent here as their parents die, and are reaped in turn.
        """
        if not spare_too and self._nothing_left():
            return
        keep = {self.spare[0]} if self.spare and not spare_too else set()
        me = os.getpid()
        while True:
            parents = _parents()
            doomed = _descendants(me, parents) - keep
            if not doomed:
                return
            for pid in doomed:
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for pid in doomed:
                if parents[pid] == me:
                    with suppress(ChildProcessError):
                        os.waitpid(pid, 0)


def join_cgroups(*directories: str | None) -> None:
    """Move this process into the given groups; the processes it forks are born there."""
    for directory in filter(None, directories):
        with open(os.path.join(directory, "cgroup.procs"), "w") as procs:
            procs.write("0")


def _parents() -> dict[int, int]:
    """Every visible process and its parent, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return parents


def _descendants(root: int, parents: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, frontier = set(), [root]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found
