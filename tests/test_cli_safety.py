"""The CLI under bad input and interruption: nothing lost, nothing clobbered, every mistake one line.

Each test is a mistake a user made (or a Ctrl-C they pressed) and checks three things: the
command says so in one line with the right exit status, it says so before doing any work,
and every file the user had is byte for byte what it was.
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

from rltf.cli import app
from rltf.config import to_toml
from rltf.judge.pool import MAX_WORKERS_PER_CORE

from tests.test_trainer import rl_rows, tiny_config

runner = CliRunner()
GOOD = {"task_id": "HumanEval/0", "completion": "    return False\n"}
SLEEPER = {"task_id": "HumanEval/0", "completion": "    import time\n    time.sleep(600)\n"}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to show a command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(result, before_work: bool = True) -> str:
    """The command's only stderr line; ``before_work``: no judge was started."""
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not before_work or "judge isolation" not in result.stderr
    return lines[0]


def cli(*args: str, **kwargs) -> subprocess.Popen:
    """rltf in its own session, as a terminal would run it, so a test can press Ctrl-C on its group."""
    return subprocess.Popen([sys.executable, "-m", "rltf.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def press_ctrl_c(proc: subprocess.Popen) -> tuple[str, str]:
    os.killpg(proc.pid, signal.SIGINT)
    return proc.communicate(timeout=120)


# --- rltf eval: outputs ---------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--out", "--summary-json"])
def test_eval_refuses_to_write_over_its_completions(tmp_path, option):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    before = snapshot(tmp_path)
    same = tmp_path / "sub" / ".." / "samples.jsonl"  # the same file, spelt another way
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions), option, str(same)])
    assert "is the --completions file" in one_error_line(result)
    assert snapshot(tmp_path) == before


def test_eval_refuses_a_symlink_or_hard_link_to_its_input(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    (tmp_path / "soft.jsonl").symlink_to(completions)
    os.link(completions, tmp_path / "hard.jsonl")
    for name in ("soft.jsonl", "hard.jsonl"):
        result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                     "--out", str(tmp_path / name)])
        assert "is the --completions file" in one_error_line(result)
    assert json.loads(completions.read_text()) == GOOD


def test_eval_refuses_one_file_for_both_outputs(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    both = str(tmp_path / "results.json")
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--out", both, "--summary-json", both])
    assert "are the same file" in one_error_line(result)
    assert not Path(both).exists()


@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_eval_checks_outputs_before_judging(tmp_path, where):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    out = completions / "results.jsonl" if where == "under-a-file" else tmp_path
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--summary-json", str(out)])
    assert result.exit_code == 2  # a folder is a usage error (typer's box); a file in the path, our one line
    assert "--summary-json" in result.stderr and "judge isolation" not in result.stderr


def test_eval_writes_outputs_whole_with_no_temporary_left(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD, GOOD])
    out = tmp_path / "new" / "results.jsonl"
    out.parent.mkdir()
    out.write_text("an older result\n")
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions), "--k", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["outcome"] for line in out.read_text().splitlines()] == ["failure", "failure"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["results.jsonl"]


# --- rltf eval: options ---------------------------------------------------------------------------

@pytest.mark.parametrize("timeout", ["inf", "1e12", "nan", "0", "-1"])
def test_eval_timeout_out_of_range_is_a_usage_error_not_a_verdict(tmp_path, timeout):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--timeout", timeout])
    assert result.exit_code == 2
    assert "--timeout" in result.stderr and "judge isolation" not in result.stderr


@pytest.mark.parametrize("ks", ["1,,2", "1,", ",1", "1, 2,x", "1.5", "²", "1,¹⁰", "1" * 5000])
def test_eval_k_list_with_a_gap_or_junk_is_a_usage_error(tmp_path, ks):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions), "--k", ks])
    assert result.exit_code == 2 and "--k" in result.stderr


def test_eval_caps_workers_per_core_with_a_warning(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions), "--k", "1",
                                 "--workers", "1000"])
    assert result.exit_code == 0, result.stderr
    cap = MAX_WORKERS_PER_CORE * os.cpu_count()
    assert f"warning: 1000 judge workers on {os.cpu_count()} cores would only queue for the CPU; using {cap}" \
        in result.stderr


