"""APPS: competitive-programming problems, call-based or standard-input.

Two layouts hold the same data:

* the hub's rows as JSON lines (one file, or a directory of ``*.jsonl`` files), with
  ``solutions`` and ``input_output`` stored as JSON strings inside the row;
* the original release's folders: ``NNNN/`` with question.txt, input_output.json,
  metadata.json and optional solutions.json and starter_code.py.

Either may sit under a parent holding ``train/`` and ``test/`` (or ``train.jsonl`` and
``test.jsonl``). Both splits number their problems from 0, so one load takes one split.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any, Callable

from rltf.datasets.records import (
    LoadReport,
    OnError,
    Record,
    check_split,
    collect,
    decode_json,
    hub_error,
    json_error_message,
    read_json_file,
    read_jsonl,
    read_text,
)
from rltf.errors import DataError, RltfError
from rltf.hub import dataset_cached_copy
from rltf.problems import CallCase, CallTests, Problem, StdioCase, StdioTests, Tests

SOURCE = "apps"
HUB_NAME = "codeparrot/apps"
SPLITS = ("train", "test")
DIFFICULTIES = ("introductory", "interview", "competition")
LOCAL_COPIES = "apps/train-mini/*.jsonl, apps/original-layout/train/NNNN/"


# The APPS evaluation harness runs every program after this header; solutions rely on
# it (``List`` in LeetCode signatures, bare ``Counter`` or ``sqrt``), so the judge does too.
APPS_HEADER = """\
import sys
import time
import itertools
from itertools import accumulate, product, permutations, combinations
import collections
from collections import Counter, OrderedDict, deque, defaultdict, ChainMap
from functools import lru_cache
import math
from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2
import fractions
from typing import List, Tuple
import numpy as np
import random
import heapq
from heapq import *
"""


def load(path: str | None = None, split: str | None = None, on_error: OnError = "raise") -> LoadReport:
    """Load APPS from a local copy in either layout, or from the hub when no path is given."""
    check_split(split, SPLITS, "APPS")
    source = split_source(Path(path), split) if path else hub_file(split)
    if source.is_file():
        return collect(read_jsonl(source), build_row, on_error)
    jsonl_files = sorted(source.glob("*.jsonl"))
    if jsonl_files:
        return collect(chain.from_iterable(map(read_jsonl, jsonl_files)), build_row, on_error)
    folders = sorted((child for child in source.iterdir() if is_problem_folder(child)), key=folder_number)
    if folders:
        return collect(folders, build_folder, on_error)
    raise DataError(
        str(source), "no APPS data here: expected *.jsonl files, NNNN/ problem folders, or train/ and test/"
    )


def split_source(path: Path, split: str | None) -> Path:
    """The file or directory holding ``split`` (or the only split) under ``path``."""
    if not path.exists():
        raise DataError(str(path), "no such file or directory")
    if path.is_file():
        if split:
            raise RltfError(f"{path} is a single file; a split selects train/ or test/ in a directory")
        return path
    present = [name for name in SPLITS if split_path(path, name).exists()]
    if split and split not in present:
        raise DataError(str(path), f"no {split!r} split here (expected {split}/ or {split}.jsonl)")
    if not split and len(present) > 1:
        raise RltfError(f"{path} holds the train and test splits, which reuse problem ids; choose one with a split")
    chosen = split or (present[0] if present else None)
    return split_path(path, chosen) if chosen else path


def split_path(parent: Path, split: str) -> Path:
    folder = parent / split
    return folder if folder.is_dir() else parent / f"{split}.jsonl"


def hub_file(split: str | None) -> Path:
    """The hub's raw ``{split}.jsonl``.

    Downloaded as a file rather than through ``datasets.load_dataset``: the hub repo's
    loading script is refused by datasets>=4, and the raw file gets the same parser and
    line-numbered errors as a local copy. An unreachable hub is told at once (see
    ``rltf.hub``), or the cached file is used if there is one.
    """
    if split is None:
        raise RltfError(
            "APPS on the Hugging Face hub has train and test splits that reuse problem ids; choose one with a split"
        )
    what, filename = f"APPS ({split})", f"{split}.jsonl"
    cached = dataset_cached_copy(HUB_NAME, filename, what, LOCAL_COPIES)
    if cached is not None:
        return Path(cached)
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(HUB_NAME, filename, repo_type="dataset"))
    except Exception as err:  # offline, renamed, rate-limited...: all mean "use a local copy"
        raise hub_error(what, err, LOCAL_COPIES) from err


def is_problem_folder(path: Path) -> bool:
    return path.is_dir() and path.name.isdigit()


def folder_number(folder: Path) -> int:
    return int(folder.name)


def build_row(record: Record) -> Problem:
    """A problem from the hub's row format."""
    starter_code = record.optional("starter_code", str, "")
    return make_problem(
        task_id=str(record.required("problem_id", int)),
        question=record.required("question", str),
        tests=parse_tests(decode_field(record, "input_output"), starter_code),
        solutions=parse_solutions(record.required("solutions", str), record, "solutions"),
        difficulty=parse_difficulty(record),
        starter_code=starter_code,
        metadata={"url": record.optional("url", str, "")},
    )


