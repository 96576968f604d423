"""The ``unittest`` provider on real programs run by the real judge, scored through the registry.

Every program's error class and line are known by construction, so each test pins down where
RLTF's fine-grained penalty lands, besides the coarse and adaptive values.
"""

from __future__ import annotations

import pytest

from rltf.feedback import JudgedSample, Reward
from rltf.judge import Judge, JudgeConfig, Submission
from rltf.judge.result import JudgeResult, ProgramError
from rltf.errors import RltfError
from rltf.plugins import Plugins
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests
from rltf_unittest import ErrorClass, UnitTestFeedback, classify

ADD_ONE = Problem("add-one", "f(x) = x + 1", AssertTests(("assert f(1) == 2", "assert f(2) == 3", "assert f(3) == 4")))
ADD_ONE_CALL = Problem("add-one-call", "f(x) = x + 1", CallTests("f", (CallCase((1,), 2), CallCase((5,), 6))))
ADD_ONE_STDIO = Problem("add-one-stdio", "print n + 1", StdioTests((StdioCase("1\n", "2\n"), StdioCase("7\n", "8\n"))))
PASSING = "def f(x):\n    return x + 1\n"


@pytest.fixture(scope="module")
def judge():
    with Judge(JudgeConfig(timeout_s=2.0, workers=2)) as judge:
        yield judge


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return Plugins()


@pytest.fixture(scope="module")
def provider(plugins):
    return plugins.select("unittest")


@pytest.fixture
def judged(judge):
    def run(program: str, problem: Problem = ADD_ONE) -> JudgedSample:
        [result] = judge.run([Submission(problem, program)])
        return JudgedSample(problem.task_id, problem, program, result)
    return run


@pytest.fixture
def score(plugins, provider, judged):
    """Rewards for one program, judged for real and scored through the entry-point registry."""
    def run(program: str, problem: Problem = ADD_ONE, **options) -> list[Reward]:
        return score_sample(plugins, provider, judged(program, problem), **options)
    return run


def score_sample(plugins, provider, sample: JudgedSample, **options) -> list[Reward]:
    report = plugins.score(provider, [sample], {"unittest": options}, strict=True)
    return report.rewards[0]


def of_kind(rewards: list[Reward], kind: str) -> list[Reward]:
    return [r for r in rewards if r.kind == kind]


def only(rewards: list[Reward], kind: str) -> Reward:
    [reward] = of_kind(rewards, kind)
    return reward


def adaptive(passed: int, total: int) -> float:
    return -0.3 + 1.3 * passed / total


def assert_line_penalty(rewards: list[Reward], program: str, line: int, text: str) -> None:
    fine = only(rewards, "fine")
    assert (fine.start_line, fine.end_line) == (line, line)
    assert program[fine.start_char:fine.end_char] == text
    assert fine.value == -0.3 and fine.rescale is True and fine.provider == "unittest"


def assert_whole_program_penalty(rewards: list[Reward]) -> None:
    fine = only(rewards, "fine")
    assert fine.whole_program and fine.value == -0.3 and fine.rescale is False


# --- registration --------------------------------------------------------------------------------

def test_provider_comes_from_the_entry_point(plugins, provider):
    [chosen] = provider
    assert isinstance(chosen, UnitTestFeedback)
    assert chosen.name == "unittest" and "adaptive" in chosen.description
    assert ("unittest", chosen.description) in [p for info in plugins.describe() for p in info.providers]


def test_answers_each_sample_of_a_batch_in_order(plugins, provider, judged):
    samples = [judged(PASSING), judged("def f(x):\n    return x\n"), judged("def f(x) return x\n")]
    report = plugins.score(provider, samples, strict=True)
    assert [only(r, "coarse").value for r in report.rewards] == [1.0, -0.3, -1.0]


# --- U_line: runtime errors at a known line ------------------------------------------------------

def test_name_error_penalises_exactly_its_line(score):
    program = "def f(x):\n    y = x + 1\n    return z\n\n# done\n"
    rewards = score(program)
    assert_line_penalty(rewards, program, 3, "    return z")
    assert only(rewards, "coarse").value == -0.6
    assert of_kind(rewards, "adaptive") == []  # no test failed: it crashed


