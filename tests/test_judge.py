"""The judge's verdicts, error locations, comparison rules and result format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import signal
import textwrap
import threading
from pathlib import Path

import pytest

from rltf.judge import Judge, JudgeConfig, JudgeResult, Submission
from rltf.errors import RltfError
from rltf.judge import plaindata
from rltf.judge.pool import MAX_WORKERS_PER_CORE, JudgeCancelled, worker_count
from rltf.judge.compare import call_output_matches, stdout_matches
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests
from tests.judge_fixtures import ADD, ADD_ASSERT, ADD_CALL, ADD_MAIN, ADD_STDIO


@pytest.fixture(scope="module")
def judge():
    with Judge(JudgeConfig(timeout_s=3.0, workers=2)) as j:
        yield j


def judge_one(judge, problem, source):
    return judge.run([Submission(problem, textwrap.dedent(source))])[0]


@pytest.mark.parametrize("problem,source", [(ADD_ASSERT, ADD), (ADD_CALL, ADD), (ADD_STDIO, ADD_MAIN)])
def test_correct_programs_pass_every_style(judge, problem, source):
    result = judge_one(judge, problem, source)
    assert (result.outcome, result.passed, result.run, result.total) == ("pass", len(problem.tests),
                                                                          len(problem.tests), len(problem.tests))
    assert all(t.verdict == "pass" and t.time_s >= 0 for t in result.tests)


def test_wrong_answers_keep_going(judge):
    result = judge_one(judge, ADD_ASSERT, "def add(a, b):\n    return 3 if a == 1 else a * b\n")
    assert result.outcome == "failure"
    assert [t.verdict for t in result.tests] == ["pass", "pass", "failure"]
    assert (result.passed, result.run) == (2, 3)


def test_crash_stops_at_the_failing_test_with_its_line(judge):
    result = judge_one(judge, ADD_CALL, """
        def helper(x):
            return 10 // x
        def add(a, b):
            if a == 2:
                return helper(0)
            return a + b
    """)
    assert result.outcome == "runtime_error"
    assert [t.verdict for t in result.tests] == ["pass", "runtime_error"]
    assert (result.error.type, result.error.line) == ("ZeroDivisionError", 3)


def test_error_line_is_in_the_program_not_the_harness(judge):
    result = judge_one(judge, ADD_STDIO, "import sys\n\nvalues = sys.stdin.read().split()\nprint(values[5])\n")
    assert (result.outcome, result.error.type, result.error.line) == ("runtime_error", "IndexError", 4)


def test_error_while_defining_the_program(judge):
    result = judge_one(judge, ADD_ASSERT, "x = 1\ny = undefined_name\n" + ADD)
    assert (result.outcome, result.run, result.error.type, result.error.line) == ("runtime_error", 0, "NameError", 2)


def test_compile_error_with_line(judge):
    result = judge_one(judge, ADD_ASSERT, "def add(a, b):\n    return a +\n")
    assert (result.outcome, result.error.type, result.error.line, result.run) == ("compile_error", "SyntaxError", 2, 0)


def test_missing_function_is_a_crash_for_assert_tests_too(judge):
    """Never better than defining it and crashing: RL would learn to leave it out."""
    result = judge_one(judge, ADD_ASSERT, "def plus(a, b):\n    return a + b\n")
    assert (result.outcome, result.run, result.error.type, result.error.line) == ("runtime_error", 0, "NameError", None)
    assert "'add'" in result.error.message


def test_missing_function_for_call_tests(judge):
    result = judge_one(judge, ADD_CALL, "def plus(a, b):\n    return a + b\n")
    assert (result.outcome, result.error.type) == ("runtime_error", "NameError")


def test_class_solution_method(judge):
    problem = Problem("leet", "", CallTests("twice", (CallCase((2,), 4), CallCase(([1],), [[1, 1]])),
                                            class_name="Solution"))
    result = judge_one(judge, problem, """
        class Solution:
            def twice(self, x):
                return x * 2 if isinstance(x, int) else (x * 2,)
    """)
    assert result.outcome == "pass"


def test_program_objects_built_by_test_code(judge):
    """MBPP 367-style setup code builds the program's own classes."""
    problem = Problem("tree", "", AssertTests(("assert depth(root) == 3", "assert depth(Node(1)) == 1"),
                                              setup_code="root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)\n"))
    result = judge_one(judge, problem, """
        class Node:
            def __init__(self, value):
                self.value, self.left, self.right = value, None, None
        def depth(node):
            return 0 if node is None else 1 + max(depth(node.left), depth(node.right))
    """)
    assert result.outcome == "pass"


