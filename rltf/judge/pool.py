"""The judge as its users see it: many programs in, one typed result per program out.

A few long-lived workers (two per core by default) each serve one program at a time,
so the cost per program is a fork, not an interpreter start-up. A worker that a
program manages to kill, or that does not answer within the host's bound, is replaced,
and that program is scored as a runtime error or a timeout.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from rltf.errors import RltfError
from rltf.problems import CallTests, Problem, StdioTests

from . import channel, plaindata
from .confine import Limits
from .launch import Resources, WorkerProcess, WorkerTimedOut
from .result import JudgeResult, ProgramError
from .sandbox import detect
from .view import DEFAULT_PACKAGES

log = logging.getLogger("rltf.judge")
# The host's own bound on one program, beyond the worker's: a worker that has not answered
# by then is killed and replaced, and the program scored as a timeout.
_HOST_BOUND_FACTOR, _HOST_GRACE_S = 2.0, 5.0
# More workers than this per core only queue for the CPU, each holding memory and a sandbox.
MAX_WORKERS_PER_CORE = 8
# Limits a user may set, checked where they are read (CLI options, config files) and here.
LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "timeout_s": (0.001, 3600.0),
    "memory_mb": (64, 1 << 20),
    "workers": (1, 4096),
}


@dataclass(frozen=True)
class JudgeConfig:
    """Limits apply per program; ``timeout_s`` covers all of a program's tests together.

    ``workers`` defaults to two per core (``default_workers``). ``packages`` are the
    importable packages programs see besides the standard library (with bubblewrap; without
    it programs see the host's whole environment).
    """

    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_output_bytes: int = 4 << 20
    max_file_mb: int = 64
    max_processes: int = 32
    max_program_bytes: int = 128 << 10
    workers: int | None = None
    isolation: str = "auto"
    packages: tuple[str, ...] = DEFAULT_PACKAGES

    def __post_init__(self) -> None:
        for name, (low, high) in LIMIT_RANGES.items():
            value = getattr(self, name)
            if value is not None and not low <= value <= high:  # also refuses NaN
                raise RltfError(f"judge setting {name} must be between {low:g} and {high:g}, got {value!r}")

    def limits(self) -> Limits:
        return Limits(self.timeout_s, self.memory_mb, self.max_output_bytes, self.max_file_mb, self.max_processes,
                      self.max_program_bytes)


def default_workers() -> int:
    """Two per core: a program waiting out its timeout holds a worker, not a core."""
    return 2 * (os.cpu_count() or 1)


def worker_count(requested: int | None) -> int:
    """The workers to start: a request beyond ``MAX_WORKERS_PER_CORE`` per core is capped, with a warning."""
    if requested is None:
        return default_workers()
    cap = MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)
    if requested > cap:
        log.warning("%d judge workers on %d cores would only queue for the CPU; using %d (%d per core)",
                    requested, os.cpu_count() or 1, cap, MAX_WORKERS_PER_CORE)
        return cap
    return requested


class JudgeCancelled(RltfError):
    """A ``Judge.run`` stopped by ``Judge.cancel`` (Ctrl-C): its programs were killed, none was scored."""


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
    return spec | {"style": "assert", "setup_code": tests.setup_code, "asserts": list(tests.asserts),
                   "entry_point": problem.entry_point, "prefix": problem.program_prefix}


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
        isolation = detect(self.config.isolation, tuple(self.config.packages))
        self._size = worker_count(self.config.workers)
        self._resources = Resources(isolation, self._size, self.config.memory_mb, self.config.max_processes)
        self._jobs: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._busy: dict[int, tuple[_Batch, WorkerProcess]] = {}
        self._busy_lock = threading.Lock()
        self._batches: set[_Batch] = set()

    @property
    def isolation(self) -> str:
        """The isolation in force, in words (printed by ``rltf eval`` and ``rltf train``)."""
        return self._resources.describe()

    @property
    def id(self) -> str:
        """Appears in every worker's command line."""
        return self._resources.id

    @property
    def memory_limit(self) -> str:
        """``"cgroup v1"``, ``"cgroup v2"`` (one cap on everything) or ``"rlimits"``."""
        return self._resources.memory_limit

    @property
    def program_uids(self) -> range | None:
        """The uids this judge's programs run as (only when it runs as root)."""
        return self._resources.uids.uids if self._resources.uids else None

    def __enter__(self) -> "Judge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cancel(self) -> None:
        """Stop every ``run`` in progress, from any thread: queued programs are dropped and
        running ones killed with their workers, so each such ``run`` raises ``JudgeCancelled``
        within moments instead of judging what is left. The judge stays usable."""
        for batch in list(self._batches):
            self._cancel(batch)

    @contextmanager
    def cancelled_on_error(self) -> Iterator["Judge"]:
        """Cancel what is being judged when the block raises (Ctrl-C included), so threads that
        wait for a ``run`` to return are not kept waiting for programs nobody will use."""
        try:
            yield self
        except BaseException:
            self.cancel()
            raise

    def _cancel(self, batch: _Batch) -> None:
        batch.fail(JudgeCancelled("judging was cancelled"))
        with self._busy_lock:
            running = [worker for owner, worker in self._busy.values() if owner is batch]
        for worker in running:
            worker.kill()

    def close(self) -> None:
        """Returns once every process the judge started is gone."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._resources.close()

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
        self._batches.add(batch)
        specs: dict[str, dict[str, Any]] = {}
        limits = self.config.limits()._asdict()
        for (key, program, record), i in first.items():
            if key not in specs:
                specs[key] = test_spec(submissions[i].problem)
            job = {"id": i, "key": key, "program": program, "limits": limits, "record": record}
            self._jobs.put((batch, i, job, specs[key], submissions[i].problem.task_id))
        try:
            batch.done.wait()
        except BaseException:  # Ctrl-C: the caller will not wait for the rest
            self._cancel(batch)
            raise
        finally:
            self._batches.discard(batch)
        if isinstance(batch.failure, JudgeCancelled):
            raise batch.failure
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
            batch, index, job, spec, task_id = item
            if batch.failure is not None:
                continue
            try:
                result, worker = self._judge_one(worker, slot, job, spec, task_id, batch)
            except Exception as exc:
                batch.fail(exc)
                continue
            if batch.failure is None:
                batch.finish(index, result)

    def _judge_one(self, worker: WorkerProcess | None, slot: int, job: dict[str, Any], spec: dict[str, Any],
                   task_id: str, batch: _Batch, retried: bool = False) -> tuple[JudgeResult, WorkerProcess | None]:
        """The result and the worker to use next (None once it had to be dropped).

        A worker whose own code fails ends itself; the program is judged once more by a new
        worker, and a second failure is logged (with the task) and scored ``JudgeError``.
        """
        total = len(spec["cases"]) if spec["style"] != "assert" else len(spec["asserts"])
        worker = worker or WorkerProcess(self._resources, slot)
        bound = _HOST_BOUND_FACTOR * self.config.timeout_s + _HOST_GRACE_S
        with self._busy_lock:
            self._busy[slot] = (batch, worker)
        try:
            if batch.failure is not None:  # cancelled while this worker was starting
                raise channel.ChannelClosed()
            reply = worker.judge(job, spec, bound)
        except WorkerTimedOut:
            worker.close()
            return _replaced("timeout", total, "Timeout", "judging this program took longer than its limits allow"), None
        except (channel.ChannelClosed, OSError, ValueError):
            worker.close()
            return _replaced("runtime_error", total, "WorkerKilled", "the program killed or broke its judge worker"), None
        finally:
            with self._busy_lock:
                self._busy.pop(slot, None)
        if "internal_error" not in reply:
            if reply.get("retire"):  # it grew too big; it answered first, so no program pays for it
                worker.close()
                return JudgeResult.from_dict(reply["result"]), None
            return JudgeResult.from_dict(reply["result"]), worker
        worker.close()
        if not retried:
            log.debug("rltf judge: worker failed on task %s, judging again:\n%s", task_id, reply["internal_error"])
            return self._judge_one(None, slot, job, spec, task_id, batch, retried=True)
        log.error("rltf judge: the judge failed twice on a program for task %s; it is scored as a runtime error "
                  "(JudgeError):\n%s", task_id, reply["internal_error"])
        return JudgeResult("runtime_error", 0, 0, total,
                           error=ProgramError("JudgeError", "the judge failed on this program (see log)"),
                           notes=("judge internal error",)), None


def _replaced(outcome: str, total: int, kind: str, message: str) -> JudgeResult:
    return JudgeResult(outcome, 0, 0, total, error=ProgramError(kind, message), notes=("worker replaced",))


def _problem_key(problem: Problem) -> str:
    digest = hashlib.blake2b(repr((problem.source, problem.task_id, problem.tests, problem.program_preamble,
                                   problem.entry_point, problem.program_prefix)).encode(), digest_size=12)
    return digest.hexdigest()
