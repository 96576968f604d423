"""A long-lived judge worker: it holds the tests, runs the trusted test code and every
comparison, and never runs a line of a program itself.

Each program runs in a process forked by a zygote (see ``zygote``) that never held a test,
receives only its code, its predicted calls and the arguments of the calls the tests make,
and answers only with plain data. The worker's work on a program's behalf is bounded by the
program's own limits: test code and comparisons run under a watchdog at the program's
deadline, and every value is decoded and compared in linear time. A failure of the worker's
own code ends the worker (the judge replaces it), so it can never score the next programs.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import marshal
import os
import random
import signal
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import channel, plaindata, program, scratch
from .cgroups import read_oom_kills
from .compare import call_output_matches, excerpt, stdout_matches
from .confine import Limits
from .plan import CHECK, PlannedCall, assert_plan, call_plan, checking, names_used, without_messages
from .process import TIMEOUT, Capture, ProgramProcess, ProgramStopped, broken_channel, reported_error
from .session import PlanDiverged, Session
from .zygote import Zygote

EXCERPT = 2000
WATCHDOG_GRACE_S = 0.5
# Outputs kept for oracles (``record_outputs``) up to this size; a bigger one is not kept.
RECORD_LIMIT = 64 << 10
# A worker whose resident memory passes this, beyond what its cached tests take, retires after
# answering (decoding a program's values can briefly take tens of times their size).
RETIRE_ABOVE_BYTES = 256 << 20
# str() of a program's integer in test code; beyond this many digits CPython's conversion is
# quadratic, and a test that needs it fails with ValueError (docs/judge.md).
TEST_INT_DIGITS = 50_000


CLEANUP_TIMEOUT = {"type": "Timeout", "line": None,
                   "message": "what the program wrote could not be removed within its time limit"}


class CleanupTooSlow(Exception):
    """What the last program left cannot be removed within the budget (a failure of the worker,
    which then ends: the next program is judged by a new one, with a fresh scratch directory)."""


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
    """Serves jobs from the host: one program at a time, each in fresh forked processes."""

    def __init__(self, base: Zygote, config: dict[str, Any]):
        self.base = base
        self.scratch, self.shm = config["scratch"], config.get("shm")
        self.cgroup = config.get("cgroup")
        self.zygotes: dict[tuple[str, Limits], Zygote] = {}
        self.specs: dict[str, dict[str, Any]] = {}
        self.record = False
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        self.oom_seen = self._oom_kills()
        self.retiring = False

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        limits = Limits(**job["limits"])
        self._clean_up(time.monotonic() + max(1.0, limits.timeout_s))  # the last program's; not this one's time
        if job.get("spec") is not None:
            self.specs[job["key"]] = _prepare_spec(job["spec"])
        spec = self.specs[job["key"]]
        started = time.monotonic()
        self.record = bool(job.get("record"))
        result = self._judge(job["program"], spec, limits, started)
        result["duration_s"] = round(time.monotonic() - started, 6)
        return result

    def close(self) -> None:
        """Every zygote kills what it still runs and exits; the base waits for them."""
        for zygote in self.zygotes.values():
            zygote.settle()
            zygote.close()
        self.base.close()
        os.waitpid(self.base.pid, 0)

    def _zygote(self, preamble: str, limits: Limits) -> Zygote:
        """One zygote per preamble and set of limits (a judge uses one set)."""
        key = (preamble, limits)
        if key not in self.zygotes:
            self.zygotes[key] = self.base.spawn(preamble, limits)
        return self.zygotes[key]

    def _judge(self, source: str, spec: dict[str, Any], limits: Limits, started: float) -> dict[str, Any]:
        """The program's deadline is ``started`` plus its time limit, for everything it does:
        compiling, defining itself, every test, and a second run if the first left the plan."""
        total = len(spec["cases"]) if spec["style"] != "assert" else len(spec["asserts"])
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > limits.max_program_bytes:
            error = {"type": "ProgramTooLarge", "line": None,
                     "message": f"the program has {size} bytes; the limit is {limits.max_program_bytes}"}
            return _result("compile_error", Verdicts(total), error, Capture(0))
        try:  # parsing only, which is linear, unlike compiling: a syntax error needs no process
            compile(source, program.PROGRAM_FILENAME, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except program.COMPILE_ERRORS as exc:
            return _result("compile_error", Verdicts(total), program.compile_error(exc), Capture(0))
        run = _Run(self._zygote(spec["preamble"], limits), source, len(source.splitlines()) + 1, spec, limits,
                   self.devnull, self._memory_exceeded, started + limits.timeout_s)
        verdicts = Verdicts(total, self.record)
        if spec["style"] == "stdio":
            capture = run.stdio(verdicts)
        else:
            try:
                capture = run.session(verdicts, spec["plan"])
            except PlanDiverged:  # judged again, call by call, from a clean state, within the same limit
                verdicts = Verdicts(total, self.record)
                try:
                    self._clean_up(run.deadline)
                except CleanupTooSlow:
                    self.retiring = True  # what is left in its scratch directory goes with this worker
                    verdicts.stop(ProgramStopped("timeout", CLEANUP_TIMEOUT), None)
                    return _result(verdicts.outcome(), verdicts, verdicts.error, Capture(0))
                capture = run.session(verdicts, [])
        return _result(verdicts.outcome(), verdicts, verdicts.error, capture)

    def _clean_up(self, deadline: float) -> None:
        """Wait until every process of the last program is gone, then empty what it wrote.

        Done before a program rather than after one, so that the last program's teardown
        overlaps with answering the host and reading the next job. A program can leave more
        entries than can be removed in the next one's time limit; then this worker ends
        (a failure of its own, so the judge runs the next program on a new worker, and the
        kernel frees the old worker's tmpfs with its sandbox)."""
        try:
            for zygote in self.zygotes.values():
                zygote.settle(deadline)
        except TimeoutError:
            raise CleanupTooSlow("the last program's processes could not be killed in time") from None
        self.oom_seen = self._oom_kills()  # a program's child the OOM killer ended is not the next one's
        for directory in filter(None, (self.scratch, self.shm)):
            if not scratch.is_empty(directory):
                try:
                    scratch.empty(directory, deadline)
                except scratch.TooSlow:
                    raise CleanupTooSlow("the last program left more files than can be removed in this "
                                         "program's time limit; a new worker takes over") from None

    def _oom_kills(self) -> int:
        return read_oom_kills(self.cgroup["version"], self.cgroup["programs"]) if self.cgroup else 0

    def _memory_exceeded(self) -> bool:
        """Whether the cgroup's OOM killer struck since last asked: only this worker's programs live there."""
        kills = self._oom_kills()
        exceeded, self.oom_seen = kills > self.oom_seen, kills
        return exceeded


class _Run:
    """One program against one problem's tests."""

    def __init__(self, zygote: Zygote, source: str, lines: int, spec: dict[str, Any], limits: Limits, devnull: int,
                 memory_exceeded: Callable[[], bool], deadline: float):
        self.zygote, self.source, self.lines, self.spec, self.limits = zygote, source, lines, spec, limits
        self.devnull, self.memory_exceeded, self.deadline = devnull, memory_exceeded, deadline

    def _process(self, bootstrap: tuple, stdin_fd: int, deadline: float, capture: Capture, serve: bool):
        return ProgramProcess(self.zygote, self.limits, marshal.dumps(bootstrap), stdin_fd, deadline, capture, serve,
                              self.memory_exceeded)

    def session(self, verdicts: Verdicts, plan: list[PlannedCall]) -> Capture:
        capture = Capture(self.limits.max_output_bytes)
        deadline = self.deadline
        bootstrap = ("serve", self.source, [(c.target, c.args) for c in plan], self.spec["wanted"])
        proc = self._process(bootstrap, self.devnull, deadline, capture, serve=True)
        try:
            session = Session(proc, plan, self.lines)
            try:
                session.start()
                with _Watchdog.until(deadline + WATCHDOG_GRACE_S):
                    if self.spec["style"] == "call":
                        _call_tests(session, self.spec, verdicts)
                    else:
                        _assert_tests(session, self.spec, verdicts)
            except ProgramStopped as exc:
                verdicts.stop(exc, None)
        finally:
            proc.close()
        return capture

    def stdio(self, verdicts: Verdicts) -> Capture:
        deadline = self.deadline
        capture = Capture(0)
        for stdin_text, expected in self.spec["cases"]:
            started = time.monotonic()
            capture = Capture(self.limits.max_output_bytes)
            try:
                stdout, error = self._main_once(stdin_text, deadline, capture)
                if error is not None:
                    raise ProgramStopped("timeout" if error["type"] == "CPUTimeLimit" else "runtime_error", error)
                with _Watchdog.until(deadline + WATCHDOG_GRACE_S):
                    matches = stdout_matches(stdout, expected)
            except ProgramStopped as exc:
                verdicts.stop(exc, None if exc.verdict == "compile_error" else started)
                return capture
            kept = stdout if len(stdout) <= RECORD_LIMIT else None
            if matches:
                verdicts.add("pass", started, output=kept)
            else:
                verdicts.add("failure", started, f"expected {expected[:200]!r}, got {stdout[:200]!r}", output=kept)
        return capture

    def _main_once(self, stdin_text: str, deadline: float, capture: Capture) -> tuple[str, dict[str, Any] | None]:
        stdin_fd = os.memfd_create("stdin")
        try:
            os.write(stdin_fd, stdin_text.encode())
            os.lseek(stdin_fd, 0, os.SEEK_SET)
            proc = self._process(("main", self.source, [], []), stdin_fd, deadline, capture, serve=False)
        finally:
            os.close(stdin_fd)
        try:
            status = proc.wait_exit()
            try:
                ready, frame = proc.frames.pop()
            except channel.BrokenFrame as exc:
                raise broken_channel(str(exc)) from None
            stopped = proc.stopped() if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0 else None
        finally:
            proc.close()
        stdout = capture.text("stdout")
        if ready and isinstance(frame, dict) and "compile_error" in frame:
            raise ProgramStopped("compile_error", reported_error(frame["compile_error"], self.lines))
        if ready:
            return stdout, reported_error(frame, self.lines)
        if stopped is None:
            return stdout, None
        if stopped.error["type"] == "EarlyExit":
            return stdout, stopped.error | {"message": f"exited with status {os.WEXITSTATUS(status)}"}
        return stdout, stopped.error


class _Watchdog:
    """Test code and comparisons on a program's behalf end at its deadline, whatever they do.

    The SIGALRM handler is installed once and raises only while armed: an alarm that arrives
    just as the guarded work ends is ignored rather than killing the worker, and zygote
    exchanges block the signal (see ``Zygote``) so that it never lands inside one.
    """

    armed = False

    @classmethod
    def install(cls) -> None:
        signal.signal(signal.SIGALRM, cls._expire)

    @classmethod
    def _expire(cls, signum, frame) -> None:
        if cls.armed:
            cls.armed = False
            raise ProgramStopped("timeout", TIMEOUT)

    @classmethod
    @contextmanager
    def until(cls, deadline: float) -> Iterator[None]:
        cls.armed = True
        signal.setitimer(signal.ITIMER_REAL, max(1e-3, deadline - time.monotonic()))
        try:
            yield
        finally:
            cls.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)


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
            verdicts.add("failure", started, f"expected {excerpt(expected)}, got {excerpt(actual)}",
                         session.planned_time - before, output)


