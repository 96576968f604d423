"""``rltf bench`` end to end on models built here: a run folder, a tiny GPT-2, a tiny T5, a LoRA
adapter and a chat model, over the built-in suite and the benchmark copies in ../shared/data.

The properties that make a benchmark trustworthy are checked on real runs: a sample depends
only on (seed, task, sample index), so batch size, shards, torchrun and a kill -9 with
``--resume`` all give the same files and the same numbers; and the bench's numbers are
exactly what ``rltf eval`` says of its samples.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rltf.bench.folder import RESULTS, SAMPLES, SUMMARY
from rltf.bench.merge import merge_runs
from rltf.bench.run import BenchOptions, run_bench
from rltf.bench.template import bundled, extract_program, load_template, prompt_hash
from rltf.cli import app
from rltf.config import TrainConfig, to_toml
from rltf.datasets import load_dataset
from rltf.embedded import build_model, train_tokenizer
from rltf.prompts import fill

runner = CliRunner()
NUMBERS = ("ks", "skipped_ks", "groups", "error_types", "tasks")
CHAT_TEMPLATE = ("{% for m in messages %}<user>{{ m['content'] }}</user>{% endfor %}"
                 "{% if add_generation_prompt %}<bot>{% endif %}")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory, shared_data) -> dict[str, Path]:
    """Untrained models saved as users keep them; random weights still write programs to judge."""
    from peft import LoraConfig, get_peft_model
    from transformers import T5Config, T5ForConditionalGeneration

    from rltf.tasks import builtin_suite

    root = tmp_path_factory.mktemp("models")
    suite = builtin_suite(0, n_train=60, n_heldout=8, n_rl_only=0)
    texts = [p.prompt for p in suite.train] + [s for p in suite.train for s in p.solutions]
    texts += [p.prompt for p in load_dataset("humaneval", str(shared_data / "humaneval" / "HumanEval.jsonl.gz"))[:40]]
    tokenizer = train_tokenizer(texts, vocab_size=400)
    config = TrainConfig()
    config.embedded.layers, config.embedded.width, config.embedded.heads = 2, 64, 2
    config.data.eval_size = 8
    gpt = build_model(tokenizer, config.embedded, seed=0)
    paths = {name: root / name for name in ("gpt", "t5", "lora", "chat")}
    for name, model in (("gpt", gpt), ("chat", gpt)):
        model.save_pretrained(paths[name])
        tokenizer.save_pretrained(paths[name])
    run = root / "runs" / "run-1"
    (run / "model").mkdir(parents=True)
    (run / "config.toml").write_text(to_toml(config))
    gpt.save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    paths["run"] = run
    chat_config = json.loads((paths["chat"] / "tokenizer_config.json").read_text())
    (paths["chat"] / "tokenizer_config.json").write_text(json.dumps({**chat_config, "chat_template": CHAT_TEMPLATE}))
    t5 = T5ForConditionalGeneration(T5Config(
        vocab_size=len(tokenizer), d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16,
        decoder_start_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id))
    t5.save_pretrained(paths["t5"])
    tokenizer.save_pretrained(paths["t5"])
    lora = get_peft_model(build_model(tokenizer, config.embedded, seed=0),
                          LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], init_lora_weights=False))
    lora.peft_config["default"].base_model_name_or_path = str(paths["gpt"])
    lora.save_pretrained(paths["lora"])
    return paths


def bench(out: Path, benchmark: str = "builtin", **options) -> dict:
    options.setdefault("workers", 2)
    return run_bench(BenchOptions(benchmark=benchmark, out=str(out), **options), quiet=True)


def builtin_options(models) -> dict:
    return {"model": str(models["run"]), "limit": 6, "n": 3, "ks": (1, 2, 3)}


def numbers(summary: dict) -> dict:
    return {key: summary[key] for key in NUMBERS}


def rows(folder: Path, name: str = SAMPLES) -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(models, tmp_path_factory) -> Path:
    """The builtin benchmark of the run folder, in one uninterrupted process, batch size 5."""
    out = tmp_path_factory.mktemp("reference") / "bench"
    bench(out, **builtin_options(models), batch_size=5)
    return out


def test_a_run_writes_its_folder_and_table(reference):
    assert {SAMPLES, RESULTS, SUMMARY, "bench.json", "report.md", "passk.png", "outcomes.png", "timing.json"} <= {
        p.name for p in reference.iterdir()}
    samples, results = rows(reference), rows(reference, RESULTS)
    assert [(r["task_id"], r["sample"]) for r in samples] == [(r["task_id"], r["sample"]) for r in results]
    assert len(samples) == 18 and all(r["completion"] == s["completion"] for r, s in zip(results, samples))
    assert {"outcome", "passed", "total", "tests"} <= set(results[0])
    summary = json.loads((reference / SUMMARY).read_text())
    assert summary["ks"] == [1, 2, 3] and summary["groups"]["all"]["n_samples"] == 18
    assert sum(summary["groups"]["all"]["outcomes"].values()) == 18
    assert "| all |" in (reference / "report.md").read_text()


def test_samples_do_not_depend_on_the_batch(models, reference, tmp_path):
    bench(tmp_path / "one", **builtin_options(models), batch_size=1)
    bench(tmp_path / "all", **builtin_options(models), batch_size=64)
    for other in ("one", "all"):
        assert rows(tmp_path / other) == rows(reference)
        assert numbers(json.loads((tmp_path / other / SUMMARY).read_text())) == numbers(
            json.loads((reference / SUMMARY).read_text()))


def test_two_shards_merged_equal_one_run(models, reference, tmp_path):
    shards = [tmp_path / f"shard-{k}" for k in range(2)]
    for k, shard in enumerate(shards):
        bench(shard, **builtin_options(models), shard=(k, 2), batch_size=4)
    assert len(rows(shards[0])) == 9 and len(rows(shards[1])) == 9
    merged = merge_runs(list(reversed(shards)), tmp_path / "merged")
    assert numbers(merged) == numbers(json.loads((reference / SUMMARY).read_text()))
    assert rows(tmp_path / "merged") == rows(reference)
    with pytest.raises(Exception, match="shard 1/2 is missing"):
        merge_runs([shards[0]], tmp_path / "half")
    with pytest.raises(Exception, match="given twice"):
        merge_runs([shards[0], shards[0]], tmp_path / "twice")


def test_torchrun_ranks_bench_their_shards_and_rank_0_merges(models, reference, tmp_path):
    out = tmp_path / "ranks"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "rltf", "bench",
               "builtin", "--model", str(models["run"]), "--limit", "6", "--samples", "3", "--k", "1,2,3",
               "--workers", "1", "--out", str(out), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["0-of-2", "1-of-2"]
    assert numbers(json.loads((out / SUMMARY).read_text())) == numbers(json.loads((reference / SUMMARY).read_text()))
    assert rows(out) == rows(reference)


def test_resume_after_kill_9_makes_only_what_is_missing(models, tmp_path):
    out = tmp_path / "killed"
    args = ["builtin", "--model", str(models["run"]), "--limit", "8", "--n", "6", "--k", "1,6",
            "--batch-size", "2", "--workers", "1", "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "rltf", "bench", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((out / SAMPLES).exists() and (out / SAMPLES).read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / SUMMARY).exists()
    with open(out / SAMPLES, "a") as handle:  # a row the kill cut in half
        handle.write('{"task_id": "builtin/held')
    kept = (out / SAMPLES).read_text().count("\n")
    resumed = runner.invoke(app, ["bench", "builtin", "--resume", str(out), "--quiet", "--workers", "2"])
    assert resumed.exit_code == 0, resumed.output
    timing = json.loads((out / "timing.json").read_text())
    assert timing["samples"] == 48 - kept
    whole = tmp_path / "whole"
    bench(whole, model=str(models["run"]), limit=8, n=6, ks=(1, 6), batch_size=16)
    assert rows(out) == rows(whole)
    assert numbers(json.loads((out / SUMMARY).read_text())) == numbers(json.loads((whole / SUMMARY).read_text()))
    finished = runner.invoke(app, ["bench", "builtin", "--resume", str(out)])
    assert finished.exit_code == 2 and "finished" in finished.stderr


def test_bench_equals_rltf_eval_of_its_samples(models, shared_data, tmp_path):
    data = shared_data / "mbpp" / "mbpp.jsonl"
    summary = bench(tmp_path / "mbpp", "mbpp", model=str(models["gpt"]), data_path=str(data), limit=4, n=2,
                    ks=(1, 2), max_new_tokens=24)
    evaluated = runner.invoke(app, ["eval", "--dataset", "mbpp", "--data-path", str(data), "--completions",
                                    str(tmp_path / "mbpp" / SAMPLES), "--k", "1,2", "--summary-json",
                                    str(tmp_path / "eval.json"), "--workers", "2"])
    assert evaluated.exit_code == 0, evaluated.output
    by_eval = json.loads((tmp_path / "eval.json").read_text())
    assert by_eval["outcomes"] == summary["groups"]["all"]["outcomes"]
    assert by_eval["pass@1"] == summary["groups"]["all"]["pass@1"]
    assert by_eval["pass@2"] == summary["groups"]["all"]["pass@2"]
    task_ids = [p.task_id for p in load_dataset("mbpp", str(data), "test")[:4]]
    assert list(summary["tasks"]) == task_ids == ["11", "12", "13", "14"]


def test_mbpp_prompt_is_zero_shot_with_its_tests(shared_data):
    problem = load_dataset("mbpp", str(shared_data / "mbpp" / "mbpp.jsonl"), "test")[0]
    template = load_template(bundled("mbpp"))
    tests = "\n".join(problem.tests.asserts[:3])
    assert template.prompt(problem) == f'"""\n{problem.prompt}\n{tests}\n"""\n'
    assert "\nassert" in template.stop


def test_apps_prompt_is_coderls_and_selection_by_difficulty_and_ids(models, shared_data, tmp_path):
    data = shared_data / "apps" / "train-mini"
    problems = load_dataset("apps", str(data))
    template = load_template(bundled("apps"))
    call = next(p for p in problems if p.starter_code)
    stdio = next(p for p in problems if not p.starter_code)
    assert template.prompt(call) == (f"\nQUESTION:\n{call.prompt}\n{call.starter_code}"
                                     "\nUse Call-Based format\nANSWER:\n")
    assert template.prompt(stdio) == f"\nQUESTION:\n{stdio.prompt}\nUse Standard Input format\nANSWER:\n"
    intro = [p.task_id for p in problems if p.difficulty == "introductory"][:2]
    contest = [p.task_id for p in problems if p.difficulty == "competition"][:2]
    summary = bench(tmp_path / "apps", "apps", model=str(models["gpt"]), data_path=str(data),
                    difficulty=("introductory", "competition"), tasks=tuple(intro + contest), n=1, ks=(1,),
                    temperature=0.0, max_new_tokens=16)
    assert list(summary["groups"]) == ["all", "introductory", "competition"]  # the paper's order
    assert summary["groups"]["all"]["n_tasks"] == 4 and summary["groups"]["introductory"]["n_tasks"] == 2
    assert list(summary["tasks"]) == [p.task_id for p in problems if p.task_id in intro + contest]
    report = (tmp_path / "apps" / "report.md").read_text()
    assert report.index("| introductory |") < report.index("| competition |") < report.index("| all |")
    limited = bench(tmp_path / "limit", "apps", model=str(models["gpt"]), data_path=str(data),
                    difficulty=("interview",), limit=3, n=1, ks=(1,), temperature=0.0, max_new_tokens=8)
    assert list(limited["groups"]) == ["all", "interview"] and limited["groups"]["all"]["n_tasks"] == 3


def test_encoder_decoder_samples_do_not_depend_on_the_batch(models, shared_data, tmp_path):
    data = str(shared_data / "humaneval" / "HumanEval.jsonl.gz")
    options = {"model": str(models["t5"]), "data_path": data, "limit": 2, "n": 3, "ks": (1,), "max_new_tokens": 12}
    bench(tmp_path / "one", "humaneval", batch_size=1, **options)
    bench(tmp_path / "six", "humaneval", batch_size=6, **options)
    assert rows(tmp_path / "one") == rows(tmp_path / "six")
    assert len({r["completion"] for r in rows(tmp_path / "one")}) > 1


def test_a_lora_adapter_folder_loads_on_its_base(models, shared_data, tmp_path):
    from peft import PeftModel

    from rltf.bench.model import load_bench_policy, resolve_model

    policy = load_bench_policy(resolve_model(str(models["lora"])), "cpu", 8)
    assert isinstance(policy.model, PeftModel)
    data = str(shared_data / "humaneval" / "HumanEval.jsonl.gz")
    plain = bench(tmp_path / "base", "humaneval", model=str(models["gpt"]), data_path=data, limit=2, n=2, ks=(1,),
                  max_new_tokens=12)
    adapted = bench(tmp_path / "lora", "humaneval", model=str(models["lora"]), data_path=data, limit=2, n=2,
                    ks=(1,), max_new_tokens=12)
    assert adapted["model"] == str(models["lora"]) and plain["groups"]["all"]["n_samples"] == 4
    assert rows(tmp_path / "base") != rows(tmp_path / "lora")  # the adapter's weights are not zero


def test_chat_models_get_their_template_and_the_fenced_program(models, shared_data, tmp_path):
    data = str(shared_data / "humaneval" / "HumanEval.jsonl.gz")
    bench(tmp_path / "chat", "humaneval", model=str(models["chat"]), data_path=data, limit=1, n=1, ks=(1,),
          temperature=0.0, max_new_tokens=12, chat=True)
    row = rows(tmp_path / "chat")[0]
    problem = load_dataset("humaneval", data)[0]
    assert row["prompt_sha256"] == prompt_hash(f"<user>{fill('{prompt}', problem)}</user><bot>")
    assert row["completion"] == extract_program(row["reply"])
    refused = runner.invoke(app, ["bench", "humaneval", "--model", str(models["gpt"]), "--data-path", data, "--chat",
                                  "--max-new-tokens", "8", "--out", str(tmp_path / "base")])
    assert refused.exit_code == 2 and "no chat template" in refused.stderr
    assert not (tmp_path / "base").exists()


@pytest.mark.parametrize("reply, program", [
    ("Here:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1\n"),
    ("```\nx = 1\n```", "x = 1\n"),
    ("```py\nprint(2)\n", "print(2)\n"),
    ("def g(): pass", "def g(): pass"),
    ("```python\na = 1\n```\n```python\nb = 2\n```", "a = 1\n"),
])
def test_extract_program(reply, program):
    assert extract_program(reply) == program


def test_no_model_means_the_newest_finished_run(models, tmp_path, monkeypatch):
    monkeypatch.chdir(models["run"].parents[1])
    done = runner.invoke(app, ["bench", "builtin", "--limit", "2", "--n", "1", "--temperature", "0", "--quiet",
                               "--out", str(tmp_path / "default")])
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "default" / "bench.json").read_text())["model"] == str(Path("runs") / "run-1")


def test_compare_two_runs_from_the_cli(models, reference, tmp_path):
    bench(tmp_path / "other", **{**builtin_options(models), "seed": 7})
    done = runner.invoke(app, ["bench", "compare", str(reference), str(tmp_path / "other"),
                               "--out", str(tmp_path / "compare.md")])
    assert done.exit_code == 0, done.output
    assert "pass@1" in (tmp_path / "compare.md").read_text()
    hotter = tmp_path / "hotter"
    bench(hotter, **builtin_options(models), temperature=1.0)
    refused = runner.invoke(app, ["bench", "compare", str(reference), str(hotter)])
    assert refused.exit_code == 2 and "temperature" in refused.stderr


def error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("extra, message", [
    (["--shard", "2/2"], "K must be in 0..1"),
    (["--tasks", "nosuch"], "no problem 'nosuch'"),
    (["--temperature", "0"], "greedy"),
    (["--limit", "2", "--tasks", "builtin/heldout/0"], "give one of them"),
    (["--difficulty", "hard"], "--difficulty 'hard'"),
    (["--device", "tpu"], "not a device name"),
    (["--max-new-tokens", "900"], "leaves no room for a prompt"),
    (["--data-path", "x"], "do not apply to builtin"),
])
def test_bad_options_are_one_line_and_write_nothing(models, tmp_path, extra, message):
    out = tmp_path / "out"
    result = runner.invoke(app, ["bench", "builtin", "--model", str(models["run"]), "--out", str(out), *extra])
    assert message in error_line(result)
    assert not out.exists()


def test_bad_template_file_names_the_file_and_key(models, tmp_path):
    template = tmp_path / "mine.toml"
    template.write_text('template = "{question}"\n')
    result = runner.invoke(app, ["bench", "builtin", "--model", str(models["run"]), "--prompt-template",
                                 str(template), "--out", str(tmp_path / "out")])
    line = error_line(result)
    assert str(template) in line and "unknown placeholder {question}" in line
    template.write_text('template = "{prompt}"\nstops = []\n')
    assert "unknown key 'stops'" in error_line(runner.invoke(app, [
        "bench", "builtin", "--model", str(models["run"]), "--prompt-template", str(template)]))


def test_folders_are_never_reused(models, reference, tmp_path):
    before = {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()}
    again = runner.invoke(app, ["bench", "builtin", "--model", str(models["run"]), "--out", str(reference)])
    assert "already holds files" in error_line(again)
    resumed = runner.invoke(app, ["bench", "builtin", "--resume", str(reference), "--n", "5"])
    assert "only --batch-size, --device and --workers" in error_line(resumed)
    assert {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()} == before
    (tmp_path / "runs" / "unfinished").mkdir(parents=True)
    (tmp_path / "runs" / "unfinished" / "config.toml").write_text("")
    unfinished = runner.invoke(app, ["bench", "builtin", "--model", str(tmp_path / "runs" / "unfinished")])
    assert "has no model/ yet" in error_line(unfinished)


def test_no_model_and_no_runs_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "no finished run under ./runs" in error_line(runner.invoke(app, ["bench", "builtin"]))


def test_ctrl_c_keeps_what_was_done_and_resume_finishes_it(models, tmp_path):
    out = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "rltf", "bench", "builtin", "--model", str(models["run"]),
                             "--limit", "8", "--n", "6", "--batch-size", "2", "--workers", "1", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not ((out / SAMPLES).exists() and (out / SAMPLES).read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: stopped after generating") and f"--resume {out}" in last
    assert not (out / SUMMARY).exists() and (out / SAMPLES).read_text().endswith("\n")
    resumed = runner.invoke(app, ["bench", "builtin", "--resume", str(out), "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert len(rows(out)) == 48 and len(rows(out, RESULTS)) == 48


def test_resume_refuses_a_changed_model_or_prompt(models, shared_data, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(models["gpt"], model)
    out = tmp_path / "run"
    bench(out, "humaneval", model=str(model), limit=2, n=2, ks=(1,), max_new_tokens=8,
          data_path=str(shared_data / "humaneval" / "HumanEval.jsonl.gz"))
    (out / SUMMARY).unlink()  # as if killed before the end
    samples = (out / SAMPLES).read_text()
    (out / SAMPLES).write_text(samples.replace('"prompt_sha256": "', '"prompt_sha256": "0', 1))
    assert "is not the one its samples were generated from" in error_line(
        runner.invoke(app, ["bench", "humaneval", "--resume", str(out)]))
    (out / SAMPLES).write_text(samples)
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert "changed since this run started" in error_line(runner.invoke(app, ["bench", "humaneval", "--resume", str(out)]))


def test_split_sampling_and_judge_options_reach_the_run(models, shared_data, tmp_path):
    data = str(shared_data / "mbpp" / "mbpp.jsonl")
    done = runner.invoke(app, ["bench", "mbpp", "--model", str(models["gpt"]), "--data-path", data, "--split",
                               "validation", "--limit", "2", "--n", "2", "--k", "1", "--top-p", "0.5", "--seed", "3",
                               "--temperature", "0.9", "--max-new-tokens", "8", "--timeout", "2.5", "--workers", "1",
                               "--device", "cpu", "--batch-size", "3", "--out", str(tmp_path / "run"), "--quiet"])
    assert done.exit_code == 0, done.output
    header = json.loads((tmp_path / "run" / "bench.json").read_text())
    assert header["tasks"] == ["511", "512"]
    settings = header["settings"]
    assert (settings["split"], settings["top_p"], settings["seed"], settings["temperature"], settings["timeout"],
            settings["workers"], settings["device"], settings["batch_size"]) == (
        "validation", 0.5, 3, 0.9, 2.5, 1, "cpu", 3)
    assert all(r["tokens"] <= 8 for r in rows(tmp_path / "run"))
