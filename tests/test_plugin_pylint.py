"""The ``pylint`` provider through the registry (so its entry point is what is tested), on
programs whose messages and lines are known by construction, and its worker process's life:
started once, replaced when it dies or hangs, never left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rltf.errors import RltfError
from rltf.feedback import JudgedSample, Reward
from rltf.judge.result import JudgeResult
from rltf.plugins import Plugins, ProviderError
from rltf.problems import AssertTests, Problem
from rltf_pylint import DEFAULT_DISABLED, PENALTIES, PylintFeedback

PROBLEM = Problem("add-one", "f(x) = x + 1", AssertTests(("assert f(1) == 2",)))
APPS_LIKE = Problem("apps-like", "sum a heap", AssertTests(("assert f([1]) == [1]",)),
                    program_preamble="from typing import List\nfrom heapq import *\nimport sys\n")
CLEAN = "def f(x):\n    return x + 1\n"
UNDEFINED = "def f(x):\n    y = x + 1\n    return y + missing_name\n"  # E0602 on line 3
UNUSED = "import os\n\n\ndef f(x):\n    unused = 2\n    return x + 1\n"  # W0611 line 1, W0612 line 5
SYNTAX_ERROR = "def f(x):\n    return x +\n"  # E0001 on line 2
# astroid's tree builder recurses once per operator: this crashes pylint (F0002 astroid-error).
PYLINT_CRASH = "a = 1\nx = (" + "a+" * 20000 + "a)\n"


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return Plugins()


@pytest.fixture(scope="module")
def provider(plugins):
    [chosen] = plugins.select("pylint")
    yield chosen
    chosen.close()


def samples(*programs: str, problem: Problem = PROBLEM) -> list[JudgedSample]:
    return [JudgedSample(f"s{i}", problem, program, JudgeResult("pass", 1, 1, 1)) for i, program in enumerate(programs)]


def score(plugins, provider, *programs: str, problem: Problem = PROBLEM, **options) -> list[list[Reward]]:
    report = plugins.score([provider], samples(*programs, problem=problem), {"pylint": options}, strict=True)
    return report.rewards


def spans(program: str, rewards: list[Reward]) -> list[tuple[str, float, int, str]]:
    return [(r.kind, r.value, r.start_line, program[r.start_char:r.end_char]) for r in rewards]


def test_registered_by_entry_point(provider):
    assert isinstance(provider, PylintFeedback)
    assert provider.name == "pylint"


def test_undefined_name_is_an_error_on_exactly_its_line(plugins, provider):
    [rewards] = score(plugins, provider, UNDEFINED)
    assert spans(UNDEFINED, rewards) == [("error", PENALTIES["error"], 3, "    return y + missing_name")]
    assert rewards[0].provider == "pylint" and rewards[0].end_line == 3 and not rewards[0].rescale


def test_unused_import_and_variable_are_warnings_on_their_lines(plugins, provider):
    [rewards] = score(plugins, provider, UNUSED)
    assert sorted(spans(UNUSED, rewards)) == [("warning", -0.1, 1, "import os"), ("warning", -0.1, 5, "    unused = 2")]


def test_clean_program_gets_no_rewards(plugins, provider):
    assert score(plugins, provider, CLEAN) == [[]]


def test_default_disabled_messages_say_nothing(plugins, provider):
    # no docstrings, a one-letter name, 2-space indentation, a long line, parentheses, no final newline
    program = "def F(a):\n  if (a > 0):\n    return a\n  return -a  # " + "x" * 120
    assert score(plugins, provider, program) == [[]]
    assert "missing-function-docstring" in DEFAULT_DISABLED


def test_each_program_of_a_batch_gets_its_own_rewards_in_order(plugins, provider):
    programs = [UNUSED, CLEAN, UNDEFINED, SYNTAX_ERROR, CLEAN, UNUSED]
    batch = score(plugins, provider, *programs)
    one_by_one = [score(plugins, provider, program)[0] for program in programs]
    assert batch == one_by_one
    assert [len(rewards) for rewards in batch] == [2, 0, 1, 1, 0, 2]


def test_syntax_error_is_an_error_on_its_line_and_spares_the_batch(plugins, provider):
    report = plugins.score([provider], samples(CLEAN, SYNTAX_ERROR, UNDEFINED))
    assert report.failures == {}
    clean, broken, undefined = report.rewards
    assert clean == []
    assert spans(SYNTAX_ERROR, broken) == [("error", -0.3, 2, "    return x +")]
    assert [r.start_line for r in undefined] == [3]


def test_text_that_cannot_be_a_source_file_is_a_syntax_error(plugins, provider):
    lone_surrogate, null_byte = "x = '\udc80'\n", "x = 1\0\n"
    report = plugins.score([provider], samples(lone_surrogate, null_byte, UNDEFINED))
    assert report.failures == {}
    assert [[(r.kind, r.start_line) for r in rewards] for rewards in report.rewards] == [
        [("error", 1)], [("error", 1)], [("error", 3)]]


def test_penalties_override_one_category_and_zero_gives_no_reward(plugins, provider):
    [rewards] = score(plugins, provider, UNUSED, penalties={"warning": -0.5})
    assert [r.value for r in rewards] == [-0.5, -0.5]
    assert score(plugins, provider, UNDEFINED, penalties={"error": 0}) == [[]]


def test_disable_by_name_list_or_comma_separated_ids(plugins, provider):
    [rewards] = score(plugins, provider, UNUSED, disable=["unused-import"])
    assert [r.start_line for r in rewards] == [5]
    assert score(plugins, provider, UNUSED, disable="W0611, unused-variable") == [[]]


def test_enable_a_default_disabled_message(plugins, provider):
    [rewards] = score(plugins, provider, CLEAN, enable=["missing-function-docstring"])
    assert spans(CLEAN, rewards) == [("convention", PENALTIES["convention"], 1, "def f(x):")]


def test_program_pragmas_cannot_silence_penalties(plugins, provider):
    inline = "import os  # pylint: disable=unused-import\n"
    skip = "# pylint: skip-file\nimport os\n"
    everything = "# pylint: disable=all\nimport os\n"
    lines = [[r.start_line for r in rewards] for rewards in score(plugins, provider, inline, skip, everything)]
    assert lines == [[1], [2], [2]]


def test_names_bound_by_the_problem_preamble_are_defined(plugins, provider):
    program = "def f(a: List[int]) -> List[int]:\n    heapify(a)\n    return a\n"
    assert score(plugins, provider, program, problem=APPS_LIKE) == [[]]
    [rewards] = score(plugins, provider, program)
    assert {r.kind for r in rewards} == {"error"} and len(rewards) == 3


def test_pylint_crash_fails_only_that_sample(plugins, provider):
    report = plugins.score([provider], samples(UNDEFINED, PYLINT_CRASH, UNUSED))
    assert report.failures == {"pylint": 1}
    assert "sample s1" in report.messages[0] and "astroid-error" in report.messages[0]
    assert [len(rewards) for rewards in report.rewards] == [1, 0, 2]


def test_unknown_option_is_an_error_listing_the_valid_ones(plugins, provider):
    with pytest.raises(RltfError, match=r"unknown option 'penalty'.*valid options: penalties, disable, enable"):
        plugins.score([provider], samples(CLEAN, CLEAN), {"pylint": {"penalty": {"error": -1}}})


@pytest.mark.parametrize("options, match", [
    ({"penalties": {"fatal": -1}}, r"unknown category 'fatal'.*categories: error, warning"),
    ({"penalties": {"error": "high"}}, r"'penalties.error'.*must be a finite number"),
    ({"disable": ["no-such-message"]}, r"option 'disable'.*no-such-message"),
    ({"enable": 3}, r"'enable'.*list of pylint message names"),
    ({"enable": ["duplicate-code"]}, r"compares the programs of a batch"),
    ({"timeout_s": 0}, r"'timeout_s'.*must be positive"),
])
def test_bad_option_values_are_errors(options, match):
    with pytest.raises(RltfError, match=match):
        PylintFeedback().rltf_score(samples=samples(CLEAN), options=options)


def test_worker_is_started_once_and_reused(plugins, provider):
    score(plugins, provider, CLEAN)
    pid = provider.worker.pid
    score(plugins, provider, UNUSED, UNDEFINED)
    score(plugins, provider, CLEAN, disable=["unused-import"])
    assert provider.worker.pid == pid


def test_dead_worker_is_replaced(plugins, provider):
    score(plugins, provider, CLEAN)
    os.kill(provider.worker.pid, 9)
    report = plugins.score([provider], samples(UNUSED, UNDEFINED))
    assert report.failures == {}
    assert [len(rewards) for rewards in report.rewards] == [2, 1]


def test_timeout_kills_the_worker_and_the_next_batch_gets_a_fresh_one(plugins, provider):
    big = "".join(f"def f{i}(x):\n    y = x\n    return x + {i}\n\n\n" for i in range(400))
    score(plugins, provider, CLEAN)
    pid = provider.worker.pid
    with pytest.raises(ProviderError, match=r"pylint took more than 0.001 s"):
        score(plugins, provider, big, timeout_s=0.001)
    assert provider.worker.pid is None
    assert not _alive(pid)
    assert score(plugins, provider, UNDEFINED)[0][0].start_line == 3


def test_forked_copy_gets_its_own_worker_and_leaves_the_parents_alone(plugins, provider):
    score(plugins, provider, CLEAN)
    pid = provider.worker.pid
    child = os.fork()
    if child == 0:
        status = 1
        try:
            status = 0 if score(plugins, provider, UNUSED)[0] and provider.worker.pid != pid else 1
            provider.close()
        finally:
            os._exit(status)
    assert os.waitpid(child, 0)[1] == 0
    assert provider.worker.pid == pid
    assert score(plugins, provider, UNDEFINED)[0][0].start_line == 3


def test_close_stops_the_worker_and_removes_its_directory():
    provider = PylintFeedback()
    provider.rltf_score(samples=samples(CLEAN), options={})
    pid, directory = provider.worker.pid, provider.worker.directory
    provider.close()
    assert not _alive(pid) and not directory.exists()
    assert provider.rltf_score(samples=samples(UNUSED), options={})[0][0].kind == "warning"
    provider.close()


def test_worker_does_not_outlive_the_interpreter():
    script = (
        "import json\n"
        "from rltf_pylint import PylintFeedback\n"
        "from tests.test_plugin_pylint import samples, CLEAN\n"
        "p = PylintFeedback()\n"
        "p.rltf_score(samples=samples(CLEAN), options={})\n"
        "print(json.dumps([p.worker.pid, str(p.worker.directory)]))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    pid, directory = json.loads(out.stdout)
    assert not _alive(pid) and not Path(directory).exists()


def _alive(pid: int) -> bool:
    """A killed worker is reaped by its parent; one left running would still answer signal 0."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
