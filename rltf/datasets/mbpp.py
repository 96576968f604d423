"""MBPP, the full release (974 problems) and the hand-checked sanitized subset (427).

Splits follow the usual MBPP split by task id, the one the hub's splits use too:

* ``prompt``: 1-10, the few-shot examples
* ``test``: 11-510
* ``validation``: 511-600
* ``train``: 601-974

``split=None`` loads every row. The sanitized subset keeps the original task ids, so the
same ranges split it (7 prompt, 257 test, 43 validation, 120 train).
"""

from __future__ import annotations

import ast
import builtins
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from rltf.datasets.records import (
    LoadReport,
    OnError,
    Record,
    check_split,
    collect,
    hub_error,
    json_list_records,
    jsonl_records,
)
from rltf.errors import DataError
from rltf.hub import check_dataset_hub
from rltf.inputs import read_text
from rltf.problems import AssertTests, Problem

SOURCE = "mbpp"
HUB_NAME = "google-research-datasets/mbpp"
SPLITS: Mapping[str, range] = {
    "prompt": range(1, 11),
    "test": range(11, 511),
    "validation": range(511, 601),
    "train": range(601, 975),
}


def load_full(path: str | None = None, split: str | None = None, on_error: OnError = "raise") -> LoadReport:
    """Load the full release: mbpp.jsonl, or the hub's "full" config when no path is given."""
    check_split(split, SPLITS, "MBPP")
    records = full_records(Path(path)) if path else hub_records("full")
    return collect(in_split(records, split), build_full, on_error)


def load_sanitized(path: str | None = None, split: str | None = None, on_error: OnError = "raise") -> LoadReport:
    """Load the sanitized subset: sanitized-mbpp.json, or the hub's "sanitized" config."""
    check_split(split, SPLITS, "MBPP")
    records = sanitized_records(Path(path)) if path else hub_records("sanitized")
    return collect(in_split(records, split), build_sanitized, on_error)


def full_records(path: Path) -> Iterator[Record | DataError]:
    """The rows of mbpp.jsonl; the two releases are easily swapped, so the other's layout is named."""
    text = read_text(path)
    if first_character(text) == "[":
        raise DataError(str(path), "holds one JSON list, the layout of the sanitized release "
                                   "(sanitized-mbpp.json); use --dataset mbpp-sanitized")
    return jsonl_records(path, text)


def sanitized_records(path: Path) -> Iterator[Record | DataError]:
    """The rows of sanitized-mbpp.json, naming the full release when given its layout."""
    text = read_text(path)
    if first_character(text) == "{":
        raise DataError(str(path), "holds JSON objects, not one JSON list: the JSON-lines layout of the full "
                                   "release (mbpp.jsonl); use --dataset mbpp")
    return json_list_records(path, text)


def first_character(text: str) -> str:
    return text.lstrip()[:1]


def build_full(record: Record) -> Problem:
    return build_problem(
        record,
        prompt=record.required("text", str),
        setup_code=record.optional("test_setup_code", str, ""),
        metadata={"challenge_test_list": lf(record.strings("challenge_test_list", default=()))},
    )


def build_sanitized(record: Record) -> Problem:
    return build_problem(
        record,
        prompt=record.required("prompt", str),
        setup_code="\n".join(record.strings("test_imports", default=())),
        metadata={"source_file": record.optional("source_file", str, "")},
    )


def build_problem(record: Record, prompt: str, setup_code: str, metadata: dict[str, Any]) -> Problem:
    """The parts both releases share; the tests go in metadata too, since MBPP prompts
    conventionally show them to the model."""
    tests = lf(record.strings("test_list"))
    if not tests:
        raise record.error("no tests", "test_list")
    code = lf_text(record.required("code", str))
    return Problem(
        task_id=str(record.required("task_id", int)),
        prompt=lf_text(prompt),
        tests=AssertTests(asserts=tests, setup_code=lf_text(setup_code)),
        solutions=(code,),
        entry_point=tested_function(tests, code),
        source=SOURCE,
        metadata={"test_list": tests, **metadata},
    )


def tested_function(tests: tuple[str, ...], code: str) -> str | None:
    """The function the tests are about: the first one called in the tests that the reference
    solution defines (task 126 names it ``sum``, so the judge must know that the tests mean
    the program's ``sum``, not the builtin), else the first called name that is no builtin."""
    try:
        with warnings.catch_warnings():  # MBPP's code has invalid escape sequences in strings
            warnings.simplefilter("ignore")
            defined = {node.name for node in ast.parse(code).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
            called = [node.func.id for test in tests for node in ast.walk(ast.parse(test))
                      if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    except SyntaxError:
        return None
    return next((name for name in called if name in defined),
                next((name for name in called if not hasattr(builtins, name)), None))


def lf_text(text: str) -> str:
    """MBPP's programs use Windows line ends; normalise so prompts and programs agree."""
    return text.replace("\r\n", "\n")


def lf(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(lf_text(text) for text in texts)


def in_split(records: Iterable[Record | DataError], split: str | None) -> Iterator[Record | DataError]:
    """The records of ``split``; rows without a usable task id pass on so that they fail loudly."""
    ids = SPLITS[split] if split else None
    for record in records:
        task_id = record.data.get("task_id") if isinstance(record, Record) else None
        if ids is None or not isinstance(task_id, int) or task_id in ids:
            yield record


def hub_records(config: str) -> Iterator[Record]:
    """Every row of every split of the hub copy, in task id order like the files."""
    check_dataset_hub(f"MBPP ({config})", "mbpp/mbpp.jsonl, mbpp/sanitized-mbpp.json")
    try:
        from datasets import load_dataset

        splits = load_dataset(HUB_NAME, config)
    except Exception as err:  # offline, renamed, rate-limited...: all mean "use a local copy"
        raise hub_error(f"MBPP ({config})", err, "mbpp/mbpp.jsonl, mbpp/sanitized-mbpp.json") from err
    records = [
        Record(f"hf://datasets/{HUB_NAME} ({config}, {name})", number, row)
        for name, rows in splits.items()
        for number, row in enumerate(rows, start=1)
    ]
    return iter(sorted(records, key=task_id_order))


def task_id_order(record: Record) -> int:
    task_id = record.data.get("task_id")
    return task_id if isinstance(task_id, int) else -1