@pytest.mark.parametrize("error_type, program, line, text", [
    ("TypeError", "def f(x):\n    y = x + 1\n    return y + 'a'\n", 3, "    return y + 'a'"),
    ("IndexError", "def f(x):\n    items = [1, 2]\n    return items[x + 5]\n", 3, "    return items[x + 5]"),
    ("KeyError", "def f(x):\n    table = {}\n    value = table[x]\n    return value\n", 3, "    value = table[x]"),
    ("ZeroDivisionError", "def f(x):\n    half = x / 2\n    return x // 0\n", 3, "    return x // 0"),
    ("AttributeError", "def f(x):\n    y = x\n    z = y\n    return z.missing\n", 4, "    return z.missing"),
    ("UnboundLocalError", "def f(x):\n    if x > 10:\n        y = 1\n    return y + x\n", 4, "    return y + x"),
    ("ImportError", "from math import no_such_name\ndef f(x):\n    return x + 1\n", 1,
     "from math import no_such_name"),
    ("ModuleNotFoundError", "import math\nimport no_such_module\ndef f(x):\n    return x + 1\n", 2,
     "import no_such_module"),
    ("ValueError", "def f(x):\n    digits = 'abc'\n    return int(digits) + x\n", 3, "    return int(digits) + x"),
    ("AssertionError", "def f(x):\n    assert x > 5, 'too small'\n    return x + 1\n", 2,
     "    assert x > 5, 'too small'"),
    ("RuntimeError", "def f(x):\n    raise RuntimeError('boom')\n", 2, "    raise RuntimeError('boom')"),
    ("StopIteration", "def f(x):\n    return next(iter([])) + x\n", 2, "    return next(iter([])) + x"),
])
def test_runtime_error_penalises_its_line(score, judged, error_type, program, line, text):
    assert judged(program).result.error.type == error_type
    assert_line_penalty(score(program), program, line, text)


def test_error_in_a_helper_penalises_the_innermost_program_frame(score):
    program = "def helper(a):\n    return a // 0\n\ndef f(x):\n    return helper(x)\n"
    assert_line_penalty(score(program), program, 2, "    return a // 0")


def test_error_inside_a_library_call_penalises_the_calling_line(score):
    program = "import json\n\ndef f(x):\n    return json.loads('{') + x\n"
    assert_line_penalty(score(program), program, 4, "    return json.loads('{') + x")


def test_crash_after_some_passing_tests_gets_no_adaptive_reward_by_the_methods_rule(score):
    program = "def f(x):\n    if x == 3:\n        raise ValueError('three')\n    return x + 1\n"
    rewards = score(program)
    assert of_kind(rewards, "adaptive") == []
    assert_line_penalty(rewards, program, 3, "        raise ValueError('three')")
    assert only(score(program, adaptive_scope="all"), "adaptive").value == pytest.approx(adaptive(2, 3))


def test_call_based_and_stdio_programs_are_located_too(score):
    call = "def f(x):\n    table = {}\n    return table[x]\n"
    assert_line_penalty(score(call, ADD_ONE_CALL), call, 3, "    return table[x]")
    stdio = "n = int(input())\nprint(n + missing)\n"
    assert_line_penalty(score(stdio, ADD_ONE_STDIO), stdio, 2, "print(n + missing)")


# --- syntax errors --------------------------------------------------------------------------------

def test_syntax_error_in_the_middle_penalises_its_line(score):
    program = "def f(x):\n    y = = 1\n    return x + 1\n"
    rewards = score(program)
    assert_line_penalty(rewards, program, 2, "    y = = 1")
    assert only(rewards, "coarse").value == -1.0
    assert of_kind(rewards, "adaptive") == []


def test_unclosed_bracket_followed_by_more_code_penalises_the_bracket_line(score):
    program = "def f(x):\n    y = (1,\n    return x\n\ndef g():\n    return 1\n"
    assert_line_penalty(score(program), program, 2, "    y = (1,")


