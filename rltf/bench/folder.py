"""The bench folder: what a benchmark run writes, appended as it goes, so a kill loses one batch at most.

``bench.json``     settings, model, the tasks in benchmark order and the shard: written first, once
``samples.jsonl``  one row per generated sample, appended and flushed as each batch is generated
``results.jsonl``  one row per judged sample (the sample's fields, then the judge's), appended likewise
``summary.json``, ``report.md``, ``passk.png``, ``outcomes.png``: written at the end
``timing.json``    where the time went (generating, judging, waiting for the judge)

A kill -9 can leave half a row at the end of either JSONL file; ``--resume`` cuts it off
and carries on from the whole rows. At the end both files are rewritten in (task, sample)
order, so a run's files are the same however often it was interrupted.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from rltf.errors import DataError, RltfError
from rltf.inputs import read_text
from rltf.outputs import check_folder_writable, write_text
from rltf.run_folder import create_exclusively

BENCH = "bench.json"
SAMPLES = "samples.jsonl"
RESULTS = "results.jsonl"
SUMMARY = "summary.json"
TIMING = "timing.json"
FORMAT = 1

Row = dict[str, Any]


@dataclass(frozen=True)
class BenchHeader:
    """``tasks``: this run's tasks (its shard of ``selection``); ``difficulties`` covers them all."""

    benchmark: str
    model: str
    settings: dict[str, Any]
    selection: list[str]
    tasks: list[str]
    difficulties: dict[str, str | None]
    shard: tuple[int, int]
    format: int = FORMAT

    def to_json(self) -> str:
        return json_text(asdict(self))


def check_new(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise RltfError(f"--out {folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if (folder / BENCH).exists() and not (folder / SUMMARY).exists():
            raise RltfError(f"--out {folder} holds an unfinished benchmark run; to continue it: --resume {folder}")
        raise RltfError(f"--out {folder} already holds files; a new benchmark run needs a new or empty folder")
    check_folder_writable(folder, "--out")


def create(folder: Path, header: BenchHeader) -> None:
    check_new(folder)
    create_exclusively(folder, BENCH, header.to_json(), "--out")


def read_header(folder: Path, option: str) -> BenchHeader:
    path = folder / BENCH
    if not path.is_file():
        raise RltfError(f"{option} {folder}: no {BENCH} here; is this a folder made by rltf bench?")
    try:
        data = json.loads(read_text(path))
        header = BenchHeader(**{**data, "shard": tuple(data["shard"])})
    except (ValueError, TypeError, KeyError) as error:
        raise DataError(path, f"not a bench header rltf can read ({error})") from None
    if header.format != FORMAT:
        raise DataError(path, f"format {header.format}; this rltf reads format {FORMAT}", field="format")
    return header


def check_resumable(folder: Path) -> BenchHeader:
    header = read_header(folder, "--resume")
    if (folder / SUMMARY).exists():
        raise RltfError(f"--resume {folder}: this benchmark run finished ({SUMMARY} is there); nothing to resume")
    check_folder_writable(folder, "--resume")
    return header


def read_rows(path: Path, repair: bool = False) -> list[Row]:
    """The whole rows of a JSONL file the run appends to; with ``repair``, a half-written last row
    (the run was killed while writing it) is cut off the file, else it is an error."""
    if not path.exists():
        return []
    text = read_text(path)
    whole, _, partial = text.rpartition("\n")
    if partial:
        if not repair:
            raise DataError(path, "the last row is incomplete (was the run killed?); --resume repairs it")
        with open(path, "r+b") as handle:
            handle.truncate(len(whole.encode("utf-8")) + (1 if whole else 0))
    rows = []
    for number, line in enumerate(whole.split("\n") if whole else [], start=1):
        try:
            rows.append(json.loads(line))
        except ValueError as error:
            raise DataError(path, f"not valid JSON ({error})", row=number) from None
    return rows


class Appender:
    """Rows appended to a JSONL file and flushed to disk batch by batch."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.handle = open(path, "a", encoding="utf-8")
        except OSError as error:
            raise RltfError(f"cannot write {path}: {error.strerror or error}") from None

    def write(self, rows: Iterable[Row]) -> None:
        try:
            self.handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
            self.handle.flush()
            os.fsync(self.handle.fileno())
        except OSError as error:
            raise RltfError(f"cannot write {self.path}: {error.strerror or error}; "
                            f"free some space and continue with --resume") from None

    def close(self) -> None:
        self.handle.close()


def ordered(rows: Sequence[Row], tasks: Sequence[str]) -> list[Row]:
    """Rows in benchmark order, then sample order; the last row of a (task, sample) wins."""
    place = {task: index for index, task in enumerate(tasks)}
    unique = {(row["task_id"], row["sample"]): row for row in rows}
    return sorted(unique.values(), key=lambda row: (place[row["task_id"]], row["sample"]))


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_rows(path: Path, rows: Iterable[Row]) -> None:
    write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
