"""compare_runs: paired bootstrap intervals, refusals of incomparable runs, solved-only lists, file errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from rltf.bench.compare import (PROTOCOL_SETTINGS, Comparison, bootstrap_interval, compare_runs, comparison_markdown,
                                comparison_table)
from rltf.evaluation.scores import SampleResult, summarize
from rltf.errors import DataError, RltfError
from rltf.judge import JudgeResult

SETTINGS = {"benchmark": "apps", "split": "test", "n": 4, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 512,
            "template": "apps", "stop": ["\nQUESTION"], "chat": False, "seed": 0, "timeout": 4.0,
            "max_prompt_tokens": 1024, "data_path": None, "difficulty": None, "batch_size": 8, "workers": 2,
            "device": "cpu"}
PASS = JudgeResult("pass", 2, 2, 2)
FAIL = JudgeResult("failure", 0, 2, 2)


def write_run(folder: Path, passed: dict[str, int], *, n: int = 4, difficulties: dict[str, str] | None = None,
              model: str = "model-a", order: list[str] | None = None, **settings) -> Path:
    """A bench folder whose task t has passed[t] passing samples of n."""
    difficulties = difficulties or {}
    samples = [SampleResult(task, i, PASS if i < count else FAIL) for task, count in passed.items() for i in range(n)]
    full = {**SETTINGS, "n": n, **settings}
    summary = summarize(samples, {task: difficulties.get(task) for task in passed}, [1])
    folder.mkdir(parents=True)
    bench = {"format": 1, "benchmark": full["benchmark"], "model": model, "settings": full,
             "tasks": order or list(passed), "shard": [0, 1]}
    (folder / "bench.json").write_text(json.dumps(bench), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"benchmark": full["benchmark"], "model": model,
                                                     "settings": full, **summary}), encoding="utf-8")
    return folder


def tasks(count: int) -> list[str]:
    return [f"t{i:02d}" for i in range(count)]


def all_row(comparison: Comparison, pair: int = 0):
    row = comparison.pairs[pair].groups[0]
    assert row.group == "all"
    return row


def test_identical_runs_differ_by_zero(tmp_path: Path) -> None:
    passed = {task: i % 5 for i, task in enumerate(tasks(20))}
    a, b = write_run(tmp_path / "a", passed), write_run(tmp_path / "b", passed, seed=1)
    row = all_row(compare_runs([a, b]))
    assert (row.difference, row.low, row.high) == (0.0, 0.0, 0.0)
    assert row.baseline == row.other == pytest.approx(sum(passed.values()) / 4 / 20)


def test_known_difference_and_reproducible_interval(tmp_path: Path) -> None:
    names = tasks(10)
    base = {task: 0 for task in names} | {"t00": 4, "t01": 4}
    better = base | {"t02": 4, "t03": 4, "t04": 4}
    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", better, model="model-b")
    first = compare_runs([a, b], seed=7)
    row = all_row(first)
    assert row.baseline == pytest.approx(0.2) and row.other == pytest.approx(0.5)
    assert row.difference == pytest.approx(0.3)
    assert 0.0 <= row.low <= row.difference <= row.high <= 0.7
    again = all_row(compare_runs([a, b], seed=7))
    assert (again.low, again.high) == (row.low, row.high)
    other_seed = all_row(compare_runs([a, b], seed=8))
    assert other_seed.difference == row.difference


def test_interval_matches_a_direct_paired_bootstrap(tmp_path: Path) -> None:
    names = tasks(30)
    base = {task: i % 5 for i, task in enumerate(names)}
    other = {task: (i * 3) % 5 for i, task in enumerate(names)}
    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", other)
    row = all_row(compare_runs([a, b], resamples=2000, seed=3))
    d = np.array([other[t] - base[t] for t in names]) / 4
    rng = np.random.default_rng(3)
    means = d[rng.integers(0, len(d), size=(2000, len(d)))].mean(axis=1)
    assert (row.low, row.high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))


def test_pairing_narrows_the_interval(tmp_path: Path) -> None:
    """Half the tasks are solved by both runs, half by neither, except 5 that only B solves.

    Unpaired, each run's spread over tasks (about 0.5 per task) enters the interval; paired,
    only the 5 disagreements do.
    """
    names = tasks(100)
    base = {task: (4 if i < 50 else 0) for i, task in enumerate(names)}
    better = base | {task: 4 for task in names[50:55]}
    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", better)
    row = all_row(compare_runs([a, b], seed=0))
    assert row.difference == pytest.approx(0.05)
    pa, pb = np.array(list(base.values())) / 4, np.array(list(better.values())) / 4
    unpaired_width = 2 * 1.96 * math.sqrt(pa.var() / len(pa) + pb.var() / len(pb))
    paired_width = 2 * 1.96 * math.sqrt(0.05 * 0.95 / 100)
    assert unpaired_width > 0.25
    assert row.high - row.low < 1.3 * paired_width < unpaired_width / 2
    assert row.low >= 0.0


def test_bootstrap_covers_the_mean_difference_on_a_large_benchmark() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random(5000), rng.random(5000)
    low, high = bootstrap_interval(a, b, 10000, 0)
    assert low < (b - a).mean() < high


def test_groups_per_difficulty(tmp_path: Path) -> None:
    names = tasks(6)
    difficulties = dict(zip(names, ["competition", "introductory", "interview"] * 2))
    base = {task: 1 for task in names}
    other = base | {"t01": 3, "t04": 3}
    a = write_run(tmp_path / "a", base, difficulties=difficulties)
    b = write_run(tmp_path / "b", other, difficulties=difficulties)
    groups = compare_runs([a, b]).pairs[0].groups
    assert [g.group for g in groups] == ["all", "introductory", "interview", "competition"]
    assert [g.n_tasks for g in groups] == [6, 2, 2, 2]
    assert [g.difference for g in groups] == pytest.approx([1 / 6, 0.5, 0.0, 0.0])


def test_different_task_sets_refused_with_counts(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {task: 1 for task in tasks(10)})
    b = write_run(tmp_path / "b", {task: 2 for task in tasks(13)[2:]})
    with pytest.raises(RltfError) as caught:
        compare_runs([a, b])
    message = str(caught.value)
    assert "\n" not in message
    assert "2 task(s) only in a, 3 only in b" in message
    assert "--force" in message


def test_forced_different_task_sets_use_the_common_tasks(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {task: 1 for task in tasks(10)})
    b = write_run(tmp_path / "b", {task: 2 for task in tasks(13)[2:]})
    comparison = compare_runs([a, b], force=True)
    assert comparison.tasks == tuple(tasks(10)[2:])
    row = all_row(comparison)
    assert row.n_tasks == 8 and row.difference == pytest.approx(0.25)
    assert any("8 task(s) common" in note for note in comparison.notes)
    assert "8 task(s) common" in comparison_markdown(comparison)


def test_differing_protocol_settings_refused_naming_each(tmp_path: Path) -> None:
    passed = {task: 1 for task in tasks(5)}
    a = write_run(tmp_path / "a", passed)
    b = write_run(tmp_path / "b", passed, temperature=0.2, max_new_tokens=256, stop=None)
    with pytest.raises(RltfError) as caught:
        compare_runs([a, b])
    message = str(caught.value)
    assert "temperature 0.8 vs 0.2" in message
    assert "max_new_tokens 512 vs 256" in message
    assert 'stop ["\\nQUESTION"] vs null' in message
    assert "top_p" not in message and "\n" not in message
    forced = compare_runs([a, b], force=True)
    assert any("temperature 0.8 vs 0.2" in note for note in forced.notes)
    assert not any("common" in note for note in forced.notes)


@pytest.mark.parametrize("setting", PROTOCOL_SETTINGS)
def test_every_protocol_setting_is_checked(tmp_path: Path, setting: str) -> None:
    passed = {task: 1 for task in tasks(3)}
    a = write_run(tmp_path / "a", passed)
    b = write_run(tmp_path / "b", passed)
    for name in ("bench.json", "summary.json"):
        data = json.loads((b / name).read_text(encoding="utf-8"))
        data["settings"][setting] = "changed"
        (b / name).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RltfError, match=f"{setting} .* vs \"changed\""):
        compare_runs([a, b])


def test_model_seed_and_machine_settings_may_differ(tmp_path: Path) -> None:
    passed = {task: 1 for task in tasks(5)}
    a = write_run(tmp_path / "a", passed)
    b = write_run(tmp_path / "b", passed, model="model-b", seed=123, batch_size=64, workers=8, device="cuda",
                  data_path="/data/apps", difficulty="interview")
    comparison = compare_runs([a, b])
    assert comparison.notes == ()
    assert [run.model for run in comparison.runs] == ["model-a", "model-b"]


def test_solved_only_lists_in_benchmark_order(tmp_path: Path) -> None:
    order = ["z9", "a1", "m5", "b2", "y8", "c3"]
    base = {"a1": 1, "b2": 0, "c3": 2, "m5": 0, "y8": 3, "z9": 0}
    other = {"a1": 0, "b2": 4, "c3": 0, "m5": 1, "y8": 3, "z9": 2}
    a = write_run(tmp_path / "a", base, order=order)
    b = write_run(tmp_path / "b", other, order=order)
    comparison = compare_runs([a, b])
    pair = comparison.pairs[0]
    assert comparison.tasks == tuple(order)
    assert pair.only_baseline == ("a1", "c3")
    assert pair.only_other == ("z9", "m5", "b2")
    markdown = comparison_markdown(comparison)
    assert "(2): `a1`, `c3`" in markdown and "(3): `z9`, `m5`, `b2`" in markdown


def test_three_runs_each_against_the_baseline(tmp_path: Path) -> None:
    names = tasks(4)
    a = write_run(tmp_path / "a", {t: 0 for t in names})
    b = write_run(tmp_path / "b", {t: 4 for t in names})
    c = write_run(tmp_path / "c", {t: 2 for t in names})
    comparison = compare_runs([a, b, c])
    assert [pair.other.folder for pair in comparison.pairs] == [b, c]
    assert [all_row(comparison, i).difference for i in (0, 1)] == pytest.approx([1.0, 0.5])


def test_table_and_markdown_render(tmp_path: Path) -> None:
    names = tasks(10)
    a = write_run(tmp_path / "a", {t: 0 for t in names}, difficulties={t: "interview" for t in names})
    b = write_run(tmp_path / "b", {t: 2 for t in names}, difficulties={t: "interview" for t in names})
    comparison = compare_runs([a, b], resamples=500)
    console = Console(width=200, record=True)
    console.print(comparison_table(comparison))
    text = console.export_text()
    assert "+50.00" in text and "interview" in text and "│ b " in text
    markdown = comparison_markdown(comparison)
    assert "| b | all | 10 | 0.00% | 50.00% | +50.00 | [+50.00, +50.00] | 0 | 10 |" in markdown
    assert f"folder `{b}`" in markdown
    assert markdown == comparison_markdown(compare_runs([a, b], resamples=500))


def test_runs_sharing_a_folder_name_are_labelled_by_path(tmp_path: Path) -> None:
    a = write_run(tmp_path / "x" / "run", {"t": 1})
    b = write_run(tmp_path / "y" / "run", {"t": 2})
    comparison = compare_runs([a, b])
    assert [run.label for run in comparison.runs] == [str(a), str(b)]


def test_fewer_than_two_folders_refused(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {"t": 1})
    with pytest.raises(RltfError, match="at least 2"):
        compare_runs([a])


def test_missing_folder_named(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", {"t": 1})
    with pytest.raises(RltfError, match="no such folder") as caught:
        compare_runs([a, tmp_path / "nope"])
    assert str(tmp_path / "nope") in str(caught.value)
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(RltfError, match="is a file, not a folder"):
        compare_runs([a, tmp_path / "file"])


def test_missing_summary_names_the_file(tmp_path: Path) -> None:
    a, b = write_run(tmp_path / "a", {"t": 1}), write_run(tmp_path / "b", {"t": 1})
    (b / "summary.json").unlink()
    with pytest.raises(DataError) as caught:
        compare_runs([a, b])
    assert caught.value.path == str(b / "summary.json")
    assert "no such file" in str(caught.value)


@pytest.mark.parametrize("text", ['{"format": 1, "tasks": [', "[1, 2]", '{"format": 1, "tasks": "t"}',
                                  '{"format": 1, "tasks": [1]}', '{"format": 2, "tasks": ["t"]}'])
def test_malformed_bench_json_names_the_file(tmp_path: Path, text: str) -> None:
    a, b = write_run(tmp_path / "a", {"t": 1}), write_run(tmp_path / "b", {"t": 1})
    (a / "bench.json").write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        compare_runs([a, b])
    assert caught.value.path == str(a / "bench.json")


@pytest.mark.parametrize("tasks_value", [None, {}, {"t": {"n": 0, "passed": 0}}, {"t": {"n": 2, "passed": 3}},
                                         {"t": {"n": 2, "passed": True}}, {"t": [2, 1]},
                                         {"t": {"n": 2, "passed": 1, "difficulty": 3}}])
def test_malformed_summary_tasks_name_the_file(tmp_path: Path, tasks_value) -> None:
    a, b = write_run(tmp_path / "a", {"t": 1}), write_run(tmp_path / "b", {"t": 1})
    summary = json.loads((b / "summary.json").read_text(encoding="utf-8"))
    summary["tasks"] = tasks_value
    (b / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        compare_runs([a, b])
    assert caught.value.path == str(b / "summary.json") and caught.value.field == "tasks"


def test_summary_without_settings_names_the_file(tmp_path: Path) -> None:
    a, b = write_run(tmp_path / "a", {"t": 1}), write_run(tmp_path / "b", {"t": 1})
    summary = json.loads((a / "summary.json").read_text(encoding="utf-8"))
    del summary["settings"]
    (a / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(DataError, match="settings") as caught:
        compare_runs([a, b])
    assert caught.value.path == str(a / "summary.json")


def test_resamples_must_be_positive(tmp_path: Path) -> None:
    a, b = write_run(tmp_path / "a", {"t": 1}), write_run(tmp_path / "b", {"t": 1})
    with pytest.raises(RltfError, match="resamples"):
        compare_runs([a, b], resamples=0)
