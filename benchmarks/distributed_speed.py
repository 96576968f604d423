"""RL step speed on 1 and 2 ranks (torchrun, gloo) on this machine's CPU.

The yardstick of benchmarks/train_speed.py (the embedded default, 16 problems x 4 samples per
step, at most 40 new tokens, after an SFT warm-up): seconds per 1,000 judged completions and
samples per second, for one process with all the cores' threads, one process with one thread,
and two ranks with one thread each (each rank judging with its share of the cores), plus the
seconds per step rank 0 spends in collectives (gathering judged samples, summing gradients).
Every variant runs in its own process(es), one after another, never two at once.

    .venv/bin/python benchmarks/distributed_speed.py [--steps 30] [--sft-steps 400]

Writes benchmarks/results/distributed_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from rltf.config import config_from_dict, to_toml
from rltf.metrics import read_metrics
from rltf.trainer import train

RESULTS = Path(__file__).parent / "results"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
VARIANTS = {  # name: (ranks, torch threads per rank)
    "1 rank, 2 threads": (1, 2),
    "1 rank, 1 thread": (1, 1),
    "2 ranks, 1 thread each": (2, 1),
}


def run_variant(folder: Path, model: Path, steps: int, ranks: int, threads: int) -> list[dict]:
    out = folder / f"r{ranks}t{threads}"
    config = config_from_dict({
        "model": {"name": str(model)}, "sft": {"steps": 0}, "data": {"eval_size": 16},
        "actor": {"problems_per_step": 16, "samples_per_problem": 4, "max_new_tokens": 40},
        "run": {"out": str(out), "max_steps": steps, "save_every": 0, "threads": threads}})
    path = folder / f"{out.name}.toml"
    path.write_text(to_toml(config))
    launcher = [*TORCHRUN, str(ranks), "-m", "rltf"] if ranks > 1 else [sys.executable, "-m", "rltf"]
    subprocess.run([*launcher, "train", "--config", str(path), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return read_metrics(out / "metrics.jsonl")


def measure(rows: list[dict], warmup: int) -> dict:
    timed = [r for r in rows if r["phase"] == "rl" and r["step"] > warmup and "samples" in r]
    mean = lambda key: statistics.fmean(r.get(key, 0.0) for r in timed)  # noqa: E731
    return {"steps_timed": len(timed), "s_per_1000_completions": 1000 * mean("step_s") / 64,
            "samples_per_s": mean("samples_per_s"), "step_s": mean("step_s"), "gen_s": mean("gen_s"),
            "learn_s": mean("learn_s"), "judge_s": mean("judge_s"), "wait_s": mean("wait_s"),
            "collective_s": mean("collective_s"), "pass_rate": mean("pass_rate")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3, help="first steps left out of the timing")
    parser.add_argument("--sft-steps", type=int, default=400)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "sft"
        train(config_from_dict({"sft": {"steps": args.sft_steps}, "data": {"eval_size": 16},
                                "run": {"out": str(warm), "max_steps": 0, "save_every": 0}}), quiet=True)
        for name, (ranks, threads) in VARIANTS.items():
            rows = run_variant(Path(tmp), warm / "model", args.steps, ranks, threads)
            results[name] = measure(rows, args.warmup)
            print(f"{name}: {results[name]['s_per_1000_completions']:.2f} s per 1,000 completions", flush=True)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "torch": torch.__version__,
            "steps": args.steps, "warmup_steps_excluded": args.warmup, "sft_steps": args.sft_steps}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "distributed_speed.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (RESULTS / "distributed_speed.md").write_text(markdown(meta, results))


def markdown(meta: dict, results: dict) -> str:
    lines = ["# RL step speed on 1 and 2 ranks (embedded default, 16 problems x 4 samples, <= 40 new tokens)", "",
             f"{meta['machine']}, torch {meta['torch']}, gloo; {meta['steps']} RL steps after {meta['sft_steps']} "
             f"SFT steps, first {meta['warmup_steps_excluded']} excluded; rank 0's timings.", "",
             "| variant | s / 1,000 completions | samples/s | step s | generate s | learn s | judge s | "
             "wait for judge s | collectives s |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['s_per_1000_completions']:.2f} | {r['samples_per_s']:.1f} | {r['step_s']:.3f} | "
                     f"{r['gen_s']:.3f} | {r['learn_s']:.3f} | {r['judge_s']:.3f} | {r['wait_s']:.3f} | "
                     f"{r['collective_s']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
