"""The judge as its users see it: many programs in, one typed result per program out.

A few long-lived workers (one per core by default) each serve one program at a time,
so the cost per program is a fork, not an interpreter start-up. A worker that a
program manages to kill is replaced, and that program is scored as a runtime error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import subprocess
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from rltf.errors import RltfError
from rltf.problems import CallTests, Problem, StdioTests

from . import channel, plaindata
from .confine import Limits
from .result import JudgeResult, ProgramError
from .sandbox import PROGRAM_UID_BASE, WORKER_ENV, Isolation, detect

log = logging.getLogger("rltf.judge")
_HOST_GRACE_S = 30.0


@dataclass(frozen=True)
class JudgeConfig:
    """Limits apply per program; ``timeout_s`` covers all of a program's tests together.

    ``workers`` defaults to two per core (``default_workers``).
    """

    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_output_bytes: int = 4 << 20
    max_file_mb: int = 64
    max_processes: int = 32
    workers: int | None = None
    isolation: str = "auto"

    def limits(self) -> Limits:
        return Limits(self.timeout_s, self.memory_mb, self.max_output_bytes, self.max_file_mb, self.max_processes)


def default_workers() -> int:
    """Two per core: a program waiting out its timeout holds a worker, not a core."""
    return 2 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Submission:
    """``record_outputs`` keeps each test's actual output in the result (for oracles)."""

    problem: Problem
    program: str
    record_outputs: bool = False


def test_spec(problem: Problem) -> dict[str, Any]:
    """The tests of a problem as the worker receives them (plain data)."""
    tests = problem.tests
    spec: dict[str, Any] = {"preamble": problem.program_preamble}
    if isinstance(tests, CallTests):
        return spec | {"style": "call", "fn_name": tests.fn_name, "class_name": tests.class_name,
                       "cases": [[plaindata.to_json(list(c.args)), plaindata.to_json(c.expected)]
                                 for c in tests.cases]}
    if isinstance(tests, StdioTests):
        return spec | {"style": "stdio", "cases": [[c.stdin, c.expected_stdout] for c in tests.cases]}
    return spec | {"style": "assert", "setup_code": tests.setup_code, "asserts": list(tests.asserts)}


