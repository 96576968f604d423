"""Zygotes: clean processes that fork every program, so that no program starts from a
process image that ever held a test, an expected value or another program.

A worker forks its base zygote at start-up, before it reads its first job. For each
program preamble (the APPS header of imports, or none) the base zygote forks a program
zygote, which runs the preamble once so every program finds its imports loaded, joins the
worker's cgroup, prepares the seccomp filter and then forks programs on request. The
worker talks to zygotes over a ``SOCK_SEQPACKET`` socket pair: it passes the program's
pipes as file descriptors, gets back the program's pid and a pidfd, and asks the zygote to
reap the program once it is dead. The program's code, its predicted calls and its test
arguments go from the worker straight down the program's own pipe, never through a
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
import traceback
from contextlib import suppress
from typing import Any

from . import channel, program
from .confine import Limits, become_subreaper, confine
from .seccomp import Filter, for_this_machine

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


class Zygote:
    """The worker's handle on one zygote."""

    def __init__(self, sock: _socket.socket, pid: int):
        self.sock, self.pid = sock, pid

    def spawn(self, preamble: str) -> "Zygote":
        """A program zygote for ``preamble`` (asked of the base zygote)."""
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            send(self.sock, ("zygote", preamble), (theirs.fileno(),))
        finally:
            theirs.close()
        reply, _ = recv(self.sock)
        return Zygote(ours, reply[1])

    def fork(self, limits: Limits, fds: tuple[int, int, int, int, int]) -> tuple[int, int]:
        """A program process with ``fds`` as its stdin, request pipe, reply pipe, stdout and
        stderr; returns its pid and a pidfd, which the worker polls for its end."""
        send(self.sock, ("fork", (limits.timeout_s, limits.memory_mb, limits.max_output_bytes, limits.max_file_mb,
                                  limits.max_processes)), fds)
        reply, received = recv(self.sock)
        if reply[0] != "forked":
            raise OSError(f"the zygote could not fork a program: {reply[1]}")
        return reply[1], received[0]

    def reap(self, pid: int) -> int:
        """The exit status of a program that is dead (or killed); once it is reaped, nothing it
        started is left running."""
        send(self.sock, ("reap", pid))
        reply, _ = recv(self.sock)
        return reply[1]

    def close(self) -> None:
        self.sock.close()


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
            _serve_programs(_socket.socket(fileno=fds[0]), config, message[1])
            os._exit(0)
        os.close(fds[0])
        children.add(pid)
        send(sock, ("zygote", pid))
    for pid in children:
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)


class _ProgramZygote:
    def __init__(self, sock: _socket.socket, config: dict[str, Any], preamble_source: str):
        self.sock, self.config = sock, config
        self.preamble = compile(preamble_source, "<preamble>", "exec")
        with suppress(Exception):
            exec(self.preamble, {"__name__": "__rltf_preamble__"})
        become_subreaper()
        cgroup = config.get("cgroup")
        if cgroup:
            join_cgroups(cgroup["memory"], cgroup.get("pids"))
        self.seccomp: Filter | None = for_this_machine() if config.get("seccomp", True) else None
        self.first_to_die = bool(cgroup)
        gc.collect()
        gc.freeze()

    def serve(self) -> None:
        while True:
            try:
                message, fds = recv(self.sock)
            except EOFError:
                self.kill_children()
                return
            if message[0] == "fork":
                self._fork(Limits(*message[1]), fds)
            else:
                _, status = os.waitpid(message[1], 0)
                self.kill_children()
                send(self.sock, ("reaped", status))

    def _fork(self, limits: Limits, fds: list[int]) -> None:
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            send(self.sock, ("failed", str(exc)))
            return
        if pid == 0:
            self._become_program(limits, fds)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        send(self.sock, ("forked", pid), (pidfd,))
        os.close(pidfd)

    def _become_program(self, limits: Limits, fds: list[int]) -> None:
        """Never returns. Everything before the program's first line is trusted set-up."""
        try:
            self.sock.close()
            stdin, requests, replies, out, err = fds
            confine(limits, self.config["scratch"], {0: stdin, 1: out, 2: err, 3: requests, 4: replies},
                    self.config.get("uid"), self.seccomp, self.first_to_die)
            mode, code, plan, wanted = marshal.loads(channel.recv_bytes(3))
            if hasattr(sys, "set_int_max_str_digits"):
                sys.set_int_max_str_digits(0)
            if mode == "serve":
                program.serve(self.preamble, code, 3, 4, plan, wanted)
            else:
                os.close(3)
                program.run_main(self.preamble, code, 4)
        except BaseException:
            with suppress(BaseException):
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(70)

    def kill_children(self) -> None:
        """Kill and reap every process left in this zygote's care (orphans re-parent here)."""
        killed: set[int] = set()
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0]:
                    continue
            except ChildProcessError:
                return
            for pid, group in _children_of(os.getpid()):
                if pid not in killed:
                    with suppress(OSError):
                        os.killpg(group, signal.SIGKILL)
                    with suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return


def _serve_programs(sock: _socket.socket, config: dict[str, Any], preamble: str) -> None:
    _ProgramZygote(sock, config, preamble).serve()


def join_cgroups(memory_dir: str, pids_dir: str | None) -> None:
    """Move this process into its worker's groups: every program it forks is born there."""
    for directory in filter(None, (memory_dir, pids_dir)):
        with open(os.path.join(directory, "cgroup.procs"), "w") as procs:
            procs.write("0")


def _children_of(parent: int) -> list[tuple[int, int]]:
    """(pid, process group) of each child of ``parent``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append((int(entry), int(fields[2])))
    return found
