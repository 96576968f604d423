"""A long-lived judge worker: one fork per program, trusted comparison of what comes back.

The worker runs inside the sandbox (bubblewrap when available) and never executes
program code itself: each program runs in a forked child (see ``program``), which
receives only arguments and answers only with plain data. Test code from the dataset
and every comparison run here, on that data.
"""

from __future__ import annotations

import ast
import builtins
import os
import traceback
import warnings
import select
import shutil
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Callable

from . import channel, plaindata, program
from .compare import call_output_matches, stdout_matches
from .confine import Limits, become_subreaper, confine

EXCERPT = 2000
_COMMON_MODULES = (
    "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
    "typing", "random", "statistics", "fractions", "decimal", "copy", "operator",
    "datetime", "json", "hashlib", "array", "cmath", "numbers", "textwrap", "queue",
)


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
                raise ProgramStopped("runtime_error", _ended_early(self.status))

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


def _ended_early(status: int) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        kind = "CPUTimeLimit" if sig == signal.SIGXCPU else "Signal"
        return {"type": kind, "message": f"killed by {name}", "line": None}
    code = os.WEXITSTATUS(status)
    return {"type": "EarlyExit", "message": f"exited with status {code} before the tests finished", "line": None}


class RemoteObject:
    """A program object, held by number. It can be called and inspected, never trusted:
    it equals nothing but itself, so it cannot pass a comparison."""

    __slots__ = ("_proc", "_handle")

    def __init__(self, proc: "Session", handle: int):
        object.__setattr__(self, "_proc", proc)
        object.__setattr__(self, "_handle", handle)

    def __call__(self, *args, **kwargs):
        return self._proc.call(self._handle, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._proc.op({"op": "getattr", "handle": self._handle, "name": name}, AttributeError)

    def __setattr__(self, name: str, value: Any) -> None:
        self._proc.op({"op": "setattr", "handle": self._handle, "name": name,
                       "value": self._proc.encode(value)}, AttributeError)

    def __iter__(self):
        return iter(self._proc.op({"op": "iter", "handle": self._handle}, TypeError))

    def __len__(self) -> int:
        return self._proc.op({"op": "len", "handle": self._handle}, TypeError)

    def __bool__(self) -> bool:
        """The program's own truth value: a constant answer, no stronger than returning True."""
        return self._proc.op({"op": "bool", "handle": self._handle}, TypeError) is True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteObject) and other._handle == self._handle

    def __hash__(self) -> int:
        return hash(("remote", self._handle))

    def __repr__(self) -> str:
        return f"<program object #{self._handle}>"


class Session:
    """The worker's view of a live program: calls go out as data, values come back as data."""

    def __init__(self, proc: ProgramProcess):
        self.proc = proc
        self.names: dict[str, Any] = {}

    def start(self) -> None:
        reply = self.proc.wait_frame()
        if "raised" in reply:
            raise ProgramStopped("runtime_error", reply["raised"])
        self.names = {k: self.decode(v) for k, v in reply["names"].items()}

    def decode(self, data: Any) -> Any:
        return plaindata.from_json(data, lambda h: RemoteObject(self, h))

    def encode(self, value: Any) -> Any:
        return plaindata.to_json(value, _handle_of)

    def call(self, handle: int, args: tuple, kwargs: dict) -> Any:
        reply = self.proc.request({"op": "call", "handle": handle, "args": self.encode(list(args)),
                                   "kwargs": self.encode(kwargs)})
        if "raised" in reply:
            raise ProgramStopped("runtime_error", reply["raised"])
        for sent, back in zip(args, reply.get("args", ())):
            if back is not None:
                _copy_into(sent, self.decode(back))
        return self.decode(reply["value"])

    def op(self, message: dict[str, Any], local_error: type[Exception]) -> Any:
        """Inspection that fails is the test's problem (a wrong answer), not a program crash."""
        reply = self.proc.request(message)
        if "raised" in reply:
            raise local_error(reply["raised"]["message"])
        return self.decode(reply["value"])


def _handle_of(value: Any) -> int:
    if isinstance(value, RemoteObject):
        return object.__getattribute__(value, "_handle")
    raise plaindata.NotPlainData(f"cannot send a {type(value).__name__} to the program")


