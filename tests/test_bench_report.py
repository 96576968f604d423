"""The bench report: the paper's table with hand-checked numbers, outcome mix, figures, and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from rich.console import Console

from rltf.bench.report import _passk_figure, draw_plots, report_markdown, summary_table, write_report
from rltf.evaluation.scores import SampleResult, summarize
from rltf.errors import RltfError
from rltf.judge import JudgeResult, ProgramError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SETTINGS = {"benchmark": "apps", "split": "test", "n": 3, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 512,
            "template": "apps", "stop": None, "chat": False, "seed": 7, "timeout": 4.0, "max_prompt_tokens": 1024,
            "data_path": None, "difficulty": None, "batch_size": 8, "workers": 2, "device": "cpu"}


def result(outcome: str, passed: int, error: str | None = None) -> JudgeResult:
    return JudgeResult(outcome, passed, 2, 2, error=ProgramError(error, "boom") if error else None)


# Per sample: outcome, tests passed of 2, error type.
SAMPLES = {
    "t1": [("pass", 2, None), ("pass", 2, None), ("failure", 1, None)],
    "t2": [("failure", 0, None), ("runtime_error", 0, "ValueError"), ("compile_error", 0, "SyntaxError")],
    "t3": [("pass", 2, None), ("timeout", 1, None), ("pass", 2, None)],
    "t4": [("failure", 1, None), ("failure", 0, None), ("runtime_error", 0, "ValueError")],
}
DIFFICULTIES = {"t1": "introductory", "t2": "introductory", "t3": "interview", "t4": "competition"}


def make_summary(ks=(1, 2, 5), samples=SAMPLES, difficulties=DIFFICULTIES) -> dict:
    judged = [SampleResult(task, i, result(*spec)) for task, specs in samples.items() for i, spec in enumerate(specs)]
    return {"benchmark": "apps", "model": "org/coder-1b", "settings": SETTINGS,
            **summarize(judged, difficulties, ks)}


def assert_real_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 1


def test_scores_table_in_paper_order_with_hand_computed_numbers() -> None:
    # t1: 2 of 3 pass, test ratios 1, 1, 1/2; t2: none, 0; t3: 2 of 3, 1, 1/2, 1; t4: none, 1/2, 0, 0.
    # pass@2 with n=3: 1 for c=2 (no 2-subset avoids both passes), 0 for c=0.
    markdown = report_markdown(make_summary())
    rows = [
        "| introductory | 2 | 6 | 33.33% | 50.00% | 33.33% | 41.67% |",  # tca (5/6 + 0) / 2
        "| interview | 1 | 3 | 66.67% | 100.00% | 66.67% | 83.33% |",
        "| competition | 1 | 3 | 0.00% | 0.00% | 0.00% | 16.67% |",
        "| all | 4 | 12 | 33.33% | 50.00% | 33.33% | 45.83% |",  # tca (5/6 + 0 + 5/6 + 1/6) / 4 = 11/24
    ]
    header = "| group | tasks | samples | pass@1 | pass@2 | strict accuracy | test case average |"
    lines = markdown.splitlines()
    start = lines.index(header)
    assert lines[start + 2:start + 6] == rows


def test_header_names_benchmark_model_and_settings() -> None:
    markdown = report_markdown(make_summary())
    assert markdown.startswith("# apps benchmark\n")
    assert "- model: `org/coder-1b`" in markdown
    assert "- settings: n=3, temperature=0.8, top_p=0.95, max_new_tokens=512, seed=7, chat=False" in markdown


def test_skipped_ks_are_named_with_the_reason() -> None:
    markdown = report_markdown(make_summary(ks=(1, 2, 5, 10)))
    assert "Not reported: pass@5, pass@10, since some task has fewer samples than k" in markdown
    assert "the fewest samples a task has is 3" in markdown
    assert "Not reported" not in report_markdown(make_summary(ks=(1, 2)))


def test_outcome_mix_and_error_types() -> None:
    markdown = report_markdown(make_summary())
    assert "| group | pass | failure | runtime_error | compile_error | timeout |" in markdown
    assert ("| all | 4 (33.33%) | 4 (33.33%) | 2 (16.67%) | 1 (8.33%) | 1 (8.33%) |") in markdown
    assert "| competition | 0 (0.00%) | 2 (66.67%) | 1 (33.33%) | 0 (0.00%) | 0 (0.00%) |" in markdown
    errors = markdown[markdown.index("## Most frequent error types"):]
    assert errors.index("| `ValueError` | 2 |") < errors.index("| `SyntaxError` | 1 |")


def test_no_errors_and_no_difficulties() -> None:
    samples = {"a": [("pass", 2, None)], "b": [("failure", 1, None)]}
    markdown = report_markdown(make_summary(ks=(1,), samples=samples, difficulties={}))
    assert "| all | 2 | 2 | 50.00% | 50.00% | 75.00% |" in markdown
    assert "No failing sample raised an error." in markdown


def test_markdown_is_deterministic() -> None:
    assert report_markdown(make_summary()) == report_markdown(make_summary())
    reordered = dict(reversed(list(SAMPLES.items())))
    assert report_markdown(make_summary(samples=reordered)) == report_markdown(make_summary())


def test_summary_table_for_the_terminal() -> None:
    console = Console(width=150, record=True)
    console.print(summary_table(make_summary()))
    text = console.export_text()
    assert [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")] == \
        ["introductory", "interview", "competition", "all"]
    assert "45.83%" in text and "pass@2" in text


def test_write_report_writes_markdown_and_real_pngs(tmp_path: Path) -> None:
    out = tmp_path / "new" / "report"
    summary = make_summary()
    written = write_report(summary, out)
    assert written == [out / "report.md", out / "passk.png", out / "outcomes.png"]
    assert (out / "report.md").read_text(encoding="utf-8") == report_markdown(summary)
    for path in written[1:]:
        assert_real_png(path)
    assert sorted(p.name for p in out.iterdir()) == ["outcomes.png", "passk.png", "report.md"]


def test_draw_plots_with_a_single_k_and_with_no_k(tmp_path: Path) -> None:
    single = draw_plots(make_summary(ks=(1,)), tmp_path / "one")
    assert [p.name for p in single] == ["passk.png", "outcomes.png"]
    for path in single:
        assert_real_png(path)
    none = draw_plots(make_summary(ks=(5,)), tmp_path / "none")
    assert [p.name for p in none] == ["outcomes.png"]


def test_passk_axis_is_logarithmic_only_for_a_wide_k_range() -> None:
    samples = {f"t{i}": [("pass" if j < i else "failure", 2 if j < i else 0, None) for j in range(100)]
               for i in range(3)}
    wide = _passk_figure(make_summary(ks=(1, 10, 100), samples=samples, difficulties={}))
    narrow = _passk_figure(make_summary(ks=(1, 5), samples=samples, difficulties={}))
    assert wide.axes[0].get_xscale() == "log" and narrow.axes[0].get_xscale() == "linear"
    single = _passk_figure(make_summary(ks=(1,)))
    assert all(line.get_linestyle() == "None" for line in single.axes[0].get_lines())


def test_unwritable_out_dir_fails_before_writing_anything(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("keep me", encoding="utf-8")
    for call in (write_report, draw_plots):
        with pytest.raises(RltfError, match="not a folder"):
            call(make_summary(), blocker / "sub")
    with pytest.raises(RltfError, match="is a file"):
        write_report(make_summary(), blocker)
    assert blocker.read_text(encoding="utf-8") == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]
