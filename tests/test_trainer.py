"""The whole training loop on a tiny embedded model: run folder, metrics, offline mode, exact resume.

The model is far too small to learn anything in a few steps; these tests check that every
stage runs for real (generation, sandboxed judging, feedback, buffer, learner,
checkpoints) and that a run killed with SIGKILL resumes with nothing lost or repeated.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

from rltf.config import config_from_dict, load_config, to_toml
from rltf.metrics import read_metrics
from rltf.trainer import train

TINY = {
    "embedded": {"layers": 1, "width": 32, "heads": 2, "context": 128, "vocab_size": 300},
    "data": {"builtin_train": 40, "builtin_rl_only": 20, "eval_size": 12},
    "sft": {"steps": 3, "batch_size": 8},
    "actor": {"problems_per_step": 3, "samples_per_problem": 2, "max_new_tokens": 12, "generation_batch": 16},
    "learner": {"rl_batch_size": 8, "sl_batch_size": 4},
    "judge": {"workers": 2, "timeout_s": 2.0},
    "run": {"max_steps": 4, "save_every": 2, "threads": 1},
}


def tiny_config(out: Path, **sections):
    data = json.loads(json.dumps(TINY))
    data["run"]["out"] = str(out)
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return config_from_dict(data)


def rl_rows(run_dir: Path) -> list[dict]:
    return [row for row in read_metrics(run_dir / "metrics.jsonl") if row["phase"] == "rl"]


def test_online_run_writes_a_complete_run_folder(tmp_path):
    summary = train(tiny_config(tmp_path / "run"), quiet=True)
    run = tmp_path / "run"
    assert {"config.toml", "metrics.jsonl", "summary.json", "model", "tokenizer", "checkpoints"} <= {
        p.name for p in run.iterdir()}
    assert json.loads((run / "summary.json").read_text()) == summary
    assert {"before_sft", "before", "after"} <= set(summary)
    assert summary["after"]["problems"] == 12
    saved = config_from_dict(tomllib.loads((run / "config.toml").read_text()))
    assert to_toml(saved) == (run / "config.toml").read_text()

    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows if r["phase"] == "sft"] == [1, 2, 3]
    rl = rl_rows(run)
    assert [r["step"] for r in rl] == [1, 2, 3, 4]
    for row in rl:
        assert row["samples"] == 3 * 2 and "greedy_pass_rate" not in row  # no greedy programs by default
        assert 0.0 <= row["pass_rate"] <= 1.0
        assert abs(sum(v for k, v in row.items() if k.startswith("outcome/")) - 1.0) < 1e-4
        assert {"reward/unittest/coarse", "judge_s", "samples_per_s",
                "buffer_size", "zero_advantage", "overlap"} <= set(row)
    assert any("loss/unittest/fine" in row or "loss/unittest/coarse" in row for row in rl[1:])
    assert "actor_lag" not in rl[0] and rl[1]["actor_lag"] == 1.0  # step 1 learns from nothing; step 2 from step 1's samples
    assert all(row["actor_lag"] >= 1.0 for row in rl[1:])
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step-0000005-rl", "step-0000007-rl"]


@pytest.mark.parametrize("settings", [{"learner": {"baseline": "greedy"}}, {"actor": {"greedy_baseline": True}}])
def test_greedy_programs_are_judged_when_the_baseline_or_the_setting_asks(tmp_path, settings):
    """The greedy baseline needs them whatever actor.greedy_baseline says; the mean baseline only on request."""
    train(tiny_config(tmp_path / "run", **{"run": {"max_steps": 2, "save_every": 0}, "sft": {"steps": 0}}, **settings),
          quiet=True)
    for row in rl_rows(tmp_path / "run"):
        assert row["samples"] == 3 * 2 + 3 and 0.0 <= row["greedy_pass_rate"] <= 1.0


def test_final_model_loads_with_from_pretrained(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train(tiny_config(tmp_path / "run", run={"max_steps": 1}), quiet=True)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    ids = tokenizer("# Return x.\ndef f(x):\n", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]


def _save_tiny_model(folder: Path, seq2seq: bool) -> Path:
    """A Hugging Face model folder made here (no hub): what a user's local path looks like."""
    from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration

    from rltf.embedded import train_tokenizer
    from rltf.tasks import builtin_suite

    tokenizer = train_tokenizer([p.solutions[0] for p in builtin_suite(0, n_train=60).train], 300)
    ids = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if seq2seq:
        model = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, num_layers=1,
                                                    num_heads=2, d_kv=16, decoder_start_token_id=ids["pad_token_id"],
                                                    **ids))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=1,
                                           n_head=2, bos_token_id=ids["eos_token_id"], **ids))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("seq2seq", [False, True], ids=["decoder-only", "encoder-decoder"])