def _copy_into(sent: Any, back: Any) -> None:
    if isinstance(sent, list) and isinstance(back, list):
        sent[:] = back
    elif isinstance(sent, (dict, set)) and type(back) is type(sent):
        sent.clear()
        sent.update(back)


@dataclass
class Verdicts:
    """Per-test outcomes as they happen; the first crash or timeout ends the run."""

    total: int
    tests: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    stopped: str | None = None

    def add(self, verdict: str, started: float, detail: str = "") -> None:
        self.tests.append({"index": len(self.tests), "verdict": verdict,
                           "time_s": round(time.monotonic() - started, 6), "detail": detail[:EXCERPT]})

    def stop(self, exc: ProgramStopped, started: float | None) -> None:
        if started is not None:
            self.add(exc.verdict, started, exc.error["message"])
        self.error, self.stopped = exc.error, exc.verdict

    def outcome(self) -> str:
        if self.stopped:
            return self.stopped
        passed = sum(t["verdict"] == "pass" for t in self.tests)
        return "pass" if self.total and passed == self.total else "failure"


class Worker:
    """Serves jobs from the host: one program at a time, each in a fresh forked process."""

    def __init__(self, uid: int | None, scratch_root: str, private_pids: bool):
        self.uid, self.scratch_root, self.private_pids = uid, scratch_root, private_pids
        self.specs: dict[str, dict[str, Any]] = {}
        self.jobs = 0

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        if job.get("spec") is not None:
            self.specs[job["key"]] = _prepare_spec(job["spec"])
        spec = self.specs[job["key"]]
        limits = Limits(**job["limits"])
        result = self._judge(job["program"], spec, limits)
        result["duration_s"] = round(time.monotonic() - started, 6)
        return result

    def _judge(self, source: str, spec: dict[str, Any], limits: Limits) -> dict[str, Any]:
        total = len(spec["cases"]) if spec["style"] != "assert" else len(spec["asserts"])
        try:
            code = _compile_program(source, spec["style"])
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
            return _result("compile_error", Verdicts(total), _compile_error(exc), Capture(0))
        verdicts, capture = Verdicts(total), Capture(limits.max_output_bytes)
        scratch = self._scratch()
        try:
            if spec["style"] == "stdio":
                self._run_stdio(code, spec, limits, scratch, verdicts, capture)
            else:
                self._run_session(code, spec, limits, scratch, verdicts, capture)
        finally:
            self._clean_up(scratch)
        return _result(verdicts.outcome(), verdicts, verdicts.error, capture)

    def _scratch(self) -> str:
        self.jobs += 1
        path = os.path.join(self.scratch_root, f"job-{self.jobs}")
        os.mkdir(path, 0o700)
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)
        return path

    def _fork(self, limits: Limits, scratch: str, fds: dict[int, int], deadline: float,
              capture: Capture, body: Callable[[], None], rpc: tuple[int | None, int | None]) -> ProgramProcess:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                confine(limits, scratch, {**fds, 1: out_w, 2: err_w}, self.uid)
                sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
                body()
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(70)
        os.close(out_w)
        os.close(err_w)
        return ProgramProcess(pid, rpc[0], rpc[1], out_r, err_r, deadline, capture)

    def _run_session(self, code, spec, limits, scratch, verdicts: Verdicts, capture: Capture) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        deadline = time.monotonic() + limits.timeout_s
        proc = self._fork(limits, scratch, {0: devnull, 3: to_child_r, 4: from_child_w}, deadline, capture,
                          lambda: program.serve(spec["preamble"], code, 3, 4), (to_child_w, from_child_r))
        for fd in (to_child_r, from_child_w, devnull):
            os.close(fd)
        try:
            session = Session(proc)
            try:
                session.start()
            except ProgramStopped as exc:
                verdicts.stop(exc, None)
                return
            if spec["style"] == "call":
                _call_tests(session, spec, verdicts)
            else:
                _assert_tests(session, spec, verdicts)
        finally:
            proc.close()

    def _run_stdio(self, code, spec, limits, scratch, verdicts: Verdicts, capture: Capture) -> None:
        deadline = time.monotonic() + limits.timeout_s
        for stdin_text, expected in spec["cases"]:
            started = time.monotonic()
            test_capture = Capture(limits.max_output_bytes)
            try:
                stdout, error = self._run_main_once(spec["preamble"], code, stdin_text, limits, scratch, deadline,
                                                    test_capture)
            except ProgramStopped as exc:
                _keep_excerpt(capture, test_capture)
                verdicts.stop(exc, started)
                return
            _keep_excerpt(capture, test_capture)
            if error is not None:
                verdicts.stop(ProgramStopped("runtime_error", error), started)
                return
            if stdout_matches(stdout, expected):
                verdicts.add("pass", started)
            else:
                verdicts.add("failure", started, f"expected {expected[:200]!r}, got {stdout[:200]!r}")

    def _run_main_once(self, preamble, code, stdin_text: str, limits, scratch, deadline, capture):
        stdin_fd = os.memfd_create("stdin")
        os.write(stdin_fd, stdin_text.encode())
        os.lseek(stdin_fd, 0, os.SEEK_SET)
        err_r, err_w = os.pipe()
        proc = self._fork(limits, scratch, {0: stdin_fd, 3: err_w}, deadline, capture,
                          lambda: program.run_main(preamble, code, 3), (None, err_r))
        os.close(stdin_fd)
        os.close(err_w)
        try:
            status = proc.wait_exit()
            ready, frame = proc.frames.pop()
        finally:
            proc.close()
        stdout = capture.text("stdout")
        if ready:
            return stdout, frame
        if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
            return stdout, _ended_early(status) | {"message": _exit_message(status)}
        return stdout, None

    def _clean_up(self, scratch: str) -> None:
        """Kill whatever the program left running, then remove its files."""
        self._kill_strays()
        shutil.rmtree(scratch, ignore_errors=True)

    def _kill_strays(self) -> None:
        for _ in range(1000):
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                self._kill_descendants()
                time.sleep(0.001)

    def _kill_descendants(self) -> None:
        if self.private_pids:
            with suppress(OSError):
                os.kill(-1, signal.SIGKILL)
            return
        for pid in _children_of(os.getpid()):
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found


