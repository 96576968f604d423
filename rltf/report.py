"""Training curves of a run folder, drawn to PNG files.

A researcher judges a run by the shape of its curves (is the loss falling, is the pass
rate climbing, is the judge keeping up with the learner), not by reading ``metrics.jsonl``
line by line. ``draw_report`` turns that file, and ``summary.json`` once there is one, into
a few figures, leaving out any whose data the run never logged. Each figure has its own
Agg canvas, so no global pyplot state is touched and no display is needed.

A report is often drawn while the run is still writing, so a last line with no newline
yet that is not valid JSON yet is the row being written: it is skipped with a warning, not
treated as a broken file. The output folder is checked before any drawing, and each PNG is
written whole, so an unwritable ``--out`` costs one error line and no half-written image.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rltf.errors import DataError, RltfError
from rltf.inputs import load_json, numbered_lines, read_text
from rltf.outputs import check_folder_writable, write_bytes

Row = dict[str, Any]
Series = tuple[list[int], list[float]]

log = logging.getLogger("rltf.report")
PHASES = ("sft", "rl", "eval")

TIMES = ("gen_s", "learn_s", "judge_s", "wait_s")
HELDOUT = (("before_sft", "before SFT"), ("before", "before RL"), ("after", "after RL"))
OUTCOME_COLOURS = {
    "pass": "tab:green", "failure": "tab:orange", "runtime_error": "tab:red",
    "timeout": "tab:purple", "compile_error": "tab:gray",
}


def draw_report(run_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Reads run_dir/metrics.jsonl, writes PNGs to out_dir (default run_dir/'plots'), returns the paths written."""
    metrics = run_dir / "metrics.jsonl"
    rows = _read_rows(run_dir, metrics)
    scores = _heldout_scores(run_dir / "summary.json")
    out_dir = out_dir if out_dir is not None else run_dir / "plots"
    check_folder_writable(out_dir, "--out")
    sft, rl, evals = (_phase(rows, name) for name in PHASES)
    figures = {
        "sft_loss.png": _curves(sft, ["loss/sl"], "SFT step", "loss", "Supervised fine-tuning loss"),
        "losses.png": _curves(rl, _keys(rl, "loss/"), "RL step", "loss", "Losses"),
        "rewards.png": _curves(rl, _keys(rl, "reward/"), "RL step", "mean reward", "Rewards by provider and kind"),
        "pass_rate.png": _pass_rate(rl, evals),
        "outcomes.png": _outcomes(rl),
        "speed.png": _speed(rl),
        "heldout.png": _heldout(scores),
    }
    drawn = {name: figure for name, figure in figures.items() if figure is not None}
    if not drawn:
        raise _nothing_to_plot(metrics, rows, len(sft) + len(rl) + len(evals))
    for name, figure in drawn.items():
        _write_png(out_dir / name, figure)
    return [out_dir / name for name in drawn]


def _read_rows(run_dir: Path, path: Path) -> list[Row]:
    if not path.is_file():
        raise RltfError(f"{run_dir}: no metrics.jsonl here; is this a run folder made by rltf train?")
    text = read_text(path)
    lines = numbered_lines(text)
    unfinished = lines.pop() if lines and lines[-1][0] > text.count("\n") else None
    rows = [_parse(path, line, number) for number, line in lines]
    if unfinished is not None:
        rows += _unfinished_row(path, *unfinished)
    if not rows:
        raise RltfError(f"{path}: no rows yet, so there is nothing to plot yet")
    return rows


def _unfinished_row(path: Path, number: int, line: str) -> list[Row]:
    """The last line, which has no newline: whole if it parses, else a row a live run is still writing."""
    try:
        json.loads(line, parse_int=_float_sized)
    except json.JSONDecodeError:
        log.warning("%s, row %d: skipped; it has no newline and is not valid JSON yet, "
                    "so the run is probably still writing it", path, number)
        return []
    except (ValueError, OverflowError, RecursionError):
        pass  # whole, but unusable: _parse says why
    return [_parse(path, line, number)]


def _parse(path: Path, line: str, number: int) -> Row:
    row = load_json(line, path, row=number, parse_int=_float_sized)
    if not isinstance(row, dict):
        raise DataError(str(path), "not a JSON object", row=number)
    return row


def _nothing_to_plot(path: Path, rows: list[Row], usable: int) -> RltfError:
    """Why no figure came out, so an early or foreign file is not mistaken for a silent success."""
    if usable:
        why = f"the {usable} {'/'.join(PHASES)} row(s) with a step hold no value that any figure plots"
    else:
        why = f"none is an {'/'.join(PHASES)} row with a numeric step"
    return RltfError(f"{path}: nothing to plot yet: read {len(rows)} row(s), and {why}")


