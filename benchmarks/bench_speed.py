"""``rltf bench builtin`` on the quickstart's model: samples/s, judging hidden behind generation,
and the same work done the usual way (generate everything, then judge everything).

Both ways draw the same samples (a sample depends only on seed, task and index) and judge
them with the same judge and workers, so the difference is the overlap alone; the script
checks that both got the same verdicts, sample by sample.

* overlapped: ``run_bench`` as ``rltf bench`` runs it: the judge thread works on batch i
  while the main thread generates batch i+1.
* generate, then judge: the same generation code over every sample first, then one
  ``Judge.run`` over all of them, which is what ``rltf eval`` does with a samples file.

Run: ``.venv/bin/python benchmarks/bench_speed.py --model RUN_DIR [--n 10] [--batch-size 32]``
(RUN_DIR: a finished ``rltf train`` run, the quickstart's by default settings). Results go to
``benchmarks/results/bench_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rltf.bench.folder import RESULTS
from rltf.bench.run import Bench, BenchOptions, prepare, run_bench
from rltf.judge import Judge

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def overlapped(options: BenchOptions) -> tuple[dict, list[dict]]:
    began = time.perf_counter()
    run_bench(options, quiet=True)
    wall = time.perf_counter() - began
    folder = Path(options.out)
    timing = json.loads((folder / "timing.json").read_text())
    rows = [json.loads(line) for line in (folder / RESULTS).read_text().splitlines()]
    return {**timing, "command_wall_s": wall}, rows


def generate_then_judge(options: BenchOptions) -> tuple[dict, list[dict]]:
    began = time.perf_counter()
    plan = prepare(options, None)
    bench = Bench(plan, Path(options.out), console=None, quiet=True)  # type: ignore[arg-type]
    wanted = [(task, i) for task in plan.header.tasks for i in range(options.n)]
    generating = time.perf_counter()
    samples = []
    for start in range(0, len(wanted), options.batch_size):
        samples += bench.generate(wanted[start:start + options.batch_size])
    generate_s = time.perf_counter() - generating
    judging = time.perf_counter()
    with Judge(plan.judge) as judge:
        results = judge.run([bench.submission(row) for row in samples])
    judge_s = time.perf_counter() - judging
    rows = [{**row, **result.to_dict()} for row, result in zip(samples, results)]
    wall = time.perf_counter() - began
    return {"generate_s": generate_s, "judge_s": judge_s, "wall_s": generate_s + judge_s, "command_wall_s": wall,
            "samples": len(samples), "samples_per_s": len(samples) / (generate_s + judge_s)}, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a finished rltf train run folder")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="alternating repetitions of both ways")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    base = BenchOptions(benchmark="builtin", model=args.model, n=args.n, ks=(1, 5, 10), batch_size=args.batch_size,
                        workers=args.workers, device="cpu")
    runs: dict[str, list[dict]] = {"overlapped": [], "generate_then_judge": []}
    same = True
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as scratch:
            first, first_rows = overlapped(_at(base, scratch, "overlapped"))
            second, second_rows = generate_then_judge(_at(base, scratch, "sequential"))
        runs["overlapped"].append(first)
        runs["generate_then_judge"].append(second)
        same = same and _verdicts(first_rows) == _verdicts(second_rows)
    median = {way: _median(rows) for way, rows in runs.items()}
    result = {"model": args.model, "n": args.n, "batch_size": args.batch_size, "workers": args.workers or "default",
              "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "repeats": args.repeats, "runs": runs, **median, "same_samples_and_verdicts": same,
              "speedup": median["generate_then_judge"]["wall_s"] / median["overlapped"]["wall_s"],
              "wall_s_range": {way: [min(r["wall_s"] for r in rows), max(r["wall_s"] for r in rows)]
                               for way, rows in runs.items()}}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "bench_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / "bench_speed.md").write_text(markdown(result))
    print(markdown(result))


def _verdicts(rows: list[dict]) -> list[tuple]:
    return [(r["task_id"], r["sample"], r["completion"], r["outcome"]) for r in rows]


def _median(rows: list[dict]) -> dict:
    """Each figure's median over the repetitions."""
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]
            if isinstance(rows[0][key], (int, float))}


def _at(options: BenchOptions, scratch: str, name: str) -> BenchOptions:
    from dataclasses import replace

    return replace(options, out=str(Path(scratch) / name))


def markdown(r: dict) -> str:
    o, s = r["overlapped"], r["generate_then_judge"]
    return "\n".join([
        "# `rltf bench builtin`: overlapped judging against generate-then-judge",
        "",
        f"Model `{r['model']}`, {o['samples']} samples (n = {r['n']} per task), batch {r['batch_size']}, "
        f"judge workers {r['workers']}, {r['cpus']} CPUs, torch threads {r['torch_threads']}, "
        f"Python {r['python']}. Same samples and verdicts both ways: {r['same_samples_and_verdicts']}. "
        f"Medians of {r['repeats']} alternating repetitions; wall time ranges: overlapped "
        f"{r['wall_s_range']['overlapped'][0]:.1f}-{r['wall_s_range']['overlapped'][1]:.1f} s, generate then judge "
        f"{r['wall_s_range']['generate_then_judge'][0]:.1f}-{r['wall_s_range']['generate_then_judge'][1]:.1f} s.",
        "",
        "| way | generating (s) | judging (s) | waiting for the judge (s) | wall (s) | samples/s |",
        "|---|---|---|---|---|---|",
        f"| overlapped (`rltf bench`) | {o['generate_s']:.1f} | {o['judge_s']:.1f} | {o['wait_s']:.1f} | "
        f"{o['wall_s']:.1f} | {o['samples_per_s']:.1f} |",
        f"| generate, then judge | {s['generate_s']:.1f} | {s['judge_s']:.1f} | - | {s['wall_s']:.1f} | "
        f"{s['samples_per_s']:.1f} |",
        "",
        f"Judging hidden behind generation: {100 * o['judge_hidden']:.1f}% of the judge's time; "
        f"generate-then-judge over overlapped wall time: {r['speedup']:.2f}x.",
        "",
    ])


if __name__ == "__main__":
    main()
