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
    grpo = json.loads((tmp_path / "ablation-runs" / "trl-grpotrainer--pass-fail-0" / "grpo.json").read_text())
    assert 0 < grpo["positions_added"] <= grpo["forward_calls"]  # TRL's calls went through the position fix
    markdown = (tmp_path / "ablation_quick.md").read_text()
    assert "| online > offline | 0 |" in markdown and "| RLTF > GRPO | 0 |" in markdown
    assert (tmp_path / "ablation_quick_pass1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = subprocess.run([sys.executable, str(ABLATION), "--quick", "--out-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and json.loads((tmp_path / "ablation_quick.json").read_text()) == result


def test_grpo_baseline_counts_gpt2_positions_from_the_first_real_token():
    """Without the fix, a left-padded prompt's logits differ from the same prompt alone (transformers
    numbers positions from the padded start); with it they agree, through the LM head model and
    through its base model, which TRL's loss calls directly."""
    import importlib.util

    import torch

    from rltf.config import EmbeddedSettings
    from rltf.embedded import build_model, train_tokenizer

    spec = importlib.util.spec_from_file_location("grpo_baseline", ABLATION.with_name("grpo_baseline.py"))
    grpo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grpo)
    tok = train_tokenizer(["def add(a, b):\n    return a + b\n"] * 8, vocab_size=280)
    model = build_model(tok, EmbeddedSettings(layers=1, width=32, heads=2), seed=0).eval()
    ids = torch.tensor([tok("def add(a, b):", add_special_tokens=False)["input_ids"]])
    padded = torch.cat([torch.full((1, 3), tok.eos_token_id), ids], 1)
    mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones_like(ids)], 1)
    with torch.no_grad():
        alone = model(input_ids=ids).logits[0, -1]
        assert not torch.allclose(model(input_ids=padded, attention_mask=mask).logits[0, -1], alone, atol=1e-4)
        hidden_alone = model.transformer(input_ids=ids).last_hidden_state[0, -1]
        calls = grpo.count_positions_from_first_token(model)
        torch.testing.assert_close(model(input_ids=padded, attention_mask=mask).logits[0, -1], alone)
        # TRL's loss calls the base model directly: that path is fixed too
        torch.testing.assert_close(model.transformer(input_ids=padded, attention_mask=mask).last_hidden_state[0, -1],
                                   hidden_alone)
        assert calls == {"forward_calls": 2, "positions_added": 2}
