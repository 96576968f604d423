"""A long-lived judge worker: one fork per program, trusted comparison of what comes back.

The worker runs inside the sandbox (bubblewrap when available) and never executes
program code itself: each program runs in a forked child (see ``program``), which
receives only arguments and answers only with plain data. Test code from the dataset
and every comparison run here, on that data.
"""

from __future__ import annotations

import ast
import builtins
import gc
import os
import shutil
import signal
import sys
import time
import traceback
import warnings
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Callable

from . import channel, plaindata, program
from .compare import call_output_matches, stdout_matches
from .confine import Limits, become_subreaper, clean_environment, confine
from .plan import PlannedCall, assert_plan, call_plan
from .process import Capture, ProgramProcess, ProgramStopped, ended_early
from .session import PlanDiverged, Session

EXCERPT = 2000
_COMMON_MODULES = (
    "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
    "typing", "random", "statistics", "fractions", "decimal", "copy", "operator",
    "datetime", "json", "array", "cmath", "numbers", "textwrap", "queue",
)


@dataclass
class Verdicts:
    """Per-test outcomes as they happen; the first crash or timeout ends the run."""

    total: int
    record: bool = False
    tests: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    stopped: str | None = None

    def add(self, verdict: str, started: float, detail: str = "", extra_s: float = 0.0, output: Any = None) -> None:
        """``extra_s``: time the program spent on this test's calls before the test asked for them.

        ``output`` travels only when recording was asked for, as tagged plain data.
        """
        entry = {"index": len(self.tests), "verdict": verdict,
                 "time_s": round(time.monotonic() - started + extra_s, 6), "detail": detail[:EXCERPT]}
        if self.record:
            entry["output"] = {"plain": output}
        self.tests.append(entry)

    def stop(self, exc: ProgramStopped, started: float | None, extra_s: float = 0.0) -> None:
        if started is not None:
            self.add(exc.verdict, started, exc.error["message"], extra_s)
        self.error, self.stopped = exc.error, exc.verdict

    def outcome(self) -> str:
        if self.stopped:
            return self.stopped
        passed = sum(t["verdict"] == "pass" for t in self.tests)
        return "pass" if self.total and passed == self.total else "failure"


class Worker:
    """Serves jobs from the host: one program at a time, each in a fresh forked process."""

    def __init__(self, uid: int | None, scratch: str, private_pids: bool):
        self.uid, self.scratch, self.private_pids = uid, scratch, private_pids
        self.specs: dict[str, dict[str, Any]] = {}
        self.record = False

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        if job.get("spec") is not None:
            self.specs[job["key"]] = _prepare_spec(job["spec"])
        spec = self.specs[job["key"]]
        limits = Limits(**job["limits"])
        self.record = bool(job.get("record"))
        result = self._judge(job["program"], spec, limits)
        result["duration_s"] = round(time.monotonic() - started, 6)
        return result

    def _judge(self, source: str, spec: dict[str, Any], limits: Limits) -> dict[str, Any]:
        total = len(spec["cases"]) if spec["style"] != "assert" else len(spec["asserts"])
        try:
            code = _compile_program(source, spec["style"])
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
            return _result("compile_error", Verdicts(total), _compile_error(exc), Capture(0))
        if spec["style"] == "stdio":
            verdicts, capture = self._attempt(self._run_stdio, code, spec, limits, total)
            return _result(verdicts.outcome(), verdicts, verdicts.error, capture)
        try:
            verdicts, capture = self._attempt(self._run_session, code, spec, limits, total, spec["plan"])
        except PlanDiverged:
            verdicts, capture = self._attempt(self._run_session, code, spec, limits, total, [])
        return _result(verdicts.outcome(), verdicts, verdicts.error, capture)

    def _attempt(self, run: Callable[..., None], code, spec, limits: Limits, total: int,
                 *plan: list[PlannedCall]) -> tuple["Verdicts", Capture]:
        """One run of the program in a fresh scratch directory, cleaned up whatever happens."""
        verdicts, capture = Verdicts(total, self.record), Capture(limits.max_output_bytes)
        scratch = self._scratch()
        try:
            run(code, spec, limits, scratch, verdicts, capture, *plan)
        finally:
            self._clean_up(scratch)
        return verdicts, capture

    def _scratch(self) -> str:
        """One fixed path, emptied between programs, so the environment can name it once."""
        if not os.path.isdir(self.scratch):
            os.mkdir(self.scratch, 0o700)
            if self.uid is not None:
                os.chown(self.scratch, self.uid, self.uid)
        os.chmod(self.scratch, 0o700)
        return self.scratch

    def _fork(self, limits: Limits, scratch: str, fds: dict[int, int], deadline: float,
              capture: Capture, body: Callable[[], None], rpc: tuple[int | None, int | None]) -> ProgramProcess:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            try:
                confine(limits, scratch, {**fds, 1: out_w, 2: err_w}, self.uid)
                body()
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(70)
        os.close(out_w)
        os.close(err_w)
        return ProgramProcess(pid, rpc[0], rpc[1], out_r, err_r, deadline, capture)

    def _run_session(self, code, spec, limits, scratch, verdicts: Verdicts, capture: Capture,
                     plan: list[PlannedCall]) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        devnull = os.open(os.devnull, os.O_RDONLY)
        deadline = time.monotonic() + limits.timeout_s
        proc = self._fork(limits, scratch, {0: devnull, 3: to_child_r, 4: from_child_w}, deadline, capture,
                          lambda: program.serve(spec["preamble"], code, 3, 4, plan), (to_child_w, from_child_r))
        for fd in (to_child_r, from_child_w, devnull):
            os.close(fd)
        try:
            session = Session(proc, plan)
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
                verdict = "timeout" if error["type"] == "CPUTimeLimit" else "runtime_error"
                verdicts.stop(ProgramStopped(verdict, error), started)
                return
            if stdout_matches(stdout, expected):
                verdicts.add("pass", started, output=stdout)
            else:
                verdicts.add("failure", started, f"expected {expected[:200]!r}, got {stdout[:200]!r}", output=stdout)

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
            return stdout, ended_early(status) | {"message": _exit_message(status)}
        return stdout, None

    def _clean_up(self, scratch: str) -> None:
        """Kill whatever the program left running, then remove its files."""
        self._kill_strays()
        if os.listdir(scratch):
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
        return ended_early(status)["message"]
    return f"exited with status {os.WEXITSTATUS(status)}"