def test_dedented_return_on_the_last_line_penalises_its_line(score):
    """'return' outside a function: the program parses, so more text would not have fixed it."""
    program = "def f(x):\n    y = x + 1\nreturn y\n"
    assert_line_penalty(score(program), program, 3, "return y")


@pytest.mark.parametrize("program", [
    "def f(x):\n    return (x +",
    "def f(x):\n    return x +",
    "def f(x):\n    return x +\n\n   \n",
    "def f(x):\n    total = helper(x,\n                   1,\n                   2",
    "def f(x):\n    '''Add one.\n\n    Longer description",
    "def f(x):\n    if x:\n",
    "def f(x):\n    return x + 1\nprint('unfinished",
    "def f(x):\n    return x + \\",
])
def test_cut_off_program_is_penalised_as_a_whole(score, judged, program):
    assert judged(program).result.outcome == "compile_error"
    rewards = score(program)
    assert_whole_program_penalty(rewards)
    assert only(rewards, "coarse").value == -1.0


def test_tab_error_gets_no_fine_reward(score, judged):
    program = "def f(x):\n    if x:\n\treturn x + 1\n    return 0\n"
    assert judged(program).result.error.type == "TabError"
    rewards = score(program)
    assert of_kind(rewards, "fine") == []
    assert only(rewards, "coarse").value == -1.0


def test_indentation_error_from_mixed_tabs_and_spaces_gets_no_fine_reward(score, judged):
    program = "def f(x):\n    if x:\n\t    y = 1\n        return 2\n"
    assert judged(program).result.error.type == "IndentationError"
    assert of_kind(score(program), "fine") == []


def test_unexpected_indent_with_consistent_spaces_penalises_its_line(score):
    program = "def f(x):\n    y = 1\n      z = 2\n    return x + 1\n"
    assert_line_penalty(score(program), program, 3, "      z = 2")


# --- U_global at run time -------------------------------------------------------------------------

def test_timeout_is_a_runtime_error_penalised_as_a_whole(plugins, provider, judged):
    sample = judged("def f(x):\n    while True:\n        x += 1\n")
    assert sample.result.outcome == "timeout"
    rewards = score_sample(plugins, provider, sample)
    assert only(rewards, "coarse").value == -0.6
    assert of_kind(rewards, "adaptive") == []
    assert_whole_program_penalty(rewards)


def test_recursion_error_is_penalised_as_a_whole(score, judged):
    program = "def f(x):\n    return f(x) + 1\n"
    assert judged(program).result.error.type == "RecursionError"
    assert_whole_program_penalty(score(program))


# --- U_ignore -------------------------------------------------------------------------------------

def test_wrong_answer_gets_its_pass_ratio_and_no_fine_reward(score):
    rewards = score("def f(x):\n    return 4 if x == 3 else 0 if x == 2 else 2\n")
    assert only(rewards, "coarse").value == -0.3
    assert only(rewards, "adaptive").value == pytest.approx(adaptive(2, 3))
    assert of_kind(rewards, "fine") == []


def test_pass_gets_full_rewards_and_no_fine_reward(score):
    rewards = score(PASSING)
    assert only(rewards, "coarse").value == 1.0
    assert of_kind(rewards, "adaptive") == [] and of_kind(rewards, "fine") == []
    assert only(score(PASSING, adaptive_scope="all"), "adaptive").value == 1.0


@pytest.mark.parametrize("program, outcome, failing, everything", [
    ("def f(x):\n    return 4 if x == 3 else 0 if x == 2 else 2\n", "failure", adaptive(2, 3), adaptive(2, 3)),
    ("def f(x):\n    return 0\n", "failure", adaptive(0, 3), adaptive(0, 3)),
    ("def f(x):\n    return x + 1\n", "pass", None, 1.0),
    ("def f(x):\n    return x +\n", "compile_error", None, -0.3),
    ("def f(x):\n    if x == 2:\n        return 0\n    if x == 3:\n        raise ValueError\n    return x + 1\n",
     "runtime_error", None, adaptive(1, 3)),
])
def test_adaptive_scope_failing_is_the_methods_rule_and_all_is_the_old_one(score, judged, program, outcome, failing,
                                                                          everything):
    """The method: programs that answer every test and fail some get -0.3 + 1.3 * passed / (passed + failed)."""
    assert judged(program).result.outcome == outcome
    given = of_kind(score(program), "adaptive")
    assert [r.value for r in given] == ([] if failing is None else [pytest.approx(failing)])
    assert only(score(program, adaptive_scope="all"), "adaptive").value == pytest.approx(everything)


