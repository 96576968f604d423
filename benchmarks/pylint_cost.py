"""What the ``pylint`` feedback provider costs per program, beside running the pylint CLI per file.

pylint runs on every sampled program of every training step, so its cost per program adds to the
step time. The provider keeps one pylint worker process and sends it whole batches; this measures
what that buys on realistic programs (MBPP's reference solutions), through the provider's own
``rltf_score`` (so JSON transport and reward building are included):

* start-up: a fresh provider's first batch (one program without imports), which starts the
  worker process and builds its linter, less that program's cost on the warm worker;
* first sight: every program once, in batches of 64, on a worker that has seen none of them
  (the first program to import a standard-library module pays for parsing it);
* steady state: every program scored in batches of 1, 16, 64 and 256 by a warm worker (one that
  has already seen all the programs once, so the standard-library modules they import are parsed),
  median of the repetitions, in ms per program;
* naive: ``python -m pylint --output-format=json FILE`` as a subprocess per program, with the same
  messages disabled, on the first programs only (it is slow).

Run: ``.venv/bin/python benchmarks/pylint_cost.py [--quick] [--data PATH] [--out-dir DIR]``.
Results go to ``benchmarks/results/pylint_cost.{json,md}`` (``pylint_cost_quick.*`` with
``--quick``, so a smoke run never replaces the full results).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from rltf.datasets import load_dataset
from rltf.feedback import JudgedSample
from rltf.judge.result import JudgeResult
from rltf.problems import Problem
from rltf_pylint import DEFAULT_DISABLED, PylintFeedback
from rltf_pylint.provider import ALWAYS_OFF

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"
BATCH_SIZES = (1, 16, 64, 256)
REPETITIONS = 3
NAIVE_PROGRAMS = 20
QUICK = {"programs": 64, "repetitions": 1, "naive": 5}
TRIVIAL_PROGRAM = "def f(x):\n    return x + 1\n"


def mbpp_samples(path: Path, limit: int | None) -> list[JudgedSample]:
    problems = list(load_dataset("mbpp", str(path)))[:limit]
    return [JudgedSample(p.task_id, p, p.solutions[0], JudgeResult("pass", 1, 1, 1)) for p in problems]


def score_in_batches(provider: PylintFeedback, samples: Sequence[JudgedSample], batch_size: int) -> tuple[float, int]:
    """Wall time to score every sample, and the number of rewards given."""
    rewards = 0
    start = time.perf_counter()
    for first in range(0, len(samples), batch_size):
        rewards += sum(map(len, provider.rltf_score(samples=samples[first:first + batch_size], options={})))
    return time.perf_counter() - start, rewards


def worker_cpu_s(pid: int | None) -> float:
    """CPU time (user + system) the worker process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_run(provider: PylintFeedback, samples: Sequence[JudgedSample], batch_size: int) -> dict[str, float]:
    """Wall and CPU time of one pass; CPU time, unlike wall time, hardly depends on what else the
    (shared) machine is doing."""
    worker_before, trainer_before = worker_cpu_s(provider.worker.pid), time.process_time()
    wall, _ = score_in_batches(provider, samples, batch_size)
    return {"wall_s": wall, "worker_cpu_s": worker_cpu_s(provider.worker.pid) - worker_before,
            "trainer_cpu_s": time.process_time() - trainer_before}


def measure_start_up(problem: Problem) -> dict[str, float]:
    trivial = [JudgedSample("trivial", problem, TRIVIAL_PROGRAM, JudgeResult("pass", 1, 1, 1))]
    provider = PylintFeedback()
    try:
        first = score_in_batches(provider, trivial, 1)[0]
        first_cpu = worker_cpu_s(provider.worker.pid)
        again = min(score_in_batches(provider, trivial, 1)[0] for _ in range(5))
    finally:
        provider.close()
    return {"first_batch_s": first, "same_program_warm_s": again, "start_up_s": first - again,
            "first_batch_worker_cpu_s": first_cpu}


def measure_steady_state(samples: Sequence[JudgedSample], repetitions: int) -> dict[str, Any]:
    provider = PylintFeedback()
    try:
        provider.rltf_score(samples=[replace(samples[0], program=TRIVIAL_PROGRAM)], options={})
        warm_up_s, rewards = score_in_batches(provider, samples, 64)
        rows = []
        for batch_size in BATCH_SIZES:
            runs = [timed_run(provider, samples, batch_size) for _ in range(repetitions)]
            rows.append({"batch_size": batch_size, "runs": runs,
                         **{f"{key}_ms_per_program": 1000 * statistics.median(run[f"{key}_s"] for run in runs)
                            / len(samples) for key in ("wall", "worker_cpu", "trainer_cpu")}})
        memory = worker_memory_mb(provider.worker.pid)
    finally:
        provider.close()
    return {"warm_up_s": warm_up_s, "rewards": rewards, "rows": rows, "worker_memory_mb": memory}