def test_feedback_options_without_feedback_is_refused(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    options = tmp_path / "feedback.toml"
    options.write_text('[unittest]\nalpha = "one"\n')
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--feedback-options", str(options)])
    assert "has no effect without --feedback" in one_error_line(result)


def test_options_for_a_provider_not_selected_are_named_in_a_warning(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    options = tmp_path / "feedback.toml"
    options.write_text("[pylint]\ntimeout_s = 5\n")
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions), "--k", "1",
                                 "--feedback", "unittest", "--feedback-options", str(options)])
    assert result.exit_code == 0, result.stderr
    assert f"warning: {options}: options for pylint are ignored" in result.stderr


def test_a_bad_provider_option_names_the_file_before_judging(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    options = tmp_path / "feedback.toml"
    options.write_text("[pylint]\nconvetion = -0.1\n")
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--feedback", "pylint", "--feedback-options", str(options)])
    assert one_error_line(result).startswith(f"error: {options}: unknown option 'convetion'")


@pytest.mark.parametrize("name", ["os", "sys", "json", "builtins"])
def test_a_standard_library_module_is_not_a_package(tmp_path, name):
    """Naming one used to break the sandbox's view and silently judge with NO SANDBOX."""
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--packages", f"numpy,{name}"])
    assert one_error_line(result) == (f"error: --packages: {name!r} is in the standard library, which programs can "
                                      "always import; name only third-party packages (such as numpy)")


def test_a_provider_named_twice_is_refused(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--feedback", "unittest,unittest"])
    assert "'unittest' is named twice" in one_error_line(result)


@pytest.mark.parametrize(("row", "message"), [
    ('{"task_id": "HumanEval/0", "completion": "\\ud800"}', "row 2, field 'completion': holds a lone surrogate"),
    ('{"task_id": ' + "1" * 5000 + ', "completion": ""}', "row 2: holds an integer of more than 4300 digits"),
    ('{"task_id": "HumanEval/0", "completion": "", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "row 2: nested too deeply to read"),
])
def test_a_completion_row_that_cannot_be_used_is_refused_before_judging(tmp_path, row, message):
    completions = tmp_path / "samples.jsonl"
    completions.write_text(json.dumps(GOOD) + "\n" + row + "\n")
    out = tmp_path / "results.jsonl"
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                 "--out", str(out)])
    assert one_error_line(result).startswith(f"error: {completions}, {message}")
    assert not out.exists()


@pytest.mark.parametrize("option", ["--completions", "--feedback-options"])
def test_a_pipe_as_an_input_is_refused_instead_of_waiting_forever(tmp_path, option):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    options = tmp_path / "feedback.toml"
    options.write_text("[unittest]\n")
    inputs = {"--completions": completions, "--feedback-options": options, option: pipe}
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--feedback", "unittest",
                                 *[str(part) for pair in inputs.items() for part in pair]])
    assert one_error_line(result) == f"error: {pipe}: is not a regular file (a pipe, device or socket); give a file"


def test_a_pipe_or_device_as_an_output_is_kept(tmp_path):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    for out in (pipe, Path("/dev/null")):
        result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(completions),
                                     "--summary-json", str(out)])
        assert "is not a regular file" in one_error_line(result)
        assert out.exists() and not out.is_file()


# --- rltf eval: Ctrl-C ----------------------------------------------------------------------------

def test_ctrl_c_stops_eval_at_once_kills_its_programs_and_writes_nothing(tmp_path):
    """Programs that would run for 10 minutes each: only killing them lets the command end."""
    completions = write_jsonl(tmp_path / "samples.jsonl", [SLEEPER] * 8)
    out, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    proc = cli("eval", "--dataset", "humaneval", "--completions", str(completions), "--workers", "2",
               "--timeout", "900", "--out", str(out), "--summary-json", str(summary))
    assert proc.stderr.readline().startswith("judge isolation")
    time.sleep(1)  # the first programs are running
    stdout, stderr = press_ctrl_c(proc)
    assert proc.returncode == 130, stderr
    assert stderr.splitlines() == ["interrupted: stopped while judging, after 0 of 8; no results were written"]
    assert stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.jsonl"]