def _exit_message(status: int) -> str:
    if os.WIFSIGNALED(status):
        return _ended_early(status)["message"]
    return f"exited with status {os.WEXITSTATUS(status)}"


def _keep_excerpt(capture: Capture, test_capture: Capture) -> None:
    """The result shows the output of the last test that ran."""
    capture.data = test_capture.data


def _call_tests(session: Session, spec: dict[str, Any], verdicts: Verdicts) -> None:
    started = time.monotonic()
    try:
        function = _call_target(session, spec)
    except ProgramStopped as exc:
        verdicts.stop(exc, None)
        return
    except (NameError, AttributeError) as exc:
        verdicts.stop(ProgramStopped("runtime_error", {"type": type(exc).__name__, "message": str(exc),
                                                        "line": None}), None)
        return
    for args, expected in spec["cases"]:
        started = time.monotonic()
        try:
            actual = function(*args)
        except ProgramStopped as exc:
            verdicts.stop(exc, started)
            return
        except Exception as exc:
            verdicts.add("failure", started, f"calling the program's {spec['fn_name']!r} raised {exc!r:.200}")
            continue
        if call_output_matches(actual, expected):
            verdicts.add("pass", started)
        else:
            verdicts.add("failure", started, f"expected {expected!r:.200}, got {actual!r:.200}")


def _call_target(session: Session, spec: dict[str, Any]) -> Any:
    owner = spec.get("class_name")
    if owner:
        if owner not in session.names:
            raise NameError(f"the program defines no class {owner!r}")
        instance = session.names[owner]()
        return getattr(instance, spec["fn_name"])
    if spec["fn_name"] not in session.names:
        raise NameError(f"the program defines no function {spec['fn_name']!r}")
    return session.names[spec["fn_name"]]


