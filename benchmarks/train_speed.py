"""End-to-end RL step speed of ``rltf train`` on the embedded default model.

The issue's yardstick: 64 completions per step (16 problems x 4), at most 40 new tokens,
on a 2-core CPU, measured as seconds per 1,000 judged completions, end to end (generate,
judge, score, learn). For scale, TRL's GRPOTrainer took 9.4-9.5 s per 1,000 on the same
model, batch and reward here. The model is first warmed up by SFT so that its programs
look like real ones (a random model's are all syntax errors, which judge in no time).

Variants isolate where the time goes: zero-advantage skipping and overlapping the judge
with learning and generation, each switched off in turn; ``actor.concurrent`` also runs
generation in its own thread beside the learner; the last variants add the fine-grained and
adaptive terms and the supervised term (the defaults: full RLTF), then the judged greedy
program the defaults had before, then no overlap, then fewer buffer rows learned per step
(a setting the method leaves free: its learner runs at its own pace beside the actor).

    .venv/bin/python benchmarks/train_speed.py [--steps 30] [--sft-steps 400] [--only 'full RLTF']

Writes benchmarks/results/train_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

import torch

from rltf.config import config_from_dict
from rltf.metrics import read_metrics
from rltf.trainer import train

RESULTS = Path(__file__).parent / "results"
COARSE_ONLY = {"unittest": {"fine": False, "adaptive": False}}
GRPO_LIKE = {"learner": {"sl_weight": 0.0, "baseline": "mean"}, "actor": {"greedy_baseline": False},
             "buffer": {"max_uses": 1}, "feedback": {"options": COARSE_ONLY}}
VARIANTS = {
    "rltf: overlap + zero-advantage skip": GRPO_LIKE,
    "+ concurrent actor (generation beside learning)": {**GRPO_LIKE, "actor": {**GRPO_LIKE["actor"], "concurrent": True}},
    "no zero-advantage skip": {**GRPO_LIKE, "learner": {**GRPO_LIKE["learner"], "skip_zero_advantage": False}},
    "no overlap": {**GRPO_LIKE, "run": {"overlap": False}},
    "overlap, 1 torch thread (a core left to the judge)": {**GRPO_LIKE, "run": {"threads": 1}},
    "neither (sequential, every row)": {**GRPO_LIKE, "run": {"overlap": False},
                                         "learner": {**GRPO_LIKE["learner"], "skip_zero_advantage": False}},
    "full RLTF: the defaults (coarse+fine+adaptive, SL term)": {},
    "full RLTF + greedy programs judged (the default before)": {"actor": {"greedy_baseline": True}},
    "full RLTF, no overlap": {"run": {"overlap": False}},
    "full RLTF, 48 buffer rows learned per step": {"learner": {"rl_batch_size": 48}},
}


def config(out: Path, steps: int, model: str, overrides: dict) -> dict:
    data = {"model": {"name": model}, "sft": {"steps": 0}, "data": {"eval_size": 16},
            "actor": {"problems_per_step": 16, "samples_per_problem": 4, "max_new_tokens": 40},
            "run": {"out": str(out), "max_steps": steps, "save_every": 0}}
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    return data


def measure(rows: list[dict], warmup: int) -> dict:
    timed = [r for r in rows if r["phase"] == "rl" and r["step"] > warmup and "samples" in r]
    sampled = [r["samples"] for r in timed]
    step_s = [r["step_s"] for r in timed]
    mean = lambda key: statistics.fmean(r.get(key, 0.0) for r in timed)  # noqa: E731
    per_step = statistics.fmean(step_s)
    return {
        "steps_timed": len(timed),
        "judged_per_step": statistics.fmean(sampled),
        "completions_per_step": 64,
        "s_per_1000_completions": 1000 * per_step / 64,
        "step_s": per_step, "gen_s": mean("gen_s"), "learn_s": mean("learn_s"), "learn_sl_s": mean("learn_sl_s"),
        "learn_rl_s": mean("learn_rl_s"), "judge_s": mean("judge_s"),
        "wait_s": mean("wait_s"), "overlap": mean("overlap"), "zero_advantage": mean("zero_advantage"),
        "rl_examples": mean("rl_examples"), "pass_rate": mean("pass_rate"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3, help="first steps left out of the timing")
    parser.add_argument("--sft-steps", type=int, default=400)
    parser.add_argument("--only", nargs="+", default=None, metavar="WORDS",
                        help="run only the variants whose names contain one of these")
    args = parser.parse_args()
    variants = {name: v for name, v in VARIANTS.items() if not args.only or any(w in name for w in args.only)}
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "sft"
        train(config_from_dict({"sft": {"steps": args.sft_steps}, "data": {"eval_size": 16},
                                "run": {"out": str(warm), "max_steps": 0, "save_every": 0}}), quiet=True)
        results = {}
        threads = torch.get_num_threads()
        for name, overrides in variants.items():
            out = Path(tmp) / f"v{len(results)}"
            torch.set_num_threads(threads)  # a variant that sets run.threads must not leak it into the next
            train(config_from_dict(config(out, args.steps, str(warm / "model"), overrides)), quiet=True)
            results[name] = measure(read_metrics(out / "metrics.jsonl"), args.warmup)
            print(f"{name}: {results[name]['s_per_1000_completions']:.2f} s per 1,000 completions", flush=True)
    meta = {"machine": f"{platform.machine()}, {threads} torch threads unless a variant says otherwise",
            "torch": torch.__version__,
            "steps": args.steps, "warmup_steps_excluded": args.warmup, "sft_steps": args.sft_steps}
    RESULTS.mkdir(exist_ok=True)
    stem = "train_speed" if not args.only else "train_speed_" + "_".join(
        "".join(c for c in word if c.isalnum()) for word in args.only)
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(meta, results))


def markdown(meta: dict, results: dict) -> str:
    lines = ["# RL step speed, embedded default model (16 problems x 4 samples, <= 40 new tokens)", "",
             f"{meta['machine']}, torch {meta['torch']}; {meta['steps']} RL steps after {meta['sft_steps']} SFT "
             f"steps, first {meta['warmup_steps_excluded']} excluded. Target: <= 10 s per 1,000 completions; "
             "TRL GRPOTrainer: 9.5 s (benchmarks/results/ablation.md).", "",
             "| variant | s / 1,000 completions | step s | generate s | learn s (SL / RL passes) | "
             "judge s (background) | wait for judge s | overlap | zero-advantage rows | rows learned |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['s_per_1000_completions']:.2f} | {r['step_s']:.3f} | {r['gen_s']:.3f} | "
                     f"{r['learn_s']:.3f} ({r['learn_sl_s']:.3f} / {r['learn_rl_s']:.3f}) | {r['judge_s']:.3f} | {r['wait_s']:.3f} | {r['overlap']:.0%} | "
                     f"{r['zero_advantage']:.0%} | {r['rl_examples']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