def _write_png(path: Path, figure: Figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes(path, buffer.getvalue())


def _phase(rows: list[Row], phase: str) -> list[Row]:
    return [row for row in rows if row.get("phase") == phase and _number(row.get("step")) is not None]


def _float_sized(digits: str) -> int:
    """An integer that ``_number`` can turn into a float: a larger one is refused where it is read."""
    value = int(digits)
    float(value)  # OverflowError past about 1.8e308
    return value


def _number(value: Any) -> float | None:
    """The value as a float, or None for null, missing and non-numeric values."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _keys(rows: list[Row], prefix: str) -> list[str]:
    return sorted({key for row in rows for key in row if key.startswith(prefix)})


def _present(rows: list[Row], keys: Sequence[str]) -> dict[str, Series]:
    """Each key's (steps, values), leaving out keys with no value in any row."""
    series = {}
    for key in keys:
        kept = [(row["step"], value) for row in rows if (value := _number(row.get(key))) is not None]
        if kept:
            series[key] = ([step for step, _ in kept], [value for _, value in kept])
    return series


def _moving_average(values: list[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` points; the first points average what there is."""
    sums = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _new_figure(panels: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(9, 3 + 2 * panels), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, list(figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0])


def _lines(ax: Axes, series: dict[str, Series]) -> None:
    """Raw values faintly, their moving average over n // 20 points on top, one colour per series.

    The legend goes beside the axes, so it never hides a curve.
    """
    for index, (label, (steps, values)) in enumerate(series.items()):
        colour, window = f"C{index % 10}", max(1, len(values) // 20)
        ax.plot(steps, values, color=colour, alpha=0.25, linewidth=1)
        ax.plot(steps, _moving_average(values, window), color=colour, linewidth=2,
                label=label if window == 1 else f"{label} (mean of {window})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))


def _curves(rows: list[Row], keys: Sequence[str], xlabel: str, ylabel: str, title: str) -> Figure | None:
    series = _present(rows, keys)
    if not series:
        return None
    figure, (ax,) = _new_figure()
    _lines(ax, series)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return figure


def _pass_rate(rl: list[Row], evals: list[Row]) -> Figure | None:
    series, held_out = _present(rl, ["pass_rate", "greedy_pass_rate"]), _present(evals, ["pass@1"])
    if not series and not held_out:
        return None
    figure, (ax,) = _new_figure()
    for steps, values in held_out.values():
        ax.plot(steps, values, "D", color="black", markersize=7, label="held-out pass@1 (eval)", zorder=3)
    _lines(ax, series)
    ax.set(xlabel="RL step", ylabel="fraction of problems passed", title="Pass rate", ylim=(-0.02, 1.02))
    return figure


def _outcomes(rl: list[Row]) -> Figure | None:
    found = {key.removeprefix("outcome/") for key in _keys(rl, "outcome/")}
    names = [name for name in OUTCOME_COLOURS if name in found] + sorted(found - OUTCOME_COLOURS.keys())
    if not names:
        return None
    figure, (ax,) = _new_figure()
    fractions = [[_number(row.get(f"outcome/{name}")) or 0.0 for row in rl] for name in names]
    colours = [OUTCOME_COLOURS.get(name, f"C{index % 10}") for index, name in enumerate(names)]
    ax.stackplot([row["step"] for row in rl], fractions, labels=names, colors=colours, alpha=0.85)
    ax.set(xlabel="RL step", ylabel="fraction of samples", title="Outcomes of sampled programs", ylim=(0, 1))
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def _speed(rl: list[Row]) -> Figure | None:
    panels = {"samples / s": _present(rl, ["samples_per_s"]), "seconds per step": _present(rl, TIMES)}
    panels = {ylabel: series for ylabel, series in panels.items() if series}
    if not panels:
        return None
    figure, axes = _new_figure(len(panels))
    for ax, (ylabel, series) in zip(axes, panels.items()):
        _lines(ax, series)
        ax.set_ylabel(ylabel)
    axes[0].set_title("Throughput and where each step's time goes")
    axes[-1].set_xlabel("RL step")
    return figure


def _heldout_scores(path: Path) -> dict[str, float]:
    """summary.json's held-out pass@1 by stage, in run order; empty where there is none."""
    if not path.is_file():
        return {}
    summary = load_json(read_text(path), path, parse_int=_float_sized)
    if not isinstance(summary, dict):
        return {}
    labels = dict(HELDOUT) if summary.get("rl_steps", 1) else {"before": "before SFT", "after": "after SFT"}
    stages = {label: summary.get(key) for key, label in labels.items()}
    scores = {label: _number(stage.get("pass@1")) for label, stage in stages.items() if isinstance(stage, dict)}
    return {label: score for label, score in scores.items() if score is not None}


def _heldout(scores: dict[str, float]) -> Figure | None:
    if not scores:
        return None
    figure, (ax,) = _new_figure()
    figure.set_size_inches(5, 4)
    ax.bar_label(ax.bar(list(scores), list(scores.values()), color="tab:blue"), fmt="%.3f")
    ax.set(ylabel="pass@1", title="Held-out pass@1", ylim=(0, 1.08))
    return figure
