"""The hypothesis test generator, through the plugin registry, on a real judge.

Expected outputs are checked against the reference functions run here, in the test
process (they are this file's own code), so a wrong oracle or a wrongly written test
would show as a mismatch.
"""

from __future__ import annotations

import ast
import re
import string
import textwrap
from collections import Counter
from typing import Any

import pytest

from rltf.datasets import load_dataset
from rltf.errors import RltfError
from rltf.judge import Judge, JudgeConfig, Submission
from rltf.plugins import Plugins, ReferenceOracle
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests
from rltf_hypothesis.asserts import parse_assert, plan_asserts, round_trips, write_assert
from rltf_hypothesis.stdin import BlocksLayout, FixedLayout, ItemsLayout, LinesLayout, infer_layout, layout_strategy
from rltf_hypothesis.generate import Options, _draw_args
from rltf_hypothesis.sampling import draw
from rltf_hypothesis.strategies import IntShape, SeqShape, StrShape, args_strategy, infer, infer_args, widen_ints


@pytest.fixture(scope="module")
def judge():
    with Judge(JudgeConfig(timeout_s=3.0, workers=2)) as j:
        yield j


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return Plugins()


@pytest.fixture(scope="module")
def provider(plugins):
    return plugins.select("hypothesis")


def extra(plugins, provider, judge, problem: Problem, **options: Any) -> Problem:
    return plugins.extra_tests(provider, problem, ReferenceOracle(judge), {"hypothesis": options})


def new_tests(before: Problem, after: Problem) -> list[Any]:
    old = len(before.tests)
    if isinstance(after.tests, AssertTests):
        return list(after.tests.asserts[old:])
    return list(after.tests.cases[old:])


def reference(source: str, name: str):
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


MIXED = textwrap.dedent("""\
    def mixed(n, xs, word):
        return [n * len(xs), sum(xs), word.upper(), sorted(set(word))]
    """)
MIXED_CALL = Problem("mixed-call", "", CallTests("mixed", (
    CallCase((3, [1, 5, 2], "abc"), [9, 8, "ABC", ["a", "b", "c"]]),
    CallCase((10, [7, 0], "cab"), [20, 7, "CAB", ["a", "b", "c"]]),
    CallCase((6, [4, 4, 4, 4], "bbad"), [24, 16, "BBAD", ["a", "b", "d"]]),
)), solutions=(MIXED,))

ADD_LIST = "def add_list(xs, k):\n    return [x + k for x in xs]\n"
ADD_LIST_ASSERT = Problem("add-list-assert", "", AssertTests((
    "assert add_list([1, 2, 3], 4) == [5, 6, 7]",
    "assert add_list([10, -2], 1) == [11, -1]",
    "assert add_list([], 9) == []",
)), solutions=(ADD_LIST,))

SUM_MAIN = "n = int(input())\nxs = list(map(int, input().split()))\nprint(sum(xs[:n]))\n"
SUM_STDIO = Problem("sum-stdio", "", StdioTests((
    StdioCase("3\n1 2 3\n", "6\n"), StdioCase("5\n10 20 30 40 50\n", "150\n"), StdioCase("1\n7\n", "7\n"),
)), solutions=(SUM_MAIN,))


def test_call_cases_follow_the_seen_types_and_the_reference(plugins, provider, judge):
    after = extra(plugins, provider, judge, MIXED_CALL, max_tests=8)
    cases = new_tests(MIXED_CALL, after)
    assert 1 <= len(cases) <= 8
    fn = reference(MIXED, "mixed")
    seen = {repr(c.args) for c in MIXED_CALL.tests.cases}
    for case in cases:
        n, xs, word = case.args
        assert isinstance(n, int) and n >= 1
        assert isinstance(xs, list) and all(isinstance(x, int) and x >= 0 for x in xs)
        assert isinstance(word, str) and set(word) <= set(string.ascii_lowercase)  # 4 seen: the whole class
        assert list(case.expected) == fn(*case.args)
        assert repr(case.args) not in seen
    assert len({repr(c.args) for c in cases}) == len(cases)


def test_assert_problems_get_asserts_in_their_own_form(plugins, provider, judge):
    after = extra(plugins, provider, judge, ADD_LIST_ASSERT, max_tests=6)
    written = new_tests(ADD_LIST_ASSERT, after)
    assert 1 <= len(written) <= 6
    fn = reference(ADD_LIST, "add_list")
    for text in written:
        call = parse_assert(text)
        assert call is not None and call.name == "add_list" and call.check.kind == "eq"
        expected = ast.literal_eval(ast.parse(text).body[0].test.comparators[0])
        assert expected == fn(*call.args)
    assert judge.run([Submission(after, ADD_LIST)])[0].outcome == "pass"