def test_in_place_changes_reach_the_test(judge):
    problem = Problem("sort", "", AssertTests(("data = [3, 1, 2]\nsort_in_place(data)\nassert data == [1, 2, 3]",)))
    assert judge_one(judge, problem, "def sort_in_place(xs):\n    xs.sort()\n").outcome == "pass"


def test_stdio_exit_codes(judge):
    assert judge_one(judge, ADD_STDIO, "import sys\n" + ADD_MAIN + "sys.exit(0)\n").outcome == "pass"
    result = judge_one(judge, ADD_STDIO, "import sys\nsys.exit(3)\n")
    assert (result.outcome, result.error.type) == ("runtime_error", "EarlyExit")


def test_stdio_program_that_only_compiles_inside_a_function(judge):
    """APPS runs standard-input programs as a function body; a top-level return is legal there."""
    result = judge_one(judge, ADD_STDIO, "a, b = map(int, input().split())\nprint(a + b)\nif a:\n    return\nprint('x')\n")
    assert result.outcome == "pass"


def test_timeout_covers_all_tests(judge):
    result = judge_one(judge, ADD_STDIO, "import time\ntime.sleep(2)\n" + ADD_MAIN)
    assert result.outcome == "timeout"
    assert [t.verdict for t in result.tests] == ["pass", "timeout"]


def test_result_json_round_trip(judge):
    result = judge_one(judge, ADD_CALL, "def add(a, b):\n    print('debug', a)\n    return a - b + 2 * b\n")
    data = json.loads(json.dumps(result.to_dict()))
    assert JudgeResult.from_dict(data) == result
    assert data["outcome"] == "pass" and data["stdout"].startswith("debug 1")
    assert set(data) >= {"outcome", "passed", "run", "total", "tests", "error", "stdout", "stderr", "duration_s"}


def test_many_programs_keep_input_order(judge):
    sources = [f"def add(a, b):\n    return a + b + {i % 3}\n" for i in range(30)]
    results = judge.run([Submission(ADD_ASSERT, s) for s in sources])
    assert [r.outcome for r in results] == ["pass" if i % 3 == 0 else "failure" for i in range(30)]


def test_no_sandbox_mode_still_limits(monkeypatch):
    with Judge(JudgeConfig(timeout_s=1.0, workers=1, isolation="none")) as j:
        assert "NO SANDBOX" in j.isolation
        results = j.run([Submission(ADD_ASSERT, ADD), Submission(ADD_ASSERT, "while True:\n    pass\n"),
                         Submission(ADD_ASSERT, "def add(a, b):\n    return bytearray(8 << 30)\n")])
    assert [r.outcome for r in results] == ["pass", "timeout", "runtime_error"]


@pytest.mark.parametrize("actual,expected,ok", [
    ([1, 2], [1, 2], True),
    ((1, 2), [1, 2], True),
    ([(1, 2)], [[1, 2]], True),
    (5, [5], True),
    (5, [6], False),
    ({1: "a"}, {"1": "a"}, True),
    (1.0, 1, True),
    ("5", 5, False),
    (None, [], False),
    (3, [3, 4, 5], False),  # stricter than APPS: only a one-item list stands for its item
    ({"1": "a"}, {"1": "a"}, True),  # string keys that spell integers match as given, too
])
def test_call_comparison_rules(actual, expected, ok):
    assert call_output_matches(actual, expected) is ok