def test_any_hugging_face_model_by_path(tmp_path, seq2seq):
    model_dir = _save_tiny_model(tmp_path / "model", seq2seq)
    config = tiny_config(tmp_path / "run", model={"name": str(model_dir), "max_prompt_tokens": 96},
                         run={"max_steps": 2})
    summary = train(config, quiet=True)
    assert summary["model"] == str(model_dir) and [r["step"] for r in rl_rows(tmp_path / "run")] == [1, 2]
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved.get("is_encoder_decoder", False) is seq2seq


def test_actor_copy_refreshes_every_n_steps_and_tensorboard_logs(tmp_path):
    train(tiny_config(tmp_path / "run", actor={"sync_every": 2}, run={"max_steps": 5, "tensorboard": True}),
          quiet=True)
    assert [r["actor_weights_step"] for r in rl_rows(tmp_path / "run")] == [0, 2, 2, 4, 4]
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_concurrent_actor_samples_from_the_weights_before_each_update(tmp_path):
    train(tiny_config(tmp_path / "run", actor={"concurrent": True}, run={"max_steps": 4}), quiet=True)
    rows = rl_rows(tmp_path / "run")
    assert [r["actor_weights_step"] for r in rows] == [0, 1, 2, 2]
    assert all(r["actor_lag"] >= 2.0 for r in rows[2:])  # step 2 learns from the batch made before the loop


def test_offline_mode_samples_once_then_only_learns(tmp_path):
    train(tiny_config(tmp_path / "run", run={"mode": "offline", "offline_problems": 6, "max_steps": 3}), quiet=True)
    rl = rl_rows(tmp_path / "run")
    assert [r["step"] for r in rl] == [1, 2, 3]
    assert all("samples" not in r and r["gen_s"] == 0.0 for r in rl)
    assert all(r["buffer_size"] == rl[0]["buffer_size"] for r in rl)


def test_sft_only_run_reports_before_and_after(tmp_path):
    summary = train(tiny_config(tmp_path / "run", run={"max_steps": 0}), quiet=True)
    assert "before" in summary and "after" in summary
    assert not rl_rows(tmp_path / "run")


def _mbpp_row(task_id: int, name: str, body: str, cases: list[tuple[int, int]]) -> dict:
    return {"task_id": task_id, "text": f"Write a function {name} as the tests show.",
            "code": f"def {name}(x):\r\n    return {body}", "test_setup_code": "", "challenge_test_list": [],
            "test_list": [f"assert {name}({a}) == {b}" for a, b in cases]}


def test_trains_on_a_dataset_file_in_its_usual_format(tmp_path):
    """MBPP's own JSONL layout, its task-id splits, and a prompt template that shows the tests."""
    rows = [_mbpp_row(601 + i, f"f{i}", f"x + {i}", [(1, 1 + i), (5, 5 + i)]) for i in range(6)]
    rows += [_mbpp_row(11 + i, f"g{i}", f"x * {i}", [(2, 2 * i), (3, 3 * i)]) for i in range(3)]
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = tiny_config(tmp_path / "run", data={"dataset": "mbpp", "path": str(path), "split": "train",
                                                "eval_split": "test"},
                         model={"prompt_template": "{prompt}\n{tests}\n"}, run={"max_steps": 2})
    summary = train(config, quiet=True)
    assert summary["after"]["problems"] == 3
    assert [r["step"] for r in rl_rows(tmp_path / "run")] == [1, 2]


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rltf.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


STEPS = 40  # long enough that the kill lands mid-run, however fast the machine


def _write_config(path: Path, out: Path, **run) -> Path:
    config = tiny_config(out, run={"max_steps": STEPS, "save_every": 1, **run})
    path.write_text(to_toml(config))
    return path