def test_stdin_problems_keep_the_count_consistent(plugins, provider, judge):
    after = extra(plugins, provider, judge, SUM_STDIO, max_tests=6)
    cases = new_tests(SUM_STDIO, after)
    assert 1 <= len(cases) <= 6
    for case in cases:
        first, second = case.stdin.splitlines()
        items = [int(t) for t in second.split()]
        assert int(first) == len(items)
        assert case.expected_stdout.split() == [str(sum(items))]


def test_inputs_the_reference_rejects_are_dropped(plugins, provider, judge):
    source = "def double(x):\n    if x < 0:\n        raise ValueError('negative')\n    return 2 * x\n"
    problem = Problem("double", "", CallTests("double", (CallCase((-4,), None), CallCase((5,), 10),
                                                        CallCase((9,), 18))), solutions=(source,))
    cases = new_tests(problem, extra(plugins, provider, judge, problem, max_tests=10))
    assert cases and all(c.args[0] >= 0 and c.expected == 2 * c.args[0] for c in cases)


def test_same_seed_same_tests_other_seed_other_tests(plugins, provider, judge):
    runs = [new_tests(ADD_LIST_ASSERT, extra(plugins, provider, judge, ADD_LIST_ASSERT, seed=s, max_tests=5))
            for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_max_tests_bounds_the_count(plugins, provider, judge):
    assert len(new_tests(MIXED_CALL, extra(plugins, provider, judge, MIXED_CALL, max_tests=2))) == 2
    assert extra(plugins, provider, judge, MIXED_CALL, max_tests=0) == MIXED_CALL


def test_no_reference_no_tests(provider, judge):
    no_reference = Problem("none", "", ADD_LIST_ASSERT.tests)
    assert provider[0].rltf_extra_tests(problem=no_reference, oracle=ReferenceOracle(judge), options={}) == []


def test_unknown_options_name_the_valid_ones(plugins, provider, judge):
    with pytest.raises(RltfError, match="max_test.*valid options: deadline_s, max_tests, seed"):
        extra(plugins, provider, judge, ADD_LIST_ASSERT, max_test=3)
    with pytest.raises(RltfError, match="max_tests"):
        extra(plugins, provider, judge, ADD_LIST_ASSERT, max_tests=-1)


def test_a_wrong_program_that_passes_the_original_tests_fails_the_augmented_ones(plugins, provider, judge):
    problem = Problem("largest", "", AssertTests((
        "assert largest([2, 1, 3]) == 3", "assert largest([4, 5, 9]) == 9", "assert largest([0, 7, 8, 10]) == 10",
    )), solutions=("def largest(xs):\n    return max(xs)\n",))
    wrong = "def largest(xs):\n    return xs[-1]\n"
    assert judge.run([Submission(problem, wrong)])[0].outcome == "pass"
    augmented = extra(plugins, provider, judge, problem, max_tests=10)
    assert judge.run([Submission(augmented, problem.solutions[0])])[0].outcome == "pass"
    assert judge.run([Submission(augmented, wrong)])[0].outcome == "failure"


def test_humaneval_candidate_tests_and_truth_checks(plugins, provider, judge):
    prompt = "def is_even(n):\n"
    problem = Problem("HumanEval/x", prompt, AssertTests(
        ("assert candidate(4)", "assert not candidate(7)", "assert candidate(10)"),
        setup_code="candidate = is_even"), solutions=(prompt + "    return n % 2 == 0\n",), entry_point="is_even",
        program_prefix=prompt)
    written = new_tests(problem, extra(plugins, provider, judge, problem, max_tests=5))
    assert written
    for text in written:
        n = int(re.fullmatch(r"assert (not )?candidate\((-?\d+)\)", text).group(2))
        assert text.startswith("assert not ") == (n % 2 == 1)


def test_float_answers_get_a_tolerance(plugins, provider, judge):
    problem = Problem("half", "", AssertTests(("assert half(3) == 1.5", "assert half(10) == 5.0")),
                      solutions=("def half(x):\n    return x / 2\n",))
    written = new_tests(problem, extra(plugins, provider, judge, problem, max_tests=4))
    assert written and all(t.startswith("assert abs(half(") and "<= 1e-09 + 1e-06 * abs(" in t for t in written)
    only_new = Problem("half-new", "", AssertTests(tuple(written)))
    close, far = "def half(x):\n    return x / 2 + 1e-12\n", "def half(x):\n    return x / 2 + 1e-3\n"
    assert [judge.run([Submission(only_new, p)])[0].outcome for p in (close, far)] == ["pass", "failure"]


def test_tuple_arguments_reach_the_reference_as_tuples(plugins, provider, judge):
    """Tuples cross the judge as tagged data; a wrong decoding would make every such test fail its check."""
    problem = Problem("pairs", "", AssertTests(("assert swap((1, 2)) == (2, 1)", "assert swap((5, 9)) == (9, 5)")),
                      solutions=("def swap(p):\n    return (p[1], p[0])\n",))
    assert new_tests(problem, extra(plugins, provider, judge, problem, max_tests=3))


# ---- inference, without a judge --------------------------------------------------------

def test_int_ranges_widen_but_keep_their_sign():
    assert widen_ints(1, 10) == (1, 12)
    assert widen_ints(0, 100) == (0, 125)
    assert widen_ints(-5, 5) == (-7, 7)
    assert widen_ints(-10, -2) == (-12, -1)


def test_strings_keep_their_characters_and_whole_classes_when_many_were_seen():
    shape = infer(["abc", "cab", "a b"])
    assert isinstance(shape, StrShape) and set(shape.alphabet) == set("abcdefghijklmnopqrstuvwxyz ")
    binary = infer(["0101", "11"])
    assert isinstance(binary, StrShape) and binary.alphabet == "01"


def test_sorted_inputs_stay_sorted_and_searched_items_come_from_the_list():
    args = infer_args([([1, 3, 5, 7], 5), ([2, 2, 8], 8), ([0, 4, 9, 12], 3)])
    assert args.args[0].order == "asc" and [(m.target, m.source) for m in args.members] == [(1, 0)]
    drawn = draw(args_strategy(args), 30, 0, 5.0, key=repr)
    assert all(xs == sorted(xs) for xs, _ in drawn)
    assert sum(x in xs for xs, x in drawn) > 5
    assert any(len(set(xs)) < len(xs) for xs, _ in drawn)  # repeated items
    assert infer_args([([3, 1, 2], 1)]).args[0].order == ""


def test_matrices_stay_square_and_lengths_link_to_arguments():
    shape = infer([[[1, 2], [3, 4]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    assert isinstance(shape, SeqShape) and shape.grid == "square"
    args = infer_args([([1, 2, 3], 3), ([4, 5], 2)])
    assert [(link.target, link.source, link.offset) for link in args.links] == [(1, 0, 0)]
    assert isinstance(args.args[1], IntShape)


@pytest.mark.parametrize("stdins,kind", [
    (["3\n1 2 3\n", "2\n5 6\n"], ItemsLayout),
    (["2\n1 2\n3 4\n", "1\n5 6\n"], LinesLayout),
    (["2\n3\n1 2 3\n1\n4\n", "1\n2\n5 6\n"], BlocksLayout),
    (["4 5\n", "1 2\n"], FixedLayout),
    (["2\n3 3\n010\n001\n111\n1 2\n01\n"], BlocksLayout),
])
def test_stdin_layouts(stdins, kind):
    assert isinstance(infer_layout(stdins), kind)


def test_inference_draws_inputs_for_every_bundled_problem(shared_data, caplog):
    """Every problem's own inputs, from every dataset we ship, infer and draw without error."""
    data = [("mbpp", "mbpp/mbpp.jsonl"), ("humaneval", "humaneval/HumanEval.jsonl.gz")] + [
        ("apps", f"apps/train-mini/{level}.jsonl") for level in ("introductory", "interview", "competition")]
    drawn = Counter()
    options = Options(max_tests=1, deadline_s=1.0)
    for name, path in data:
        for problem in load_dataset(name, str(shared_data / path)):
            tests = problem.tests
            if isinstance(tests, StdioTests):
                layout = infer_layout([c.stdin for c in tests.cases])
                inputs = draw(layout_strategy(layout), 3, 0, 1.0, key=repr) if layout else []
            else:
                plan = plan_asserts(tests.asserts, tests.setup_code) if isinstance(tests, AssertTests) else None
                seen = [c.args for c in plan.calls] if plan else [c.args for c in getattr(tests, "cases", ())]
                inputs = _draw_args(problem, seen, options)
            drawn[name] += bool(inputs)
    assert "drawing inputs failed" not in caplog.text
    assert drawn["mbpp"] >= 960 and drawn["humaneval"] >= 155 and drawn["apps"] >= 130, drawn  # of 974, 164, 150


def test_assert_forms():
    assert parse_assert("assert f(1, [2]) == 3").args == (1, [2])
    assert parse_assert("assert candidate('a') is True").check.kind == "eq"
    assert parse_assert("assert not f(2)").check.kind == "truth"
    tol = parse_assert("assert abs(f(1.5) - 0.5) < 1e-6").check
    assert (tol.kind, tol.op, tol.tol) == ("abs", "<", 1e-6)
    assert parse_assert("assert f(x) == 3") is None
    assert parse_assert("assert tuple(f([1])) == (1,)") is None
    plan = plan_asserts(["assert candidate(1) == 2"], "candidate = inc")
    assert (plan.name, plan.function) == ("candidate", "inc")
    assert write_assert(plan, (1,), [1.5]) is None  # floats inside containers are skipped
    assert write_assert(plan, (1,), {"a": (1, 2)}) == "assert candidate(1) == {'a': (1, 2)}"
    assert not round_trips(float("nan")) and round_trips({1, 2})