def build_folder(folder: Path) -> Problem:
    """A problem from one NNNN/ folder of the original release."""
    task_id = str(folder_number(folder))
    metadata = json_object_record(folder / "metadata.json", task_id)
    starter_path = folder / "starter_code.py"
    starter_code = read_text(starter_path, task_id) if starter_path.exists() else ""
    return make_problem(
        task_id=task_id,
        question=read_text(folder / "question.txt", task_id),
        tests=parse_tests(json_object_record(folder / "input_output.json", task_id), starter_code),
        solutions=read_solutions(folder / "solutions.json", task_id),
        difficulty=parse_difficulty(metadata),
        starter_code=starter_code,
        metadata={"url": metadata.optional("url", str, ""), "folder": folder.name},
    )


def make_problem(
    *, task_id: str, question: str, tests: Tests, solutions: tuple[str, ...], difficulty: str,
    starter_code: str, metadata: dict[str, Any],
) -> Problem:
    return Problem(
        task_id=task_id,
        prompt=question,
        tests=tests,
        starter_code=starter_code,
        solutions=solutions,
        difficulty=difficulty,
        entry_point=tests.fn_name if isinstance(tests, CallTests) else None,
        program_preamble=APPS_HEADER,
        source=SOURCE,
        metadata=metadata,
    )


def decode_field(record: Record, name: str) -> Record:
    """The JSON object stored as a string in field ``name``, as a record located there."""
    text = record.required(name, str)
    if not text.strip():
        raise record.error("empty: the problem has no tests", name)
    try:
        data = decode_json(text)
    except ValueError as err:
        raise record.error(json_error_message(err), name) from None
    if not isinstance(data, dict):
        raise record.error(f"expected a JSON object, got {type(data).__name__}", name)
    return record.nested(name, data)


def json_object_record(path: Path, task_id: str) -> Record:
    data = read_json_file(path, task_id)
    if not isinstance(data, dict):
        raise DataError(str(path), f"expected a JSON object, got {type(data).__name__}", row=task_id)
    return Record(str(path), task_id, data)


def parse_solutions(text: str, record: Record, name: str) -> tuple[str, ...]:
    """Reference programs from a JSON string; APPS leaves it empty for some problems."""
    if not text.strip():
        return ()
    try:
        solutions = decode_json(text)
    except ValueError as err:
        raise record.error(json_error_message(err), name) from None
    return checked_solutions(solutions, lambda message: record.error(message, name))


def read_solutions(path: Path, task_id: str) -> tuple[str, ...]:
    if not path.exists():
        return ()
    solutions = read_json_file(path, task_id)
    return checked_solutions(solutions, lambda message: DataError(str(path), message, row=task_id))


def checked_solutions(solutions: Any, error: Callable[[str], DataError]) -> tuple[str, ...]:
    if not isinstance(solutions, list) or not all(isinstance(solution, str) for solution in solutions):
        raise error("expected a JSON list of programs")
    return tuple(solutions)


def parse_difficulty(record: Record) -> str:
    difficulty = record.required("difficulty", str)
    if difficulty not in DIFFICULTIES:
        expected = ", ".join(DIFFICULTIES)
        raise record.error(f"unknown difficulty {difficulty!r}; expected one of {expected}", "difficulty")
    return difficulty


def parse_tests(io: Record, starter_code: str) -> CallTests | StdioTests:
    """Call-based tests when ``fn_name`` is given, standard-input tests otherwise."""
    inputs = io.required("inputs", list)
    outputs = io.required("outputs", list)
    if len(inputs) != len(outputs):
        raise io.error(f"{len(inputs)} inputs but {len(outputs)} outputs", "outputs")
    if not inputs:
        raise io.error("no test cases", "inputs")
    fn_name = io.optional("fn_name", str, "")
    if fn_name:
        return call_tests(io, fn_name, inputs, outputs, starter_code)
    return StdioTests(
        tuple(
            StdioCase(stdio_text(io, "inputs", number, stdin), stdio_text(io, "outputs", number, stdout))
            for number, (stdin, stdout) in enumerate(zip(inputs, outputs), start=1)
        )
    )


def call_tests(io: Record, fn_name: str, inputs: list[Any], outputs: list[Any], starter_code: str) -> CallTests:
    for number, args in enumerate(inputs, start=1):
        if not isinstance(args, list):
            raise io.error(f"case {number}: expected a list of arguments, got {type(args).__name__}", "inputs")
    return CallTests(
        fn_name=fn_name,
        cases=tuple(CallCase(args=tuple(args), expected=expected) for args, expected in zip(inputs, outputs)),
        class_name="Solution" if "class Solution" in starter_code else None,
    )


def stdio_text(io: Record, name: str, number: int, value: Any) -> str:
    """A stdin or stdout text; APPS sometimes stores one as a list of lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value) + "\n"
    raise io.error(f"case {number}: expected a string or a list of lines, got {type(value).__name__}", name)