def _assert_tests(session: Session, spec: dict[str, Any], verdicts: Verdicts) -> None:
    namespace = {"__name__": "__rltf_tests__", "__builtins__": builtins, **session.names}
    try:
        exec(spec["setup"], namespace)
        setup_error = None
    except ProgramStopped as exc:
        verdicts.stop(exc, None)
        return
    except Exception as exc:
        setup_error = f"test setup raised {type(exc).__name__}: {exc}"
    for test in spec["asserts"]:
        started = time.monotonic()
        if setup_error:
            verdicts.add("failure", started, setup_error)
            continue
        try:
            exec(test, namespace)
        except ProgramStopped as exc:
            verdicts.stop(exc, started)
            return
        except AssertionError as exc:
            verdicts.add("failure", started, f"AssertionError: {exc}" if str(exc) else "AssertionError")
        except Exception as exc:
            verdicts.add("failure", started, f"test raised {type(exc).__name__}: {exc}")
        else:
            verdicts.add("pass", started)


def _compile_program(source: str, style: str):
    """Compile in the worker: compiling runs none of the program's code.

    Standard-input programs that only compile inside a function (a top-level ``return``,
    ``nonlocal``) are run as the body of one, as the APPS harness runs every such program.
    """
    try:
        return compile(source, program.PROGRAM_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        if style != "stdio":
            raise
        try:
            return _compile_as_function(source)
        except SyntaxError:
            raise exc from None


def _compile_as_function(source: str):
    tree = ast.parse(source, program.PROGRAM_FILENAME)
    extra = {"type_params": []} if sys.version_info >= (3, 12) else {}
    main = ast.FunctionDef(name="__rltf_main__", args=ast.arguments([], [], None, [], [], None, []),
                           body=tree.body or [ast.Pass()], decorator_list=[], returns=None,
                           lineno=1, col_offset=0, **extra)
    call = ast.Expr(ast.Call(ast.Name("__rltf_main__", ast.Load()), [], []), lineno=1, col_offset=0)
    module = ast.fix_missing_locations(ast.Module([main, call], []))
    return compile(module, program.PROGRAM_FILENAME, "exec", dont_inherit=True)


def _prepare_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Decode and compile a problem's tests once; every program of the problem reuses them.

    The preamble is trusted dataset code: running it here once puts its imports in
    ``sys.modules``, so each forked program finds them already loaded.
    """
    spec = dict(spec)
    spec["preamble"] = compile(spec.get("preamble", ""), "<preamble>", "exec")
    with suppress(Exception):
        exec(spec["preamble"], {})
    if spec["style"] == "assert":
        spec["setup"] = compile(spec.get("setup_code", ""), "<test-setup>", "exec")
        spec["asserts"] = [compile(src, f"<test-{i}>", "exec") for i, src in enumerate(spec["asserts"])]
    elif spec["style"] == "call":
        spec["cases"] = [(plaindata.from_json(a), plaindata.from_json(e)) for a, e in spec["cases"]]
    return spec


def _compile_error(exc: BaseException) -> dict[str, Any]:
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return {"type": type(exc).__name__, "message": str(message)[:program.MESSAGE_LIMIT], "line": line}


def _result(outcome: str, verdicts: Verdicts, error: dict[str, Any] | None, capture: Capture) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "passed": sum(t["verdict"] == "pass" for t in verdicts.tests),
        "run": len(verdicts.tests),
        "total": verdicts.total,
        "tests": verdicts.tests,
        "error": error,
        "stdout": capture.text("stdout", EXCERPT),
        "stderr": capture.text("stderr", EXCERPT),
    }


def main() -> None:
    """Entry point inside the sandbox: read jobs on stdin, answer on stdout, forever."""
    config = plaindata.loads(sys.argv[1].encode())
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    become_subreaper()
    warnings.simplefilter("ignore", SyntaxWarning)
    for name in _COMMON_MODULES:
        __import__(name)
    scratch_root = config["scratch_root"]
    os.makedirs(scratch_root, exist_ok=True)
    worker = Worker(config.get("uid"), scratch_root, config.get("private_pids", False))
    channel.send(proto_out, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            job = channel.recv(proto_in)
        except channel.ChannelClosed:
            return
        try:
            reply = {"id": job["id"], "result": worker.run_job(job)}
        except Exception:
            reply = {"id": job["id"], "internal_error": traceback.format_exc()}
        channel.send(proto_out, reply)


if __name__ == "__main__":
    main()
