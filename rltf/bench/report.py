"""A benchmark run's summary as the paper's tables and two figures.

Readers compare a run with the published numbers, so the main table keeps the APPS
paper's layout: one row per difficulty with "all" last, pass@k beside strict accuracy
and the test case average, all as percentages. The outcome mix and the most frequent
error types follow, because a low score is only actionable once one knows whether the
programs crash, time out or merely answer wrongly. A k that was asked for but not
reported is named with its reason, so a missing column is never mistaken for an omission.

The markdown holds no timestamp or path, so two runs with the same numbers give the same
file and a diff between reports shows only what changed. The output folder is checked
before anything is drawn, and every file is written whole.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from rich.table import Table

from rltf.judge.result import OUTCOMES
from rltf.outputs import check_folder_writable, write_bytes, write_text
from rltf.report import OUTCOME_COLOURS

Summary = Mapping[str, Any]
HEADER_SETTINGS = ("n", "temperature", "top_p", "max_new_tokens", "seed", "chat")
LOG_SPAN = 10


def write_report(summary: Summary, out_dir: Path, *, option: str = "--out") -> list[Path]:
    """report.md and the figures; nothing is written unless the folder can take all of them."""
    check_folder_writable(out_dir, option)
    markdown, figures = report_markdown(summary), _figures(summary)
    write_text(out_dir / "report.md", markdown)
    return [out_dir / "report.md", *_write_figures(out_dir, figures)]


def draw_plots(summary: Summary, out_dir: Path, *, option: str = "--out") -> list[Path]:
    """passk.png (left out when no k could be reported) and outcomes.png."""
    check_folder_writable(out_dir, option)
    return _write_figures(out_dir, _figures(summary))


def report_markdown(summary: Summary) -> str:
    sections = [_header(summary), _scores_markdown(summary), _outcomes_markdown(summary), _errors_markdown(summary)]
    return "\n\n".join(section for section in sections if section) + "\n"


def summary_table(summary: Summary) -> Table:
    """The main table for the terminal, the same rows and columns as the markdown's."""
    table = Table(title=f"{summary.get('benchmark', '?')}: {summary.get('model', '?')}")
    for index, name in enumerate(_columns(summary)):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in _score_rows(summary):
        table.add_row(*row)
    return table


def paper_order(groups: Mapping[str, Any]) -> list[str]:
    """Difficulties in the order summarize gives them, then "all", as the paper's table ends with its total."""
    return [name for name in groups if name != "all"] + (["all"] if "all" in groups else [])


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def _header(summary: Summary) -> str:
    settings = summary.get("settings") or {}
    shown = ", ".join(f"{key}={_setting(settings.get(key))}" for key in HEADER_SETTINGS)
    lines = [f"# {summary.get('benchmark', '?')} benchmark", "",
             f"- model: `{summary.get('model', '?')}`", f"- settings: {shown}"]
    if settings.get("split"):
        lines.append(f"- split: {settings['split']}")
    return "\n".join(lines)


def _setting(value: Any) -> str:
    return "?" if value is None else str(value)


def _columns(summary: Summary) -> list[str]:
    return ["group", "tasks", "samples", *(f"pass@{k}" for k in summary["ks"]), "strict accuracy", "test case average"]


def _score_rows(summary: Summary) -> list[list[str]]:
    groups = summary["groups"]
    return [[name, str(groups[name]["n_tasks"]), str(groups[name]["n_samples"]),
             *(percent(groups[name][f"pass@{k}"]) for k in summary["ks"]),
             percent(groups[name]["strict_accuracy"]), percent(groups[name]["test_case_average"])]
            for name in paper_order(groups)]


def _scores_markdown(summary: Summary) -> str:
    text = "## Scores\n\n" + _table(_columns(summary), _score_rows(summary))
    skipped = summary.get("skipped_ks") or []
    if skipped:
        fewest = min(task["n"] for task in summary["tasks"].values()) if summary.get("tasks") else None
        why = f"the fewest samples a task has is {fewest}" if fewest is not None else "some task has fewer samples"
        text += (f"\n\nNot reported: {', '.join(f'pass@{k}' for k in skipped)}, since some task has fewer "
                 f"samples than k ({why}); pass@k needs at least k samples of every task.")
    return text


def _outcomes_markdown(summary: Summary) -> str:
    groups = summary["groups"]
    rows = []
    for name in paper_order(groups):
        counts = groups[name]["outcomes"]
        total = sum(counts.values())
        rows.append([name, *(f"{counts.get(o, 0)} ({percent(counts.get(o, 0) / total if total else 0.0)})"
                             for o in OUTCOMES)])
    return "## Outcomes\n\nSamples by outcome (share of the group's samples).\n\n" + _table(["group", *OUTCOMES], rows)


def _errors_markdown(summary: Summary) -> str:
    errors = summary.get("error_types") or []
    if not errors:
        return "## Error types\n\nNo failing sample raised an error."
    rows = [[f"`{kind}`", str(count)] for kind, count in errors]
    return "## Most frequent error types\n\n" + _table(["error type", "samples"], rows)


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    align = ["---", *("---:" for _ in columns[1:])]
    lines = [columns, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _figures(summary: Summary) -> dict[str, Figure]:
    figures = {"passk.png": _passk_figure(summary), "outcomes.png": _outcomes_figure(summary)}
    return {name: figure for name, figure in figures.items() if figure is not None}


def _write_figures(out_dir: Path, figures: Mapping[str, Figure]) -> list[Path]:
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        write_bytes(out_dir / name, buffer.getvalue())
    return [out_dir / name for name in figures]


def _new_axes(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def _passk_figure(summary: Summary) -> Figure | None:
    ks = list(summary["ks"])
    if not ks:
        return None
    figure, ax = _new_axes(7, 4.5)
    groups = summary["groups"]
    style = "o-" if len(ks) > 1 else "o"
    for index, name in enumerate(paper_order(groups)):
        values = [100 * groups[name][f"pass@{k}"] for k in ks]
        ax.plot(ks, values, style, color="black" if name == "all" else f"C{index % 10}",
                linewidth=2 if name == "all" else 1.5, label=name)
    if max(ks) >= LOG_SPAN * min(ks):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set(xlabel="k (samples drawn)", ylabel="pass@k (%)", ylim=(-2, 102),
           title=f"pass@k, {summary.get('benchmark', '?')}: {summary.get('model', '?')}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def _outcomes_figure(summary: Summary) -> Figure:
    groups = summary["groups"]
    names = paper_order(groups)[::-1]  # barh draws bottom-up; this puts the first row on top
    figure, ax = _new_axes(8, 1.5 + 0.6 * len(names))
    left = [0.0] * len(names)
    for outcome in OUTCOMES:
        shares = [_share(groups[name]["outcomes"], outcome) for name in names]
        ax.barh(names, shares, left=left, color=OUTCOME_COLOURS[outcome], label=outcome)
        left = [a + b for a, b in zip(left, shares)]
    ax.set(xlabel="share of samples", xlim=(0, 1), title="Outcomes of sampled programs")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def _share(counts: Mapping[str, int], outcome: str) -> float:
    total = sum(counts.values())
    return counts.get(outcome, 0) / total if total else 0.0