@pytest.mark.parametrize("actual,expected,ok", [
    ("3\n", "3\n", True),
    ("3", "3\n", True),
    ("1 2\n3\n\n", "1\n2 3", True),
    ("0.333333", "0.3333333333", True),
    ("0.33", "0.3333333333", False),
    ("YES", "yes", False),
    ("1 2", "1 2 3", False),
    ("1e3", "1000", True),
    ("abc 1.0", "abc 1", True),
    ("1000000000", "1000000007", False),  # stricter than APPS: an integer answer is exact
    ("1e9", "1000000007", False),
    ("1000000000.0", "1000000007", False),
    ("1000000007.0", "1000000007", True),
    ("1.2345678901234568e17", "123456789012345678", False),  # equal as floats, not as numbers
    ("+007 -0", "7 0", True),
])
def test_stdout_comparison_rules(actual, expected, ok):
    assert stdout_matches(actual, expected) is ok


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 2 ** 63, -(2 ** 63) - 1, 10 ** 5000, 1.5, float("inf"), "ünïcode", b"\x00\xff", 2 + 3j,
    [1, [2, (3, 4)]], (1,), {1, 2}, frozenset({"a"}), {"a": 1, "$t": 2}, {(1, 2): [3]}, {1: {2: 3}}, int, str,
], ids=lambda value: type(value).__name__)
def test_plain_data_round_trip(value):
    assert plaindata.from_json(json.loads(plaindata.dumps(plaindata.to_json(value)))) == value


def test_plain_data_refuses_objects_and_keeps_only_data_of_subclasses():
    class Always(int):
        def __eq__(self, other):
            return True
    with pytest.raises(plaindata.NotPlainData):
        plaindata.to_json(object())
    encoded = plaindata.to_json(Always(4))
    assert encoded == 4 and type(encoded) is int


def test_wrong_number_of_arguments_blames_the_def_line(judge):
    result = judge_one(judge, ADD_CALL, "import math\n\ndef add(a):\n    return a\n")
    assert (result.outcome, result.error.type, result.error.line) == ("runtime_error", "TypeError", 3)


def test_tuple_arguments_reach_the_program_as_tuples(judge):
    problem = Problem("tuples", "", CallTests("kind", (CallCase(((1, 2), {3}, b"x"), "tuple set bytes"),)))
    source = "def kind(a, b, c):\n    return ' '.join(type(v).__name__ for v in (a, b, c))\n"
    assert judge_one(judge, problem, source).outcome == "pass"


def test_set_order_is_the_same_in_every_worker(judge):
    """One hash seed for all workers: output that depends on set order does not flip."""
    program = "print(list({'apple', 'kiwi', 'plum', 'fig', 'pear', 'lime'}))\n"
    problem = Problem("sets", "", StdioTests((StdioCase("", "x\n"),)))
    results = judge.run([Submission(problem, program + f"# copy {i}\n") for i in range(8)])  # distinct: all run
    assert len({r.stdout for r in results}) == 1


def test_identical_programs_for_one_problem_run_once(judge):
    """Copies of a program share one result; the same program for another problem is run again."""
    flaky = "import random\ndef add(a, b):\n    return a + b + random.choice([0, 1])\n"
    submissions = [Submission(ADD_ASSERT, flaky)] * 12 + [Submission(ADD_CALL, flaky)] * 12 + [Submission(ADD_ASSERT, ADD)]
    progress: list[int] = []
    results = judge.run(submissions, progress=progress.append)
    assert sum(progress) == len(submissions)
    assert all(r is results[0] for r in results[:12]) and all(r is results[12] for r in results[12:24])
    assert results[12] is not results[0] and results[12].total == len(ADD_CALL.tests)
    assert results[24].outcome == "pass"


SLEEPERS = [Submission(ADD_ASSERT, f"import time\ntime.sleep(40)\ndef add(a, b): return a + b  # {i}\n")
            for i in range(6)]