INTERRUPT_IMPORTS = """
import sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "rltf.cli":
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
"""


@pytest.mark.parametrize("start", ["from rltf.entry import main; main()",
                                   "import runpy; runpy.run_module('rltf', run_name='__main__')"],
                         ids=["rltf", "python -m rltf"])
def test_ctrl_c_while_the_cli_loads_is_one_line(start):
    """The Ctrl-C arrives, deterministically, while rltf.cli is being imported."""
    done = subprocess.run([sys.executable, "-c", INTERRUPT_IMPORTS + start, "eval", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 130
    assert done.stderr == "interrupted: before starting; nothing was done\n" and done.stdout == ""


def test_the_rltf_command_starts_through_the_entry_point():
    import importlib.metadata

    (script,) = importlib.metadata.entry_points(group="console_scripts", name="rltf")
    assert script.value == "rltf.entry:main"


# --- rltf train / sft: the run folder -------------------------------------------------------------

def finished_run_without_checkpoints(folder: Path) -> dict[str, bytes]:
    """What a run with --save-every 0 leaves: config, metrics, summary, model, no checkpoints/."""
    folder.mkdir()
    (folder / "config.toml").write_text(to_toml(tiny_config(folder)))
    (folder / "metrics.jsonl").write_text('{"phase": "rl", "step": 1, "loss/sl": 1.0}\n')
    (folder / "summary.json").write_text('{"after": {"pass@1": 0.5}}\n')
    return snapshot(folder)


@pytest.mark.parametrize("extra", [[], ["--dataset", "nosuch"]], ids=["valid", "rejected"])
@pytest.mark.parametrize("command", ["train", "sft"])
def test_a_folder_holding_a_run_is_never_written_to(tmp_path, command, extra):
    folder = tmp_path / "run"
    before = finished_run_without_checkpoints(folder)
    result = runner.invoke(app, [command, "--out", str(folder), *extra])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1, result.stderr
    assert snapshot(folder) == before


def test_a_folder_holding_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["train", "--out", str(tmp_path)])
    assert "already holds files" in one_error_line(result)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_dangling_symlink_as_the_run_folder_is_named(tmp_path):
    link = tmp_path / "dang"
    link.symlink_to("/nowhere/deep")
    result = runner.invoke(app, ["train", "--out", str(link)])
    assert one_error_line(result) == (f"error: --out {link} is a symbolic link to a missing folder (/nowhere/deep); "
                                      "create that folder or give another path")
    assert link.is_symlink() and not Path("/nowhere").exists()


def test_sft_refuses_to_resume_a_run_of_rltf_train(tmp_path):
    """It would go on to train RL steps, which the user asked sft not to do."""
    folder = tmp_path / "run"
    finished_run_without_checkpoints(folder)
    (folder / "summary.json").unlink()  # a killed train run
    before = snapshot(folder)
    result = runner.invoke(app, ["sft", "--resume", str(folder)])
    assert one_error_line(result) == (f"error: --resume {folder}: this run was made by rltf train "
                                      f"(run.max_steps = 4); continue it with: rltf train --resume {folder}")
    assert snapshot(folder) == before


def test_resume_refuses_a_finished_run(tmp_path):
    folder = tmp_path / "run"
    before = finished_run_without_checkpoints(folder)
    result = runner.invoke(app, ["train", "--resume", str(folder)])
    assert "this run finished" in one_error_line(result)
    assert snapshot(folder) == before


@pytest.mark.parametrize(("flags", "message"), [
    (["--device", "tpu"], "run.device 'tpu' is not a device name torch knows"),
    (["--device", "cuda:7"], "run.device 'cuda:7' cannot be used here"),
    (["--dataset", "nosuch"], "known datasets: builtin, humaneval"),
    (["--set", "judge.timeout_s=1e12"], "'judge.timeout_s': must be between"),
    (["--set", "judge.memory_mb=1"], "'judge.memory_mb': must be between"),
    (["--set", 'judge.packages=["sys"]'], "'judge.packages': 'sys' is in the standard library"),
    (["--set", "data.eval_size=0"], "'data.eval_size': must be positive"),
    (["--set", "learner.grad_clip=-1"], "'learner.grad_clip': must be positive"),
    (["--set", "embedded.vocab_size=-5"], "'embedded.vocab_size': must be positive"),
    (["--set", 'feedback.providers=["unittest","unittest"]'], "'unittest' is named twice"),
    (["--set", "learner.lr=1" + "0" * 400], "'learner.lr': must be a finite number"),
    (["--set", "run.threads=99999999999999999999"], "'run.threads': is out of range"),
    (["--set", "model.lora_r=2", "--set", "model.lora_dropout=5.0"], "'model.lora_dropout': must be in [0, 1)"),
    (["--set", "data.builtin_train=0"], "'data.builtin_train': must be positive"),
    (["--set", "run.seed=" + "1" * 5000], "'run.seed': holds an integer of more than 4300 digits"),
])
def test_rejected_train_writes_nothing(tmp_path, flags, message):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--set", "data.eval_size=4", *flags])
    assert message in one_error_line(result)
    assert not (tmp_path / "run").exists()


def test_sft_refuses_rl_settings_given_on_the_command_line(tmp_path):
    for setting in ("run.max_steps=5", "actor.temperature=0.5", "buffer.capacity=10", "feedback.strict=true"):
        result = runner.invoke(app, ["sft", "--out", str(tmp_path / "run"), "--set", setting])
        assert "rltf sft does not use this setting" in one_error_line(result)
    assert not (tmp_path / "run").exists()


def test_sft_names_rl_settings_of_a_shared_config_file_it_ignores(tmp_path):
    config = tmp_path / "shared.toml"
    config.write_text(to_toml(tiny_config(tmp_path / "run", sft={"steps": 1}, run={"save_every": 0})))
    result = runner.invoke(app, ["sft", "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert warning.startswith(f"warning: {config}: rltf sft ignores actor.problems_per_step,")
    assert "run.max_steps" in warning and "actor.max_new_tokens" not in warning and "sft.steps" not in warning


def test_quiet_sft_prints_no_hugging_face_progress_bar(tmp_path):
    """--quiet and a stderr that is no terminal both mean no bars, Hugging Face's included."""
    from transformers.utils import logging as hf_logging

    config = tmp_path / "sft.toml"
    config.write_text(to_toml(tiny_config(tmp_path / "run", sft={"steps": 1}, run={"save_every": 0, "max_steps": 0})))
    result = runner.invoke(app, ["sft", "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "run" / "model").is_dir()
    assert "Writing model shards" not in result.stderr and "it/s" not in result.stderr
    assert hf_logging.is_progress_bar_enabled()  # put back for whoever draws them next


# --- rltf train: Ctrl-C ---------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_training_with_a_valid_checkpoint_and_the_resume_command(tmp_path, signum):
    """SIGTERM (a scheduler's stop, or torchrun stopping the ranks after one died) stops it as Ctrl-C does."""
    run_dir = tmp_path / "run"
    config = tmp_path / "run.toml"
    config.write_text(to_toml(tiny_config(run_dir, run={"max_steps": 40, "save_every": 2})))
    proc = cli("train", "--config", str(config), "--quiet")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and len(_rl_rows(run_dir)) < 3:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    last = stderr.splitlines()[-1]
    assert last.startswith(f"interrupted: the run in {run_dir} stopped; its newest checkpoint is step-")
    assert last.endswith(f"; continue it with: rltf train --resume {run_dir}")
    assert not (run_dir / "summary.json").exists() and not (run_dir / "model").exists()

    resumed = cli("train", "--resume", str(run_dir), "--quiet")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert [row["step"] for row in rl_rows(run_dir)] == list(range(1, 41))


def _rl_rows(run_dir: Path) -> list[dict]:
    """RL rows written so far (a live file may end in half a line)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [line for line in lines if line.endswith("}") and '"phase": "rl"' in line]


def test_eval_and_the_judge_import_no_torch():
    code = "import sys, rltf.cli, rltf.judge.pool, rltf.evaluation.completions; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
