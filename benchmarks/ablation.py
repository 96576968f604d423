"""The paper's claims in miniature: which of RLTF's feedback terms help, side by side with TRL's GRPO.

On the embedded default (the quickstart's model and built-in suite, 2-core CPU), per seed: one
SFT checkpoint (`rltf sft`, 300 steps), then every row starts from it with the same RL steps,
problems per step and samples per problem:

 1. control: the same RL run with the RL gradient off (`learner.rl_weight = 0`);
 2. continued SFT for the wall time row 6 took;
 3. offline RLTF: sample once from the SFT model, then train on that set (CodeRL's setting);
 4. online, coarse only;  5. online, coarse + fine;  6. online, coarse + fine + adaptive (RLTF);
 7. RLTF + pylint;  8. RLTF + Hypothesis-generated tests;
 9. TRL's GRPOTrainer on the same model, problems, samples and steps, rewarded 1/0 by rltf's judge
    (at rltf's learning rate; two lower rates as extra rows, run for the seeds asked with --rows).

Each row is measured by held-out greedy pass@1 on the 400 held-out tasks (`summary.json`; for
rows 2 and 9 `rltf bench builtin --temperature 0 --n 1`), pass@1/5/10 from 10 samples at
temperature 0.6 and top-p 0.95 (`rltf bench builtin --n 10`), the held-out outcome mix, wall
time, and seconds per 1,000 judged completions. Per claim (online > offline; +fine > coarse;
+adaptive > +fine; RLTF vs GRPO; RLTF vs control) the paired difference over seeds.

    .venv/bin/python benchmarks/ablation.py --seeds 0 1 2        # the whole table: hours on 2 cores
    .venv/bin/python benchmarks/ablation.py --quick --out-dir D   # one seed, five rows, a few steps

Needs TRL for row 9 (`pip install -e '.[bench]'`); rltf itself never imports it. Results:
benchmarks/results/ablation.{json,md} and ablation_pass1.png (updated after every run, so an
interrupted measurement keeps what it finished; a run already recorded is not run again).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
RL_STEPS, SFT_STEPS, EVAL_EVERY = 300, 300, 50
COARSE = {"feedback": {"options": {"unittest": {"fine": False, "adaptive": False}}}}
COARSE_FINE = {"feedback": {"options": {"unittest": {"adaptive": False}}}}
ROWS: dict[str, dict[str, Any]] = {
    "control (rl_weight = 0)": {"learner": {"rl_weight": 0.0}},
    "continued SFT, same wall time": {},
    "offline RLTF": {"run": {"mode": "offline"}, "buffer": {"capacity": 20000}},
    "online, coarse": COARSE,
    "online, coarse + fine": COARSE_FINE,
    "online, RLTF (coarse + fine + adaptive)": {},
    "RLTF + pylint": {"feedback": {"providers": ["unittest", "pylint"]}},
    "RLTF + hypothesis": {"feedback": {"providers": ["unittest", "hypothesis"]}},
    "TRL GRPOTrainer (pass/fail)": {},
    "TRL GRPOTrainer (pass/fail), lr 1e-4": {"lr": 1e-4},
    "TRL GRPOTrainer (pass/fail), lr 3e-5": {"lr": 3e-5},
}
CONTINUED_SFT, RLTF, GRPO = "continued SFT, same wall time", "online, RLTF (coarse + fine + adaptive)", \
    "TRL GRPOTrainer (pass/fail)"
QUICK_ROWS = ("control (rl_weight = 0)", "offline RLTF", "online, coarse", RLTF, GRPO)
CLAIMS = [("online > offline", RLTF, "offline RLTF"), ("+fine > coarse", "online, coarse + fine", "online, coarse"),
          ("+adaptive > +fine", RLTF, "online, coarse + fine"), ("RLTF > GRPO", RLTF, GRPO),
          ("RLTF > control", RLTF, "control (rl_weight = 0)"), ("RLTF > continued SFT", RLTF, CONTINUED_SFT),
          ("+pylint > RLTF", "RLTF + pylint", RLTF), ("+hypothesis > RLTF", "RLTF + hypothesis", RLTF)]


def rltf(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "rltf", *args], check=True, stdout=subprocess.DEVNULL)


def toml_sets(overrides: dict[str, Any], prefix: str = "") -> list[str]:
    """``{"learner": {"rl_weight": 0}}`` as ``--set learner.rl_weight=0`` arguments."""
    out = []
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out += toml_sets(value, dotted + ".")
        else:
            out += ["--set", f"{dotted}={json.dumps(value) if not isinstance(value, bool) else str(value).lower()}"]
    return out


class Plan:
    """Sizes: the quickstart's, or a few steps for the smoke test."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.sft_steps, self.rl_steps = (10, 2) if quick else (SFT_STEPS, RL_STEPS)
        self.problems_per_step, self.samples_per_problem = (2, 4) if quick else (16, 4)
        self.eval_every = 1 if quick else EVAL_EVERY
        self.eval_size = 4 if quick else 400
        self.samples = 2 if quick else 10
        self.data = ["--set", f"data.eval_size={self.eval_size}"] + (
            ["--set", "data.builtin_rl_only=10", "--set", "data.builtin_train=20"] if quick else [])
        self.actor = ["--set", "actor.problems_per_step=2", "--set", "run.offline_problems=4"] if quick else []


