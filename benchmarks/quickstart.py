"""The quickstart, measured: `rltf train` with no settings, one run per seed.

Each run is the real command in a fresh process, timed wall-clock end to end (model and
tokenizer built, SFT, held-out pass@1 before RL, online RL, pass@1 after). ``--runs control``
makes, per seed, the same run with ``learner.rl_weight = 0``: identical steps, data and
supervised term, with the RL gradient switched off, so the difference is what RL adds
over simply training longer on the references.

    .venv/bin/python benchmarks/quickstart.py --seeds 0 1 2 [--runs rl|control|both] [--keep DIR]

Updates benchmarks/results/quickstart.{json,md} (a run replaces the same kind and seed only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
RL, CONTROL = "rltf train", "control: rl_weight = 0"
EXTRA = {RL: [], CONTROL: ["--set", "learner.rl_weight=0"]}


def run(seed: int, out: Path, extra: list[str]) -> dict:
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "rltf.cli", "train", "--seed", str(seed), "--out", str(out), "--quiet",
                    *extra], check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text())
    return {"seed": seed, "wall_s": time.monotonic() - began, "before": summary["before"]["pass@1"],
            "after": summary["after"]["pass@1"], "before_outcomes": summary["before"]["outcomes"],
            "after_outcomes": summary["after"]["outcomes"], "problems": summary["after"]["problems"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", choices=("rl", "control", "both"), default="rl",
                        help="rl: `rltf train`; control: the same with the RL gradient off")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the run folders under DIR (rl-SEED, control-SEED) for `rltf report`")
    args = parser.parse_args()
    kinds = {"rl": [RL], "control": [CONTROL], "both": [RL, CONTROL]}[args.runs]
    saved = RESULTS / "quickstart.json"
    rows: dict[str, list[dict]] = json.loads(saved.read_text()) if saved.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name in kinds:
                folder = (args.keep or Path(tmp)) / f"{'rl' if name == RL else 'control'}-{seed}"
                result = run(seed, folder, EXTRA[name])
                rows[name] = [r for r in rows.get(name, []) if r["seed"] != seed] + [result]
                print(json.dumps(result), flush=True)
                save(rows)


def save(rows: dict[str, list[dict]]) -> None:
    """After every run, so a long measurement interrupted keeps what it finished."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quickstart.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "quickstart.md").write_text(markdown(rows))


def markdown(rows: dict[str, list[dict]]) -> str:
    lines = ["# Quickstart: `rltf train` with no settings (embedded model, built-in suite, 2-core CPU)", "",
             "Held-out greedy pass@1 on the built-in suite's 400 held-out tasks, before and after RL.", "",
             "| run | seed | before RL | after RL | change | wall time |", "|---|---|---|---|---|---|"]
    for name, runs in rows.items():
        for r in runs:
            lines.append(f"| {name} | {r['seed']} | {r['before']:.4f} | {r['after']:.4f} | "
                         f"{100 * (r['after'] - r['before']):+.2f} points | {r['wall_s'] / 60:.1f} min |")
        if len(runs) < 2:
            continue
        gains = [100 * (r["after"] - r["before"]) for r in runs]
        spread = statistics.pstdev(r["before"] * 100 for r in runs)
        lines.append(f"| {name}: mean | | | | {statistics.fmean(gains):+.2f} points "
                     f"(min {min(gains):+.2f}) | spread of 'before' across seeds: {spread:.2f} points |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