def _keep_excerpt(capture: Capture, test_capture: Capture) -> None:
    """The result shows the output of the last test that ran."""
    capture.data = test_capture.data


def _call_tests(session: Session, spec: dict[str, Any], verdicts: Verdicts) -> None:
    """Every call was predicted: the program made them as soon as it was defined."""
    defined = spec.get("class_name") or spec["fn_name"]
    if defined not in session.names:
        kind = "class" if spec.get("class_name") else "function"
        error = {"type": "NameError", "message": f"the program defines no {kind} {defined!r}", "line": None}
        verdicts.stop(ProgramStopped("runtime_error", error), None)
        return
    for _, expected in spec["cases"]:
        started, before = time.monotonic(), session.planned_time
        try:
            actual = session.decode(session.next_planned()["value"])
        except ProgramStopped as exc:
            verdicts.stop(exc, started, session.planned_time - before)
            return
        output = _plain_or_none(actual) if verdicts.record else None
        if call_output_matches(actual, expected):
            verdicts.add("pass", started, "", session.planned_time - before, output)
        else:
            verdicts.add("failure", started, f"expected {expected!r:.200}, got {actual!r:.200}",
                         session.planned_time - before, output)


def _plain_or_none(value: Any) -> Any:
    try:
        return plaindata.to_json(value)
    except plaindata.NotPlainData:
        return None


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
        started, before = time.monotonic(), session.planned_time
        if setup_error:
            verdicts.add("failure", started, setup_error)
            continue
        try:
            exec(test, namespace)
        except ProgramStopped as exc:
            verdicts.stop(exc, started, session.planned_time - before)
            return
        except AssertionError as exc:
            detail = f"AssertionError: {exc}" if str(exc) else "AssertionError"
            verdicts.add("failure", started, detail, session.planned_time - before)
        except Exception as exc:
            verdicts.add("failure", started, f"test raised {type(exc).__name__}: {exc}", session.planned_time - before)
        else:
            verdicts.add("pass", started, extra_s=session.planned_time - before)


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
    if spec["style"] == "call":
        spec["cases"] = [(plaindata.from_json(a), plaindata.from_json(e)) for a, e in spec["cases"]]
    spec["plan"] = _plan(spec)
    if spec["style"] == "assert":
        spec["setup"] = compile(spec.get("setup_code", ""), "<test-setup>", "exec")
        spec["asserts"] = [compile(src, f"<test-{i}>", "exec") for i, src in enumerate(spec["asserts"])]
    return spec


def _plan(spec: dict[str, Any]) -> list[PlannedCall]:
    if spec["style"] == "call":
        return call_plan(spec["fn_name"], spec.get("class_name"), spec["cases"])
    if spec["style"] == "assert":
        return assert_plan(spec.get("setup_code", ""), spec["asserts"])
    return []


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
    os.makedirs(config["scratch_root"], exist_ok=True)
    if config.get("uid") is not None:
        os.chmod(config["scratch_root"], 0o711)
    scratch = os.path.join(config["scratch_root"], "scratch")
    os.environ.clear()
    os.environ.update(clean_environment(scratch))
    worker = Worker(config.get("uid"), scratch, config.get("private_pids", False))
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