def _plain_or_none(value: Any) -> Any:
    try:
        plain = plaindata.to_json(value)
    except plaindata.NotPlainData:
        return None
    return plain if len(plaindata.dumps(plain)) <= RECORD_LIMIT else None


def _assert_tests(session: Session, spec: dict[str, Any], verdicts: Verdicts) -> None:
    """The tests see Python's builtins and, of the program, only the names they use. Their
    ``random`` is seeded the same for every program, so earlier programs cannot change the
    inputs a later one gets, and a verdict can be reproduced."""
    missing = [name for name in spec["wanted"] if name not in session.names]
    if missing:
        error = {"type": "NameError", "line": None,
                 "message": f"the program defines no {missing[0]!r}, which the tests use"}
        verdicts.stop(ProgramStopped("runtime_error", error), None)
        return
    failed: list[bool] = []
    namespace = {"__name__": "__rltf_tests__", "__builtins__": builtins, **spec["given"],
                 **{name: session.names[name] for name in spec["wanted"]}, CHECK: _recorder(failed)}
    random.seed(0)
    try:
        exec(spec["setup"], namespace)
        setup_error = "test setup: an assertion failed" if failed else None
    except ProgramStopped as exc:
        verdicts.stop(exc, None)
        return
    except Exception as exc:
        setup_error = f"test setup raised {type(exc).__name__}: {exc}"
    for test, message in zip(spec["asserts"], spec["messages"]):
        started, before = time.monotonic(), session.planned_time
        if setup_error:
            verdicts.add("failure", started, setup_error)
            continue
        failed.clear()
        try:
            exec(test, namespace)
        except ProgramStopped as exc:
            verdicts.stop(exc, started, session.planned_time - before)
            return
        except Exception as exc:
            verdicts.add("failure", started, f"test raised {type(exc).__name__}: {excerpt(str(exc), 300)}",
                         session.planned_time - before)
            continue
        if failed:
            detail = f"AssertionError (its message, not evaluated: {message})" if message else "AssertionError"
            verdicts.add("failure", started, detail, session.planned_time - before)
        else:
            verdicts.add("pass", started, extra_s=session.planned_time - before)