class WorkerProcess:
    """A sandboxed worker and the problems whose tests it already holds."""

    def __init__(self, isolation: Isolation, index: int):
        config = {
            "uid": PROGRAM_UID_BASE + index if isolation.drop_to_uid else None,
            "scratch_root": os.path.join(isolation.scratch_root, f"worker-{index}"),
            "private_pids": isolation.private_pids,
        }
        self.proc = subprocess.Popen(isolation.worker_command(plaindata.dumps(config).decode()),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=WORKER_ENV)
        self.known: set[str] = set()
        try:
            hello = channel.recv(self.proc.stdout.fileno())
        except (channel.ChannelClosed, ValueError) as exc:
            self.close()
            raise RltfError("a judge worker failed to start (its error output is above); "
                            f"isolation was: {isolation.kind}") from exc
        if not hello.get("ready"):
            raise RltfError(f"a judge worker failed to start: {hello}")

    def judge(self, job: dict[str, Any], spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        job = {**job, "spec": None if job["key"] in self.known else spec}
        channel.send(self.proc.stdin.fileno(), job)
        reply = _recv_with_timeout(self.proc, timeout_s)
        self.known.add(job["key"])
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            pipe.close()


def _recv_with_timeout(proc: subprocess.Popen, timeout_s: float) -> dict[str, Any]:
    """The worker enforces every limit itself; this only guards against the worker hanging."""
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    try:
        return channel.recv(proc.stdout.fileno())
    finally:
        timer.cancel()


class _Batch:
    """One call of ``Judge.run``: where its results go and when it is complete."""

    def __init__(self, size: int, progress: Callable[[int], None] | None, copies: dict[int, list[int]]):
        self.results: list[JudgeResult | None] = [None] * size
        self.copies = copies
        self.left = size
        self.progress = progress
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self._lock = threading.Lock()
        if size == 0:
            self.done.set()

    def fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.done.set()

    def finish(self, index: int, result: JudgeResult) -> None:
        """The result also stands for the identical submissions that were not run."""
        same = [index, *self.copies.get(index, ())]
        for i in same:
            self.results[i] = result
        if self.progress is not None:
            self.progress(len(same))
        with self._lock:
            self.left -= len(same)
            if self.left == 0:
                self.done.set()


class Judge:
    """Runs programs against their problem's tests on all cores, in isolation.

    Each worker belongs to a thread that lives as long as the judge: bubblewrap's
    ``--die-with-parent`` follows the thread that started it, not the process.
    """

    def __init__(self, config: JudgeConfig | None = None):
        self.config = config or JudgeConfig()
        self._isolation = detect(self.config.isolation)
        self._size = self.config.workers or default_workers()
        self._jobs: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []

    @property
    def isolation(self) -> str:
        return self._isolation.description

    def __enter__(self) -> "Judge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def run(self, submissions: Sequence[Submission], progress: Callable[[int], None] | None = None) -> list[JudgeResult]:
        """Judge every submission; results come back in the order given.

        Identical programs for the same problem are run once and share the result: RL
        batches repeat programs often (over 40% of a step's samples once a model is
        trained), and judging is what a step waits for. A flaky program's copies
        therefore get one verdict, not several draws.
        """
        if not self._threads:
            self._threads = [threading.Thread(target=self._slot, args=(slot,), daemon=True, name=f"rltf-judge-{slot}")
                             for slot in range(self._size)]
            for thread in self._threads:
                thread.start()
        first: dict[tuple[str, str, bool], int] = {}
        copies: dict[int, list[int]] = {}
        for i, sub in enumerate(submissions):
            same = first.setdefault((_problem_key(sub.problem), sub.program, sub.record_outputs), i)
            if same != i:
                copies.setdefault(same, []).append(i)
        batch = _Batch(len(submissions), progress, copies)
        specs: dict[str, dict[str, Any]] = {}
        limits = asdict(self.config.limits())
        for (key, program, record), i in first.items():
            if key not in specs:
                specs[key] = test_spec(submissions[i].problem)
            job = {"id": i, "key": key, "program": program, "limits": limits, "record": record}
            self._jobs.put((batch, i, job, specs[key]))
        batch.done.wait()
        if batch.failure is not None:
            raise RltfError(f"the judge failed: {batch.failure}") from batch.failure
        return batch.results  # type: ignore[return-value]

    def _slot(self, slot: int) -> None:
        worker: WorkerProcess | None = None
        while True:
            item = self._jobs.get()
            if item is None:
                if worker is not None:
                    worker.close()
                return
            batch, index, job, spec = item
            if batch.failure is not None:
                continue
            try:
                if worker is None:
                    worker = WorkerProcess(self._isolation, slot)
                result, worker = self._judge_one(worker, job, spec)
            except Exception as exc:
                batch.fail(exc)
                continue
            batch.finish(index, result)

    def _judge_one(self, worker: WorkerProcess, job: dict[str, Any], spec: dict[str, Any]):
        """Returns the result and the worker to use next (None once it had to be dropped)."""
        total = len(spec["cases"]) if spec["style"] != "assert" else len(spec["asserts"])
        try:
            reply = worker.judge(job, spec, self.config.timeout_s + _HOST_GRACE_S)
        except (channel.ChannelClosed, OSError, ValueError):
            worker.close()
            return _lost_worker(total), None
        if "internal_error" in reply:
            log.error("rltf judge: internal error on job %s:\n%s", job["id"], reply["internal_error"])
            return JudgeResult("runtime_error", 0, 0, total,
                               error=ProgramError("JudgeError", "the judge failed on this program (see log)"),
                               notes=("judge internal error",)), worker
        return JudgeResult.from_dict(reply["result"]), worker


def _lost_worker(total: int) -> JudgeResult:
    return JudgeResult("runtime_error", 0, 0, total,
                       error=ProgramError("WorkerKilled", "the program killed or broke its judge worker"),
                       notes=("worker replaced",))


def _problem_key(problem: Problem) -> str:
    digest = hashlib.blake2b(repr((problem.source, problem.task_id, problem.tests)).encode(), digest_size=12)
    return digest.hexdigest()