def test_sigkill_then_resume_continues_the_same_step_sequence(tmp_path):
    """Kill mid-run, resume, and compare every RL step with an uninterrupted run of the same config."""
    killed_dir, whole_dir = tmp_path / "killed", tmp_path / "whole"
    proc = _cli("train", "--config", str(_write_config(tmp_path / "k.toml", killed_dir)), "--quiet",
                start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (killed_dir / "metrics.jsonl").exists() and len(rl_rows(killed_dir)) >= 5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(rl_rows(killed_dir))
    assert 5 <= killed_at < STEPS

    resumed = _cli("train", "--resume", str(killed_dir), "--quiet")
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()
    whole = _cli("train", "--config", str(_write_config(tmp_path / "w.toml", whole_dir)), "--quiet")
    assert whole.wait(timeout=300) == 0, whole.stdout.read()

    got, expected = rl_rows(killed_dir), rl_rows(whole_dir)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    deterministic = [k for k in expected[-1] if k.startswith(("loss/", "reward/", "outcome/")) or k in (
        "pass_rate", "greedy_pass_rate", "buffer_size", "zero_advantage", "grad_norm")]
    for mine, theirs in zip(got, expected):
        assert {k: mine.get(k) for k in deterministic} == {k: theirs.get(k) for k in deterministic}
    assert json.loads((killed_dir / "summary.json").read_text())["after"] == \
        json.loads((whole_dir / "summary.json").read_text())["after"]


def test_sft_and_report_commands(tmp_path):
    run_dir = tmp_path / "sft"
    config = tmp_path / "c.toml"
    config.write_text(to_toml(tiny_config(run_dir)))
    sft = _cli("sft", "--config", str(config), "--steps", "2", "--quiet")
    out, _ = sft.communicate(timeout=300)
    assert sft.returncode == 0, out
    assert "before: held-out pass@1" in out and "after: held-out pass@1" in out
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl") if r["phase"] == "sft"] == [1, 2]
    assert not rl_rows(run_dir)
    report = _cli("report", str(run_dir))
    out, _ = report.communicate(timeout=300)
    assert report.returncode == 0, out
    assert (run_dir / "plots" / "sft_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_refuses_other_settings(tmp_path):
    proc = _cli("train", "--resume", str(tmp_path), "--max-steps", "3")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "--resume takes the run's own config.toml" in out


def test_bad_config_names_file_and_field(tmp_path):
    bad = tmp_path / "run.toml"
    bad.write_text("[actor]\ntemperture = 0.5\n")
    proc = _cli("train", "--config", str(bad))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert str(bad) in out and "actor.temperture" in out and "Traceback" not in out


@pytest.mark.parametrize("flag", [["--feedback", "nosuch"], ["--set", "learner.lr=-1"]])
def test_bad_flags_are_one_line_errors(tmp_path, flag):
    proc = _cli("train", "--out", str(tmp_path / "run"), *flag)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and out.startswith("error:") and "Traceback" not in out


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_learner_runs_the_whole_loop(tmp_path, precision):
    """The autocast paths a GPU takes, here on the CPU; fp16 adds a loss scale, logged per step."""
    summary = train(tiny_config(tmp_path / "run", run={"precision": precision, "max_steps": 2, "save_every": 0}),
                    quiet=True)
    rows = [row for row in rl_rows(tmp_path / "run") if "grad_norm" in row]
    assert rows and all(math.isfinite(row["loss/sl"]) for row in rows)
    assert all(("loss_scale" in row) == (precision == "fp16") for row in rows)
    assert 0.0 <= summary["after"]["pass@1"] <= 1.0


def test_the_paper_preset_trains_end_to_end_with_a_tiny_model(tmp_path, shared_data):
    """`--preset paper` with only what a CPU test must shrink overridden: the embedded model for
    CodeT5, APPS train-mini for APPS, and sizes; every other paper setting is the preset's."""
    from typer.testing import CliRunner

    from rltf.cli import app

    shrink = ['model.name=""', "model.dtype=auto", "embedded.layers=1", "embedded.width=32", "embedded.heads=2",
              'data.split=""', 'data.eval_split=""', "data.eval_size=2", "sft.steps=2", "sft.batch_size=2",
              "sft.warmup_steps=0", "actor.problems_per_step=2", "actor.samples_per_problem=2",
              "actor.max_new_tokens=16", "learner.rl_batch_size=4", "learner.sl_batch_size=2", "run.max_steps=2",
              "run.save_every=0", "judge.timeout_s=2", "judge.workers=2"]
    result = CliRunner().invoke(app, ["train", "--preset", "paper", "--data-path",
                                      str(shared_data / "apps" / "train-mini"), "--out", str(tmp_path / "run"),
                                      "--quiet", *[arg for item in shrink for arg in ("--set", item)]])
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "run" / "config.toml")
    assert (config.data.dataset, config.actor.temperature, config.actor.top_p, config.buffer.refresh_every,
            config.buffer.capacity, config.learner.lr, config.learner.baseline, config.learner.balance) == (
        "apps", 0.6, 0.95, 50, 6400, 2e-6, "greedy", "none")
    assert config.feedback.options["unittest"] == {"alpha": "paper", "adaptive_scope": "failing", "unlocated": "global"}
    assert "{apps_format}" in config.model.prompt_template
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["rl_steps"] == 2
    assert [r["step"] for r in rl_rows(tmp_path / "run")] == [1, 2]
    unknown = CliRunner().invoke(app, ["train", "--preset", "papr"])
    assert unknown.exit_code == 2 and "presets: paper" in unknown.stderr