def test_a_crash_after_a_wrong_answer_gets_no_adaptive_reward(score, judged):
    """Wrong on test 1, crash on test 2: the tests the crash cut short never answered, so no ratio."""
    program = "def f(x):\n    if x == 2:\n        raise ValueError\n    return 0\n"
    result = judged(program).result
    assert result.outcome == "runtime_error" and [t.verdict for t in result.tests][:2] == ["failure", "runtime_error"]
    assert of_kind(score(program), "adaptive") == []


@pytest.mark.parametrize("error_type, program, problem", [
    ("EarlyExit", "import os\ndef f(x):\n    os._exit(0)\n", ADD_ONE),
    ("Signal", "import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGSEGV)\n", ADD_ONE),
    ("NameError", "def g(x):\n    return x + 1\n", ADD_ONE_CALL),  # the function is missing: no line
])
def test_crash_with_no_line_is_penalised_as_a_whole_unless_the_methods_table_is_asked(score, judged, error_type,
                                                                                      program, problem):
    """Ignored (the method's U_ignore), ending the process would be a way to crash without a penalty."""
    sample = judged(program, problem)
    assert (sample.result.error.type, sample.result.error.line) == (error_type, None)
    rewards = score(program, problem)
    assert_whole_program_penalty(rewards)
    assert only(rewards, "coarse").value == -0.6
    assert of_kind(score(program, problem, unlocated="ignore"), "fine") == []


@pytest.mark.parametrize("outcome, error, expected", [
    ("runtime_error", ProgramError("WorkerKilled", "the program killed or broke its judge worker"), ErrorClass.UNLOCATED),
    ("runtime_error", ProgramError("JudgeError", "the judge failed on this program"), ErrorClass.IGNORE),
    ("runtime_error", ProgramError("OutputLimitExceeded", "output passed 4194304 bytes"), ErrorClass.UNLOCATED),
    ("runtime_error", ProgramError("MemoryError", ""), ErrorClass.UNLOCATED),
    ("runtime_error", ProgramError("CPUTimeLimit", "killed by SIGXCPU"), ErrorClass.GLOBAL),
    ("runtime_error", None, ErrorClass.IGNORE),
])
def test_results_the_judge_rarely_gives_are_classified_by_type(outcome, error, expected):
    """Worker deaths and CPU limits cannot be produced on demand, so these results are built by hand."""
    assert classify(JudgeResult(outcome, 0, 0, 3, error=error), PASSING) == (expected, None)


# --- coarse table and options ---------------------------------------------------------------------

@pytest.mark.parametrize("program, outcome, value", [
    (PASSING, "pass", 1.0),
    ("def f(x):\n    return x\n", "failure", -0.3),
    ("def f(x):\n    return x / 0\n", "runtime_error", -0.6),
    ("def f(x) return x\n", "compile_error", -1.0),
])
def test_coarse_reward_per_outcome(score, judged, program, outcome, value):
    assert judged(program).result.outcome == outcome
    assert only(score(program), "coarse") == Reward.on_program("unittest", "coarse", value)


def test_coarse_table_can_be_partly_overridden(score):
    assert only(score("def f(x):\n    return x\n", coarse_rewards={"failure": -0.5}), "coarse").value == -0.5
    assert only(score("def f(x) return x\n", coarse_rewards={"failure": -0.5}), "coarse").value == -1.0


def test_fine_penalty_is_a_setting(score):
    assert only(score("def f(x):\n    return z\n", fine_penalty=-0.5), "fine").value == -0.5


