"""The run's metrics: one JSON object per line in ``metrics.jsonl``, optionally TensorBoard too.

Each row is written and flushed when its step ends, so a killed run loses at most the
step in progress. A resumed run first cuts the file back to the byte length recorded in
its checkpoint, so the step sequence continues with no gap and no repeat.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from rltf.errors import RltfError


class MetricsLog:
    """``path = None``: a log that keeps nothing (the ranks other than 0 of a distributed run)."""

    def __init__(self, path: Path | None, tensorboard_dir: Path | None = None):
        self.path = path
        self.file = open(path, "a", encoding="utf-8") if path is not None else None
        self.tensorboard = _summary_writer(tensorboard_dir) if tensorboard_dir else None

    def write(self, row: Mapping[str, Any]) -> None:
        if self.file is None:
            return
        try:
            self.file.write(json.dumps(_plain(row)) + "\n")
            self.file.flush()
        except OSError as error:
            raise RltfError(f"cannot write {self.path} ({error.strerror or error}); --resume {self.path.parent} "
                            "continues from the newest checkpoint once it can be written") from None
        if self.tensorboard is not None:
            for key, value in row.items():  # tags carry the phase, so each phase has its own step axis
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                    self.tensorboard.add_scalar(f"{row.get('phase', 'run')}/{key}", value, row.get("step", 0))

    def position(self) -> int:
        if self.file is None or self.path is None:
            return 0
        self.file.flush()
        return self.path.stat().st_size

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def truncate(path: Path, size: int) -> None:
    """Drop rows written after the checkpoint a run resumes from."""
    if path.exists():
        with open(path, "r+b") as handle:
            handle.truncate(size)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """Floats rounded to 6 significant digits for readable files; NaN and inf become null."""
    out = {}
    for key, value in row.items():
        if isinstance(value, float):
            value = float(f"{value:.6g}") if math.isfinite(value) else None
        out[key] = value
    return out


def _summary_writer(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ModuleNotFoundError:
        raise RltfError("run.tensorboard = true needs tensorboard: pip install 'rltf[tensorboard]'") from None
    return SummaryWriter(str(folder))