def _recorder(failed: list[bool]) -> Callable[[Any], None]:
    def check(holds: Any) -> None:
        if not holds:
            failed.append(True)

    return check


def _prepare_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Decode and compile a problem's tests once; every program of the problem reuses them.

    Tests that do not compile raise here: a failure of the worker, which is then replaced.
    """
    spec = dict(spec)
    spec["preamble"] = spec.get("preamble", "")
    if spec["style"] == "call":
        spec["cases"] = [(plaindata.from_json(a), plaindata.from_json(e)) for a, e in spec["cases"]]
        spec["plan"] = call_plan(spec["fn_name"], spec.get("class_name"), spec["cases"])
        spec["wanted"] = [spec.get("class_name") or spec["fn_name"]]
    elif spec["style"] == "assert":
        entry_point = spec.get("entry_point")
        setup, _ = without_messages(spec.get("setup_code", ""))
        stripped = [without_messages(src) for src in spec["asserts"]]
        asserts = [source for source, _ in stripped]
        spec["messages"] = [" | ".join(messages) for _, messages in stripped]
        spec["plan"] = assert_plan(setup, asserts, entry_point)
        spec["given"] = _given_names(names_used(setup, asserts, entry_point), entry_point, spec.get("prefix", ""))
        spec["wanted"] = [name for name in names_used(setup, asserts, entry_point) if name not in spec["given"]]
        spec["setup"] = compile(checking(setup), "<test-setup>", "exec")
        spec["asserts"] = [compile(checking(src), f"<test-{i}>", "exec") for i, src in enumerate(asserts)]
    return spec


def _given_names(used: list[str], entry_point: str | None, prefix: str) -> dict[str, Any]:
    """Names the tests use that must not come from the program: what the problem's own given
    code defines (HumanEval's ``poly``, ``encode_cyclic``: a completion could redefine them to
    make the test agree with it) and standard-library modules (MBPP 596 compares with
    ``sys.getsizeof``; a program could bind ``sys`` to its own class). The given code is the
    dataset's, so the worker runs it; anything it prints goes nowhere."""
    given: dict[str, Any] = {}
    if prefix and set(used) - {entry_point}:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(prefix, "<given code>", "exec"), given)
    names = {}
    for name in used:
        if name == entry_point:
            continue
        if name in given and not name.startswith("__"):
            names[name] = given[name]
        elif name in sys.stdlib_module_names:
            names[name] = importlib.import_module(name)
    return names


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


def serve(base: Zygote, config: dict[str, Any], proto_in: int, proto_out: int) -> None:
    """Read jobs from the host and answer each, until the host closes the pipe or the
    worker's own code fails (then it says so and ends, and the host starts a new one)."""
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(TEST_INT_DIGITS)
    _Watchdog.install()
    worker = Worker(base, config)
    tests_bytes = 0
    try:
        channel.send(proto_out, {"ready": True, "pid": os.getpid()})
        while True:
            try:
                raw = channel.recv_bytes(proto_in)
            except channel.ChannelClosed:
                return
            job = plaindata.loads(raw)
            tests_bytes += len(raw) if job.get("spec") is not None else 0
            try:
                reply = {"id": job["id"], "result": worker.run_job(job)}
            except (Exception, ProgramStopped, PlanDiverged):
                channel.send(proto_out, {"id": job["id"], "internal_error": traceback.format_exc()})
                return
            retire = worker.retiring or _resident_bytes() > RETIRE_ABOVE_BYTES + 8 * tests_bytes
            channel.send(proto_out, reply | {"retire": True} if retire else reply)
            if retire:
                return
    finally:
        worker.close()


def _resident_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
