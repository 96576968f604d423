"""The ablation benchmark's smoke test: `benchmarks/ablation.py --quick` end to end.

One seed, five rows (control, offline, online coarse, online RLTF, TRL's GRPOTrainer), a few
steps each, real runs of `rltf sft`, `rltf train`, `rltf bench` and TRL; the numbers are
meaningless at this size, so the test checks that every row was measured and reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ABLATION = Path(__file__).resolve().parents[1] / "benchmarks" / "ablation.py"


def test_quick_ablation_measures_and_reports_every_row(tmp_path):
    done = subprocess.run([sys.executable, str(ABLATION), "--quick", "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "ablation_quick.json").read_text())
    rows = result["rows"]
    assert list(rows) == ["control (rl_weight = 0)", "offline RLTF", "online, coarse",
                          "online, RLTF (coarse + fine + adaptive)", "TRL GRPOTrainer (pass/fail)"]
    for name, by_seed in rows.items():
        row = by_seed["0"]
        assert 0.0 <= row["greedy_pass@1"] <= 1.0 and 0.0 <= row["sampled_pass@1"] <= 1.0, name
        assert sum(row["greedy_outcomes"].values()) == result["meta"]["eval_size"], name
        assert row["wall_s"] > 0, name
    online = rows["online, RLTF (coarse + fine + adaptive)"]["0"]
    assert [step for step, _ in online["curve"]] == [0, 1, 2] and online["s_per_1000"] > 0
    assert 0.0 <= online["crash_share_at_start"] <= 1.0
    markdown = (tmp_path / "ablation_quick.md").read_text()
    assert "| online > offline | 0 |" in markdown and "| RLTF > GRPO | 0 |" in markdown
    assert (tmp_path / "ablation_quick_pass1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = subprocess.run([sys.executable, str(ABLATION), "--quick", "--out-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and json.loads((tmp_path / "ablation_quick.json").read_text()) == result