def sft_checkpoint(plan: Plan, seed: int, root: Path) -> Path:
    folder = root / f"sft-{seed}"
    if not (folder / "summary.json").exists():
        rltf("sft", "--seed", str(seed), "--steps", str(plan.sft_steps), "--out", str(folder), "--quiet",
             "--set", "run.save_every=0", *plan.data)
    return folder


def rl_row(plan: Plan, seed: int, sft: Path, folder: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    began = time.monotonic()
    rltf("train", "--model", str(sft / "model"), "--sft-steps", "0", "--max-steps", str(plan.rl_steps), "--seed",
         str(seed), "--out", str(folder), "--quiet", "--save-every", "0", "--set", f"run.eval_every={plan.eval_every}",
         *plan.data, *plan.actor, *toml_sets(overrides))
    wall = time.monotonic() - began
    summary = json.loads((folder / "summary.json").read_text())
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    rl = [r for r in rows if r["phase"] == "rl" and "samples" in r]
    curve = [[0, summary["before"]["pass@1"]]] + [[r["step"], r["pass@1"]] for r in rows if r["phase"] == "eval"]
    curve.append([plan.rl_steps, summary["after"]["pass@1"]])
    crash = [r.get("outcome/runtime_error", 0.0) + r.get("outcome/compile_error", 0.0) for r in rl[:5]]
    return {"wall_s": wall, "greedy_pass@1": summary["after"]["pass@1"], "before": summary["before"]["pass@1"],
            "greedy_outcomes": summary["after"]["outcomes"], "curve": curve,
            "s_per_1000": 1000 * sum(r["step_s"] for r in rl) / sum(r["samples"] for r in rl) if rl else None,
            "crash_share_at_start": statistics.fmean(crash) if crash else None}


def continued_sft_row(plan: Plan, seed: int, sft: Path, folder: Path, wall_s: float) -> dict[str, Any]:
    rows = [json.loads(line) for line in (sft / "metrics.jsonl").read_text().splitlines()]
    step_s = statistics.fmean(r["step_s"] for r in rows if r["phase"] == "sft")
    steps = max(1, round(wall_s / step_s))
    began = time.monotonic()
    rltf("sft", "--model", str(sft / "model"), "--steps", str(steps), "--seed", str(seed), "--out", str(folder),
         "--quiet", "--set", "run.save_every=0", *plan.data)
    summary = json.loads((folder / "summary.json").read_text())
    return {"wall_s": time.monotonic() - began, "sft_steps": steps, "greedy_pass@1": summary["after"]["pass@1"],
            "before": summary["before"]["pass@1"], "greedy_outcomes": summary["after"]["outcomes"],
            "curve": [[0, summary["before"]["pass@1"]], [plan.rl_steps, summary["after"]["pass@1"]]]}


def grpo_row(plan: Plan, seed: int, sft: Path, folder: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """Row 9 in a process of its own (TRL is imported only there): see grpo_baseline.py. The SFT
    run's config.toml goes beside its model, so `rltf bench builtin` measures it on the same
    held-out problems, prompt and length as the other rows. Its learning-rate variants show
    whether GRPO's result is its method's or rltf's learning rate's."""
    began = time.monotonic()
    lr = ["--lr", str(overrides["lr"])] if "lr" in overrides else []
    subprocess.run([sys.executable, str(Path(__file__).with_name("grpo_baseline.py")), "--model", str(sft / "model"),
                    "--out", str(folder), "--steps", str(plan.rl_steps), "--seed", str(seed), *lr,
                    *(["--quick"] if plan.quick else [])], check=True, stdout=subprocess.DEVNULL)
    (folder / "config.toml").write_text((sft / "config.toml").read_text())
    timing = json.loads((folder / "grpo.json").read_text())
    return {"wall_s": time.monotonic() - began, "s_per_1000": timing["s_per_1000"], "before": None,
            "curve": [[plan.rl_steps, None]]}


def bench(plan: Plan, model: Path, folder: Path, n: int, temperature: float) -> dict[str, Any]:
    ks = ",".join(str(k) for k in (1, 5, 10) if k <= n)
    rltf("bench", "builtin", "--model", str(model), "--n", str(n), "--k", ks, "--temperature", str(temperature),
         "--out", str(folder), "--quiet")
    return json.loads((folder / "summary.json").read_text())


def measure_row(plan: Plan, name: str, seed: int, sft: Path, root: Path, results: dict) -> dict[str, Any]:
    folder = root / f"{slug(name)}-{seed}"
    if name == CONTINUED_SFT:
        row = continued_sft_row(plan, seed, sft, folder, results[RLTF][str(seed)]["wall_s"])
        model = folder
    elif name.startswith(GRPO):
        row = grpo_row(plan, seed, sft, folder, ROWS[name])
        model = folder
    else:
        row = rl_row(plan, seed, sft, folder, ROWS[name])
        model = folder
    if name.startswith(GRPO):
        greedy = bench(plan, model, root / f"{slug(name)}-{seed}-greedy", 1, 0.0)["groups"]["all"]
        row.update({"greedy_pass@1": greedy["pass@1"], "greedy_outcomes": greedy["outcomes"]})
        row["curve"] = [[0, results[RLTF][str(seed)]["before"]], [plan.rl_steps, greedy["pass@1"]]]
    sampled = bench(plan, model, root / f"{slug(name)}-{seed}-bench", plan.samples, 0.6)
    row.update({f"sampled_{k}": v for k, v in sampled["groups"]["all"].items() if k.startswith("pass@")})
    row["sampled_outcomes"] = sampled["groups"]["all"]["outcomes"]
    return row


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=None, metavar="ROW")
    parser.add_argument("--quick", action="store_true", help="one seed, five rows, a few steps (smoke test)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=None, help="run folders here (default: OUT_DIR/ablation-runs)")
    args = parser.parse_args()
    plan = Plan(args.quick)
    seeds = args.seeds[:1] if args.quick else args.seeds
    names = list(QUICK_ROWS if args.quick else args.rows or ROWS)  # run in the order given
    if CONTINUED_SFT in names:  # row 2 needs row 6's wall time
        names = [RLTF] + [name for name in names if name != RLTF]
    root = args.work or args.out_dir / "ablation-runs"
    stem = "ablation_quick" if args.quick else "ablation"
    saved = args.out_dir / f"{stem}.json"
    results: dict[str, dict[str, Any]] = json.loads(saved.read_text())["rows"] if saved.exists() else {}
    for seed in seeds:
        sft = sft_checkpoint(plan, seed, root)
        for name in names:
            if str(seed) in results.get(name, {}):
                continue
            row = measure_row(plan, name, seed, sft, root, results)
            results.setdefault(name, {})[str(seed)] = row
            print(json.dumps({"row": name, "seed": seed, **{k: v for k, v in row.items() if k != "curve"}}), flush=True)
            write(args.out_dir, stem, plan, results)


def write(out_dir: Path, stem: str, plan: Plan, results: dict[str, dict[str, Any]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    ordered = {name: dict(sorted(results[name].items(), key=lambda item: int(item[0]))) for name in ROWS
               if name in results}
    meta = {"rl_steps": plan.rl_steps, "sft_steps": plan.sft_steps, "eval_size": plan.eval_size,
            "problems_per_step": plan.problems_per_step, "samples_per_problem": plan.samples_per_problem,
            "samples_for_pass_at_k": plan.samples, "cpus": os.cpu_count()}
    (out_dir / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": ordered}, indent=2) + "\n")
    (out_dir / f"{stem}.md").write_text(markdown(meta, ordered))
    draw(out_dir / f"{stem}_pass1.png", ordered)


def mean_spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:.2f}%"
    return f"{100 * statistics.fmean(values):.2f}% ± {100 * statistics.stdev(values):.2f}"


def markdown(meta: dict[str, Any], rows: dict[str, dict[str, Any]]) -> str:
    lines = ["# Ablation: RLTF's feedback terms, online vs offline, and TRL's GRPO", "",
             f"Embedded model, built-in suite, {meta['sft_steps']} SFT steps then {meta['rl_steps']} RL steps of "
             f"{meta['problems_per_step']} problems x {meta['samples_per_problem']} samples; held-out: {meta['eval_size']} tasks; pass@k from "
             f"{meta['samples_for_pass_at_k']} samples at temperature 0.6, top-p 0.95; {meta['cpus']} CPUs. "
             "Mean ± standard deviation over seeds (seeds listed per row).", "",
             "| row | seeds | greedy pass@1 | pass@1 | pass@5 | pass@10 | crash/compile share at RL start | "
             "wall time | s per 1,000 judged |", "|---|---|---|---|---|---|---|---|---|"]
    for name, by_seed in rows.items():
        runs = list(by_seed.values())
        crash = [r["crash_share_at_start"] for r in runs if r.get("crash_share_at_start") is not None]
        speed = [r["s_per_1000"] for r in runs if r.get("s_per_1000") is not None]
        lines.append(" | ".join([
            f"| {name}", ",".join(by_seed), mean_spread([r["greedy_pass@1"] for r in runs]),
            *(mean_spread([r[f"sampled_pass@{k}"] for r in runs if f"sampled_pass@{k}" in r]) for k in (1, 5, 10)),
            mean_spread(crash), f"{statistics.fmean(r['wall_s'] for r in runs) / 60:.1f} min",
            f"{statistics.fmean(speed):.1f}" if speed else "-"]) + " |")
    lines += ["", "## Outcomes of the greedy held-out programs (mean count over seeds)", "",
              "| row | pass | failure | runtime error | compile error | timeout |", "|---|---|---|---|---|---|"]
    for name, by_seed in rows.items():
        counts = [r["greedy_outcomes"] for r in by_seed.values()]
        cells = [f"{statistics.fmean(c.get(o, 0) for c in counts):.1f}"
                 for o in ("pass", "failure", "runtime_error", "compile_error", "timeout")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## The paper's claims, paired over seeds (greedy pass@1, points)", "",
              "| claim | seeds | differences | mean | holds here? |", "|---|---|---|---|---|"]
    for claim, better, worse in CLAIMS:
        if better not in rows or worse not in rows:
            continue
        seeds = sorted(set(rows[better]) & set(rows[worse]), key=int)
        diffs = [100 * (rows[better][s]["greedy_pass@1"] - rows[worse][s]["greedy_pass@1"]) for s in seeds]
        if not diffs:
            continue
        mean = statistics.fmean(diffs)
        spread = f" ± {statistics.stdev(diffs):.2f}" if len(diffs) > 1 else ""
        verdict = verdict_of(diffs)
        lines.append(f"| {claim} | {','.join(seeds)} | {', '.join(f'{d:+.2f}' for d in diffs)} | "
                     f"{mean:+.2f}{spread} | {verdict} |")
    return "\n".join(lines) + "\n"


def verdict_of(diffs: list[float]) -> str:
    """Plain words: every seed agrees, or it does not, or one seed cannot say."""
    if len(diffs) < 2:
        return "one seed: not enough to say"
    if all(d > 0 for d in diffs):
        return "yes, on every seed"
    if all(d < 0 for d in diffs):
        return "no: the opposite on every seed"
    return "not shown: seeds disagree"


def draw(path: Path, rows: dict[str, dict[str, Any]]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, by_seed in rows.items():
        curves = [r["curve"] for r in by_seed.values() if all(v is not None for _, v in r["curve"])]
        if not curves:
            continue
        steps = [s for s, _ in curves[0]]
        usable = [c for c in curves if [s for s, _ in c] == steps]
        means = [100 * statistics.fmean(c[i][1] for c in usable) for i in range(len(steps))]
        line, = axes.plot(steps, means, marker="o", markersize=3, label=name)
        if len(usable) > 1:
            low = [100 * min(c[i][1] for c in usable) for i in range(len(steps))]
            high = [100 * max(c[i][1] for c in usable) for i in range(len(steps))]
            axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.15)
    axes.set_xlabel("RL step")
    axes.set_ylabel("held-out greedy pass@1 (%)")
    axes.set_title("Held-out pass@1 during RL (mean over seeds; band: min-max)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
