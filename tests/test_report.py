"""draw_report: which figures a run folder yields, that they are real images, and its errors."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from rltf.cli import app
from rltf.errors import DataError, RltfError
from rltf.report import draw_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL_FIGURES = {"sft_loss.png", "losses.png", "rewards.png", "pass_rate.png", "outcomes.png", "speed.png", "heldout.png"}


def sft_rows(n: int = 5) -> list[dict]:
    row = {"phase": "sft", "lr": 1e-5, "grad_norm": 1.5, "step_s": 0.4}
    return [{**row, "step": s, "loss/sl": 2.0 / s} for s in range(1, n + 1)]


def rl_row(step: int) -> dict:
    wave = math.sin(step)
    row = {"phase": "rl", "step": step, "loss/sl": 1.0 - step / 60, "pass_rate": 0.2 + step / 60 + 0.05 * wave,
           "reward/unittest/coarse": 0.1 * wave + step / 40, "reward/pylint/convention": -0.2 + 0.01 * step,
           "outcome/pass": 0.3, "outcome/failure": 0.4, "outcome/runtime_error": 0.2,
           "samples_per_s": 30 + 3 * wave, "gen_s": 1.2, "learn_s": 0.8, "judge_s": 0.5 + 0.1 * wave, "wait_s": 0.05,
           "step_s": 2.1, "lr": 1e-5, "grad_norm": None, "samples": 64}
    if step > 1:  # the first RL step has no RL losses yet
        row.update({"loss/unittest/coarse": 0.5 - step / 100, "loss/unittest/fine": 0.3 + 0.02 * wave})
    if step % 5 == 0:
        row.update({"greedy_pass_rate": 0.25 + step / 80, "outcome/timeout": 0.1})
    return row


def write_run(folder: Path, rows: list[dict], summary: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def full_run(folder: Path) -> Path:
    evals = [{"phase": "eval", "step": s, "pass@1": 0.3 + s / 100, "outcome/pass": 0.3, "outcome/failure": 0.7}
             for s in (10, 20)]
    rows = sft_rows() + [rl_row(s) for s in range(1, 31)] + evals
    summary = {"before_sft": {"pass@1": 0.1}, "before": {"pass@1": 0.25}, "after": {"pass@1": 0.42}, "steps": 30}
    return write_run(folder, rows, summary)


def assert_real_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 1


def test_full_run_draws_every_figure(tmp_path: Path) -> None:
    run = full_run(tmp_path / "run")
    written = draw_report(run)
    assert {p.name for p in written} == ALL_FIGURES
    assert all(p.parent == run / "plots" for p in written)
    for path in written:
        assert_real_png(path)


def test_out_dir_is_created_where_asked(tmp_path: Path) -> None:
    run = full_run(tmp_path / "run")
    written = draw_report(run, tmp_path / "elsewhere" / "figures")
    assert {p.name for p in (tmp_path / "elsewhere" / "figures").iterdir()} == ALL_FIGURES == {p.name for p in written}
    assert not (run / "plots").exists()


def test_sft_only_run_writes_only_sft_loss(tmp_path: Path) -> None:
    written = draw_report(write_run(tmp_path / "run", sft_rows()))
    assert [p.name for p in written] == ["sft_loss.png"]
    assert [p.name for p in (tmp_path / "run" / "plots").iterdir()] == ["sft_loss.png"]


def test_figures_without_data_are_skipped(tmp_path: Path) -> None:
    rows = [{"phase": "rl", "step": s, "loss/sl": 1.0, "samples_per_s": None, "grad_norm": 2.0} for s in range(1, 11)]
    written = draw_report(write_run(tmp_path / "run", rows, {"before": {}, "after": {"pass@1": None}}))
    assert [p.name for p in written] == ["losses.png"]


def test_eval_rows_alone_still_give_a_pass_rate_figure(tmp_path: Path) -> None:
    rows = [{"phase": "eval", "step": 10, "pass@1": 0.4}]
    written = draw_report(write_run(tmp_path / "run", rows, {"after": {"pass@1": 0.4}}))
    assert sorted(p.name for p in written) == ["heldout.png", "pass_rate.png"]


def test_missing_metrics_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(RltfError, match="no metrics.jsonl here") as caught:
        draw_report(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_bad_json_line_is_located(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", sft_rows(2))
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"phase": "sft", "step": 3, "loss/sl": \n')
    with pytest.raises(DataError, match="not valid JSON") as caught:
        draw_report(run)
    assert caught.value.row == 3
    assert caught.value.path == str(run / "metrics.jsonl")


def test_empty_metrics_has_nothing_to_plot(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(RltfError, match="nothing to plot yet"):
        draw_report(run)
    assert not (run / "plots").exists()


def test_bad_summary_json_is_located(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", sft_rows(2))
    (run / "summary.json").write_text('{"after": {"pass@1": 0.4}', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON") as caught:
        draw_report(run)
    assert caught.value.path == str(run / "summary.json")


def test_live_run_skips_its_half_written_last_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = write_run(tmp_path / "run", sft_rows(3) + [rl_row(s) for s in range(1, 4)])
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(rl_row(4))[:40])
    with caplog.at_level(logging.WARNING, logger="rltf.report"):
        written = draw_report(run)
    assert {p.name for p in written} == ALL_FIGURES - {"heldout.png"}
    for path in written:
        assert_real_png(path)
    [record] = caplog.records
    assert record.name == "rltf.report" and record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"{run / 'metrics.jsonl'}, row 7: skipped;")


def test_whole_last_line_without_newline_is_a_row(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = write_run(tmp_path / "run", [])
    (run / "metrics.jsonl").write_text(json.dumps(sft_rows(1)[0]), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert [p.name for p in draw_report(run)] == ["sft_loss.png"]
    assert not caplog.records


def test_bad_middle_line_of_a_live_run_is_still_an_error(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", sft_rows(3))
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:20]
    (run / "metrics.jsonl").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON") as caught:
        draw_report(run)
    assert caught.value.row == 2


def test_byte_order_mark_and_bad_bytes(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", sft_rows(3))
    metrics = run / "metrics.jsonl"
    metrics.write_bytes(b"\xef\xbb\xbf" + metrics.read_bytes())
    (run / "summary.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"after": {"pass@1": 0.5}}).encode())
    assert {p.name for p in draw_report(run)} == {"sft_loss.png", "heldout.png"}
    metrics.write_bytes(metrics.read_bytes().replace(b'"step": 2', b'"step": \xb2'))
    with pytest.raises(DataError, match="not UTF-8 text") as caught:
        draw_report(run)
    assert caught.value.row == 2


@pytest.mark.parametrize(("rows", "why"), [
    ([{"phase": "sft", "loss/sl": 1.0}, {"phase": "rl", "step": "3", "loss/sl": 1.0}],
     "read 2 row(s), and none is an sft/rl/eval row with a numeric step"),
    ([{"phase": "warmup", "step": 1, "loss/sl": 1.0}, {"phase": "rl", "step": 1, "grad_norm": 2.0}],
     "read 2 row(s), and the 1 sft/rl/eval row(s) with a step hold no value that any figure plots"),
])
def test_rows_that_give_no_figure_say_why(tmp_path: Path, rows: list[dict], why: str) -> None:
    run = write_run(tmp_path / "run", rows)
    with pytest.raises(RltfError) as caught:
        draw_report(run)
    assert str(caught.value) == f"{run / 'metrics.jsonl'}: nothing to plot yet: {why}"
    assert not (run / "plots").exists()


def test_out_under_a_file_is_one_error_line(tmp_path: Path) -> None:
    run = full_run(tmp_path / "run")
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "plots"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr == f"error: --out {out}: a part of the path is a file, not a folder\n"
    assert result.stdout == ""


def test_cli_shows_the_skipped_line_as_a_warning(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", sft_rows(3))
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"phase": "sft", "st')
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {run / 'metrics.jsonl'}, row 4: skipped;")
    assert result.stdout.split() == [str(run / "plots" / "sft_loss.png")]


@pytest.mark.parametrize(("value", "why"), [
    ("1" + "0" * 400, "holds a number too large for a float"),
    ("1" * 5000, "holds an integer of more than 4300 digits"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply to read"),
])
@pytest.mark.parametrize("newline", [True, False], ids=["row", "last-row-without-newline"])
def test_a_row_too_big_to_read_is_one_error_line(tmp_path: Path, value: str, why: str, newline: bool) -> None:
    run = write_run(tmp_path / "run", sft_rows(2))
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"phase": "sft", "step": 3, "loss/sl": ' + value + "}" + ("\n" if newline else ""))
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {run / 'metrics.jsonl'}, row 3: {why}\n"
    assert not (run / "plots").exists()


def test_a_summary_number_too_large_for_a_float_names_the_file(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", sft_rows(2))
    (run / "summary.json").write_text('{"after": {"pass@1": 1' + "0" * 400 + "}}", encoding="utf-8")
    with pytest.raises(DataError, match="too large for a float") as caught:
        draw_report(run)
    assert caught.value.path == str(run / "summary.json")