def test_cancel_kills_running_programs_and_drops_queued_ones():
    """Six 40 s programs on two workers: only killing them lets ``run`` end before 80 s."""
    with Judge(JudgeConfig(timeout_s=60.0, workers=2)) as j:
        threading.Timer(1.0, j.cancel).start()
        with pytest.raises(JudgeCancelled):
            j.run(SLEEPERS)
        assert judge_one(j, ADD_ASSERT, ADD).outcome == "pass"  # still usable, with fresh workers


def test_ctrl_c_while_judging_cancels_the_batch():
    with Judge(JudgeConfig(timeout_s=60.0, workers=2)) as j:
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            j.run(SLEEPERS)
        assert judge_one(j, ADD_ASSERT, ADD).outcome == "pass"


@pytest.mark.parametrize("setting", [{"timeout_s": float("inf")}, {"timeout_s": 1e12}, {"timeout_s": float("nan")},
                                     {"timeout_s": 0.0}, {"memory_mb": 1}, {"workers": 0}])
def test_limits_out_of_range_are_refused_before_any_program_runs(setting):
    with pytest.raises(RltfError, match=f"judge setting {next(iter(setting))} must be between"):
        JudgeConfig(**setting)


def test_more_workers_than_eight_per_core_are_capped_with_a_warning(caplog):
    cap = MAX_WORKERS_PER_CORE * os.cpu_count()
    assert worker_count(cap) == cap and not caplog.records
    assert worker_count(cap + 1) == cap
    assert f"using {cap} ({MAX_WORKERS_PER_CORE} per core)" in caplog.text


def fake_bwrap(tmp_path, error: str):
    """A bwrap that is installed but cannot start a sandbox here, failing as bubblewrap does."""
    path = tmp_path / "bwrap"
    path.write_text(f'#!/bin/sh\n[ "$1" = --help ] && exit 0\necho "{error}" >&2\nexit 1\n')
    path.chmod(0o755)
    return str(path)


def test_a_bwrap_that_fails_its_probe_is_reported_with_its_own_error(tmp_path, monkeypatch):
    """Claiming bubblewrap is missing when it is installed sends the user to fix the wrong thing."""
    from rltf.judge import sandbox

    error = "bwrap: Can't find source path /nowhere: No such file or directory"
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: fake_bwrap(tmp_path, error))
    fallback = sandbox.detect.__wrapped__("auto", ())
    assert fallback.kind == "none"
    assert f"bubblewrap (bwrap) is installed but could not start a sandbox here: {error};" in fallback.description
    assert "not installed" not in fallback.description and "apt-get" not in fallback.description
    with pytest.raises(RltfError, match="^bubblewrap \\(bwrap\\) is required, and it is installed but could not "
                                        "start a sandbox here: bwrap: Can't find source path /nowhere"):
        sandbox.detect.__wrapped__("bwrap", ())


def test_a_missing_bwrap_is_reported_as_missing(monkeypatch):
    from rltf.judge import sandbox

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    fallback = sandbox.detect.__wrapped__("auto", ())
    assert "bubblewrap (bwrap) is not installed;" in fallback.description
    assert "Install bubblewrap (apt-get install bubblewrap) for isolation." in fallback.description


def test_two_judges_clearing_the_same_stale_cgroups_both_start(tmp_path, monkeypatch):
    """After a kill -9, the ranks' judges start together and both remove the dead run's groups:
    the one that finds a group emptied under it goes on (it failed a resumed 2-rank run once)."""
    import shutil

    from rltf.judge import cgroups

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    group = tmp_path / f"rltf-judge-{dead.pid}-0123abcd"
    (group / "worker-0" / "inner").mkdir(parents=True)
    real_scandir = os.scandir

    def other_judge_first(path):  # the other judge removes worker-0 just before this one lists it
        if isinstance(path, (str, os.PathLike)) and Path(path) == group / "worker-0" and (group / "worker-0").exists():
            shutil.rmtree(group / "worker-0")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", other_judge_first)
    cgroups._remove_stale(tmp_path)
    assert not group.exists()