def worker_memory_mb(pid: int | None) -> dict[str, int]:
    """Resident and peak resident memory of the worker, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return {"rss": fields["VmRSS"], "peak_rss": fields["VmHWM"]}


def measure_naive(samples: Sequence[JudgedSample]) -> dict[str, Any]:
    """One ``python -m pylint`` per program, as a script calling the CLI would do it."""
    disable = ",".join(DEFAULT_DISABLED + ALWAYS_OFF)
    times = []
    cpu_before = children_cpu_s()
    with tempfile.TemporaryDirectory() as directory:
        for index, sample in enumerate(samples):
            path = Path(directory) / f"program_{index}.py"
            path.write_text(sample.program, encoding="utf-8")
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pylint", "--persistent=n", "--output-format=json",
                            f"--disable={disable}", str(path)], cwd=directory, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
    return {"programs": len(samples), "wall_s": times, "wall_ms_per_program": 1000 * statistics.mean(times),
            "cpu_ms_per_program": 1000 * (children_cpu_s() - cpu_before) / len(samples)}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict[str, Any]:
    commit = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--", "plugins/rltf_pylint", "benchmarks/pylint_cost.py"):
        commit += " with uncommitted changes to the provider or this script"
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rltf_commit": commit,
            "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "pylint": importlib.metadata.version("pylint"), "astroid": importlib.metadata.version("astroid"),
            "load_average_at_start": os.getloadavg()}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()


def markdown(results: dict[str, Any]) -> str:
    m, start, steady, naive = results["machine"], results["start_up"], results["steady_state"], results["naive"]
    lines = [
        "# pylint feedback provider: cost per program",
        "",
        f"- Date: {m['date']}; rltf {m['rltf_commit']}; pylint {m['pylint']}, astroid {m['astroid']}",
        f"- Machine: {m['cores']} cores, Python {m['python']}, {m['platform']}; load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])} at start and "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_end'])} at end: the machine is shared, and "
        "its other work adds noise to every figure",
        f"- Programs: {results['programs']} MBPP reference solutions (`{results['data']}`), scored through "
        f"`PylintFeedback.rltf_score` with default options; {steady['rewards']} rewards in all",
        f"- Steady state: median of {results['repetitions']} repetition(s) over all programs, wall clock, "
        "after a warm-up pass",
        "",
        "## Start-up (excluded from the steady state)",
        "",
        f"A fresh provider's first batch (one program, no imports) takes {start['first_batch_s'] * 1000:.0f} ms; "
        f"the same program on the warm worker {start['same_program_warm_s'] * 1000:.1f} ms, so starting the "
        f"worker and building its linter costs about **{start['start_up_s'] * 1000:.0f} ms** of wall time, once "
        f"per provider (the worker's CPU time up to its first answer: "
        f"{start['first_batch_worker_cpu_s'] * 1000:.0f} ms).",
        "",
        f"First sight of every program (batches of 64, fresh worker): {steady['warm_up_s']:.2f} s, "
        f"{1000 * steady['warm_up_s'] / results['programs']:.2f} ms/program: the first program to import a "
        "standard-library module pays for astroid parsing it, once per worker.",
        "",
        "## Steady state",
        "",
        "Wall clock per program, and CPU time per program (the worker process plus the trainer's side:",
        "JSON, rewards); the ratios compare with the naive CLI's wall and CPU time.",
        "",
        "| batch size | wall ms/program | programs/s | CPU ms/program (worker + trainer) | vs naive, wall | "
        "vs naive, CPU |",
        "|---|---|---|---|---|---|",
    ]
    for row in steady["rows"]:
        wall, worker, trainer = (row[f"{key}_ms_per_program"] for key in ("wall", "worker_cpu", "trainer_cpu"))
        lines.append(f"| {row['batch_size']} | {wall:.2f} | {1000 / wall:.0f} | {worker + trainer:.2f} "
                     f"({worker:.2f} + {trainer:.2f}) | {naive['wall_ms_per_program'] / wall:.0f}x | "
                     f"{naive['cpu_ms_per_program'] / (worker + trainer):.0f}x |")
    lines += [
        f"| naive: `python -m pylint FILE` per program ({naive['programs']} programs) | "
        f"{naive['wall_ms_per_program']:.0f} | {1000 / naive['wall_ms_per_program']:.1f} | "
        f"{naive['cpu_ms_per_program']:.0f} | 1x | 1x |",
        "",
        f"Worker memory after all runs: {steady['worker_memory_mb']['rss']} MB resident, "
        f"{steady['worker_memory_mb']['peak_rss']} MB peak.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few programs, one repetition")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MBPP jsonl file")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    limit = QUICK["programs"] if args.quick else None
    repetitions = QUICK["repetitions"] if args.quick else REPETITIONS
    samples = mbpp_samples(args.data, limit)
    results = {
        "machine": machine(), "data": str(args.data), "programs": len(samples), "repetitions": repetitions,
        "start_up": measure_start_up(samples[0].problem),
        "steady_state": measure_steady_state(samples, repetitions),
        "naive": measure_naive(samples[:QUICK["naive"] if args.quick else NAIVE_PROGRAMS]),
    }
    results["machine"]["load_average_at_end"] = os.getloadavg()
    stem = "pylint_cost_quick" if args.quick else "pylint_cost"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