@pytest.mark.parametrize("alpha, rescale", [("paper", True), ("one", False)])
def test_alpha_sets_rescaling_of_line_penalties(score, alpha, rescale):
    assert only(score("def f(x):\n    return z\n", alpha=alpha), "fine").rescale is rescale
    assert only(score("def f(x):\n    return (x +", alpha=alpha), "fine").rescale is False


@pytest.mark.parametrize("kind", ["coarse", "fine", "adaptive"])
def test_each_granularity_can_be_switched_off(score, kind):
    """Wrong on the first test, then a NameError at line 3: all three kinds apply (under the "all" scope;
    the method's gives a crash no adaptive reward)."""
    rewards = score("def f(x):\n    if x == 2:\n        return z\n    return 0\n", adaptive_scope="all", **{kind: False})
    assert of_kind(rewards, kind) == []
    assert {r.kind for r in rewards} == {"coarse", "fine", "adaptive"} - {kind}


@pytest.mark.parametrize("options, words", [
    ({"alhpa": "one"}, ["unknown option 'alhpa'",
                        "coarse, fine, adaptive, coarse_rewards, fine_penalty, alpha, adaptive_scope, unlocated"]),
    ({"alpha": "half"}, ["'alpha'", "paper, one", "'half'"]),
    ({"fine": "yes"}, ["'fine'", "true or false"]),
    ({"coarse_rewards": {"crash": -0.6}}, ["unknown outcome 'crash'", "runtime_error"]),
    ({"fine_penalty": "low"}, ["'fine_penalty'", "number"]),
])
def test_bad_options_are_errors_naming_them(plugins, provider, judged, options, words):
    with pytest.raises(RltfError) as caught:
        score_sample(plugins, provider, judged(PASSING), **options)
    for word in words:
        assert word in str(caught.value)


def test_bad_options_stop_the_run_even_when_not_strict(plugins, provider, judged):
    """A misspelt option would fail every sample alike: it is the user's error, not the sample's."""
    with pytest.raises(RltfError, match="unknown option 'alhpa'"):
        plugins.score(provider, [judged(PASSING)], {"unittest": {"alhpa": "one"}})


# --- spans on unicode, tabs and line endings ------------------------------------------------------

@pytest.mark.parametrize("lines, ending, line", [
    (["# 注释 😀 é", "def f(x):", "\ts = 'é😀中文'", "\treturn s + undefined_name"], "\r\n", 4),
    (["def f(x):", "\ts = '😀😀'  # ünïcödé", "\treturn len(s) + missing", "# 終わり"], "\n", 3),
    (["def f(x):", "    y = 'é'", "    return y + q"], "\r", 3),
    (["def f(x):", "    s = 'a\u2028b\x85c\x0cd'", "    return s + q", ""], "\n", 3),
    (["# 中文 é", "def f(x):", "\ty = = 'é😀'", "\treturn x"], "\r\n", 3),
])
def test_error_line_span_is_the_line_python_numbers(score, judged, lines, ending, line):
    """Python ends lines only at \\n, \\r\\n and \\r; str.splitlines would also split at \\x85, \\u2028, \\x0c."""
    program = ending.join(lines) + ending
    assert judged(program).result.error.line == line
    assert_line_penalty(score(program), program, line, lines[line - 1])


# --- programs cut off by max_new_tokens -----------------------------------------------------------

@pytest.mark.parametrize("program", [
    "def f(x):\n    return x\n# and then the",          # parses, fails: cut mid-comment
    "def f(x):\n    return z\n",                      # parses, crashes at a line the model never finished
])
def test_a_program_cut_off_that_still_parses_is_penalised_as_a_whole(plugins, provider, judged, program):
    sample = judged(program)
    assert sample.result.outcome in ("failure", "runtime_error")
    cut = JudgedSample(sample.sample_id, sample.problem, sample.program, sample.result, truncated=True)
    assert_whole_program_penalty(score_sample(plugins, provider, cut))


def test_a_cut_off_program_that_passes_gets_no_fine_penalty(plugins, provider, judged):
    sample = judged(PASSING)
    cut = JudgedSample(sample.sample_id, sample.problem, sample.program, sample.result, truncated=True)
    assert of_kind(score_sample(plugins, provider, cut), "fine") == []
