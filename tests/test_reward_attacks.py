"""Attacks on the unit-test reward: ways a policy could score more without solving more.

A policy trained on these rewards will find any program shape that scores better than an honest
attempt at the same skill. Each attack here is a program that solves exactly what the honest
program solves (the first three of ten tests) and then does something other than answering: it
crashes, ends its own process, loops, floods its output or exhausts its memory after a wrong
answer, hoping the rule counts only the tests before it stopped, or that a crash without a
traceback line escapes the fine-grained penalty. Every attack must score strictly less than
the honest program, summed over the three terms as the learner weighs them (a line penalty,
rescaled by alpha = T/(E-S+1) and averaged over T tokens, weighs what a whole-program one does).

Programs are judged for real and scored through the entry-point registry with default options.
"""

from __future__ import annotations

import pytest

from rltf.feedback import JudgedSample
from rltf.judge import Judge, JudgeConfig, Submission
from rltf.plugins import Plugins
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests

SQUARE = Problem("square", "f(x) = x * x", CallTests("f", tuple(CallCase((x,), x * x) for x in range(1, 11))))
SOLVES_THREE = "def f(x):\n    if x <= 3:\n        return x * x\n"
HONEST = SOLVES_THREE + "    return 0\n"
AFTER_A_WRONG_ANSWER = SOLVES_THREE + "    if x == 4:\n        return 0\n"
ATTACKS = {
    "raise after a wrong answer": AFTER_A_WRONG_ANSWER + "    raise ValueError('give up')\n",
    "os._exit after a wrong answer": "import os\n" + AFTER_A_WRONG_ANSWER + "    os._exit(0)\n",
    "sys.exit after a wrong answer": "import sys\n" + AFTER_A_WRONG_ANSWER + "    sys.exit(0)\n",
    "SIGKILL itself after a wrong answer": "import os, signal\n" + AFTER_A_WRONG_ANSWER
                                           + "    os.kill(os.getpid(), signal.SIGKILL)\n",
    "loop forever after a wrong answer": AFTER_A_WRONG_ANSWER + "    while True:\n        pass\n",
    "recurse without end after a wrong answer": AFTER_A_WRONG_ANSWER + "    return f(x + 1) + 1\n",
    "flood the output after a wrong answer": AFTER_A_WRONG_ANSWER + "    print('x' * (8 << 20))\n    return 0\n",
    "exhaust memory after a wrong answer": AFTER_A_WRONG_ANSWER + "    return len(bytearray(4 << 30))\n",
    "crash on every test it cannot solve": SOLVES_THREE + "    raise ValueError('give up')\n",
    "exit on every test it cannot solve": "import os\n" + SOLVES_THREE + "    os._exit(0)\n",
    "define no f when unsure": "def g(x):\n    return x * x\n",
    "mix tabs and spaces to fail compiling without a line": "def f(x):\n\tif x:\n        return x * x\n",
}


@pytest.fixture(scope="module")
def judge():
    with Judge(JudgeConfig(timeout_s=2.0, workers=2, memory_mb=256)) as judge:
        yield judge


@pytest.fixture(scope="module")
def scored(judge):
    """Every program judged in one batch and scored once: name -> (outcome, the learner's sum of its rewards)."""
    plugins = Plugins()
    provider = plugins.select("unittest")
    programs = {"honest": HONEST, **ATTACKS}
    results = judge.run([Submission(SQUARE, program) for program in programs.values()])
    samples = [JudgedSample(SQUARE.task_id, SQUARE, program, result) for program, result in zip(programs.values(), results)]
    rewards = plugins.score(provider, samples, strict=True).rewards
    return {name: (sample.result.outcome, sum(r.value for r in given))
            for name, sample, given in zip(programs, samples, rewards)}


def test_the_honest_program_answers_every_test_and_gets_partial_credit(scored):
    outcome, total = scored["honest"]
    assert outcome == "failure"
    assert total == pytest.approx(-0.3 + (-0.3 + 1.3 * 3 / 10))  # coarse + adaptive, no fine penalty


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_no_attack_scores_as_much_as_the_honest_program(scored, attack):
    outcome, total = scored[attack]
    assert outcome != "pass"
    assert total < scored["honest"][1], f"{attack}: {outcome} scores {total:.3f}"


# ------------------------------------------------------------------------------------------
# Round 2 (red team). More crash shapes for the table above, then attacks the table's shape
# cannot show: answers the tests did not accept, and crashes that keep their runtime error but
# escape the fine-grained penalty, which the learner only sees token by token.

ATTACKS.update({
    "raise an exception named JudgeError after a wrong answer": "class JudgeError(Exception):\n    pass\n"
                                                                  + AFTER_A_WRONG_ANSWER + "    raise JudgeError\n",
    "raise from generated code whose traceback ends on a blank line": AFTER_A_WRONG_ANSWER
        + "    exec(compile('\\n' * 7 + 'raise ValueError', '<program>', 'exec'))\n\n\n\n",
})


def learner_total(program: str, prefix: int, rewards) -> float:
    """The learner's sum of a program's terms, on a tokenizer with one token per character of
    the completion (what follows the ``prefix`` characters the problem gives): a span reward
    that covers no token of the completion weighs nothing, as in ``token_terms``."""
    from rltf.token_rewards import token_terms

    size = len(program) - prefix
    terms = token_terms(rewards, [(i, i + 1) for i in range(size)], prefix, {})
    return sum(sum(weights) / size for weights in terms.values())


def judged_and_scored(judge, submissions: dict[str, tuple[Problem, str]]) -> dict[str, tuple]:
    """name -> (result, rewards, the learner's sum), all judged in one batch."""
    plugins = Plugins()
    provider = plugins.select("unittest")
    results = judge.run([Submission(problem, program) for problem, program in submissions.values()])
    samples = [JudgedSample(problem.task_id, problem, program, result)
               for (problem, program), result in zip(submissions.values(), results)]
    rewards = plugins.score(provider, samples, strict=True).rewards
    return {name: (sample.result, given, learner_total(sample.program, len(sample.problem.program_prefix), given))
            for name, sample, given in zip(submissions, samples, rewards)}


# ---- Answers the tests did not accept are never passed

ADD_STDIO = Problem("add-stdio", "print a + b", StdioTests(tuple(StdioCase(f"{a} {a}\n", f"{2 * a}\n")
                                                                 for a in range(1, 11))))
READ = "a, b = map(int, input().split())\n"
STDIO_SOLVES_THREE = READ + "if a <= 3:\n    print(a + b)\n    raise SystemExit\n"
NOT_ACCEPTED = {
    "call: a list of every candidate answer": (SQUARE, SOLVES_THREE + "    return [y * y for y in range(1, 11)]\n"),
    "call: a generator of every candidate answer": (SQUARE, SOLVES_THREE + "    return (y * y for y in range(11))\n"),
    "call: the answer wrapped in a one-item list plus a guess": (SQUARE, SOLVES_THREE + "    return [x, x * 2]\n"),
    "call: a dict shaped like the wire format's $int tag": (SQUARE, SOLVES_THREE
                                                             + "    return {'$int': format(x * x, 'x')}\n"),
    "call: a dict shaped like the wire format's $handle tag": (SQUARE, SOLVES_THREE + "    return {'$handle': 0}\n"),
    "call: the judge's own math module": (SQUARE, "import math\n" + SOLVES_THREE + "    return math\n"),
    "call: a builtin type": (SQUARE, SOLVES_THREE + "    return object\n"),
    "call: NaN": (SQUARE, SOLVES_THREE + "    return float('nan')\n"),
    "call: True for every answer": (SQUARE, SOLVES_THREE + "    return True\n"),
    "call: a float a hair from an integer": (SQUARE, SOLVES_THREE + "    return x * x + 1e-9\n"),
    "stdio: every candidate answer on one line": (ADD_STDIO, STDIO_SOLVES_THREE + "print(*range(2, 21, 2))\n"),
    "stdio: every candidate answer on its own line": (ADD_STDIO, STDIO_SOLVES_THREE
                                                      + "print('\\n'.join(map(str, range(2, 21, 2))))\n"),
    "stdio: nan and inf": (ADD_STDIO, STDIO_SOLVES_THREE + "print('nan' if a % 2 else 'inf')\n"),
    "stdio: a float within the float tolerance of an integer answer": (ADD_STDIO, STDIO_SOLVES_THREE
                                                                         + "print(f'{a + b + 3e-6:.7f}')\n"),
    "stdio: a number past float range": (ADD_STDIO, STDIO_SOLVES_THREE + "print('1e400')\n"),
    "stdio: the answer to the last test for every test": (ADD_STDIO, STDIO_SOLVES_THREE + "print(20)\n"),
}


@pytest.fixture(scope="module")
def not_accepted(judge):
    return judged_and_scored(judge, NOT_ACCEPTED)


@pytest.mark.parametrize("attack", list(NOT_ACCEPTED))
def test_answers_the_tests_did_not_accept_are_never_passed(not_accepted, attack):
    """Each program solves the first three tests and then answers with something other than
    the answer: a flood of candidates, a value shaped like the judge's own wire format, the
    judge's own objects, numbers at the edge of the comparison's tolerance. Only the three
    (and, for the last answer printed everywhere, the one test it fits) may pass."""
    result, _, total = not_accepted[attack]
    lucky = 1 if attack == "stdio: the answer to the last test for every test" else 0
    assert result.passed == 3 + lucky, f"{attack}: {result.outcome}, {result.passed} passed"
    assert result.outcome == "failure"


# ---- A crash costs its program the fine-grained penalty, on code the policy wrote

PROMPT = ('def helper(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n\n\n'
          'def f(x):\n    """Return x * x."""\n')
PROMPTED = Problem("prompted-square", PROMPT, AssertTests(tuple(f"assert candidate({x}) == {x * x}" for x in range(1, 11)),
                                                           setup_code="candidate = f"),
                   entry_point="f", program_prefix=PROMPT)
HONEST_CRASHES = {
    SQUARE.task_id: "def f(x):\n    raise ValueError('give up')\n",
    ADD_STDIO.task_id: READ + "raise ValueError('give up')\n",
    PROMPTED.task_id: PROMPTED.program("    raise ValueError('give up')\n"),
}
PROBLEMS = {problem.task_id: problem for problem in (SQUARE, ADD_STDIO, PROMPTED)}
PENALTY_DODGES = {
    "an exception class named JudgeError (the judge's own fault: U_ignore)": (
        SQUARE, "class JudgeError(Exception):\n    pass\n\n\ndef f(x):\n    raise JudgeError('give up')\n"),
    "an exception class named JudgeError, made with type()": (
        SQUARE, "def f(x):\n    raise type('JudgeError', (Exception,), {})('give up')\n"),
    "an exception class named JudgeError, in a standard-input program": (
        ADD_STDIO, "class JudgeError(Exception):\n    pass\n\n\n" + READ + "raise JudgeError('give up')\n"),
    "generated code compiled as <program>, its traceback ending on a blank line": (
        SQUARE, "def f(x):\n    exec(compile('\\n' * 3 + 'raise ValueError', '<program>', 'exec'))\n\n\n"),
    "generated code compiled as <program>, in a standard-input program": (
        ADD_STDIO, "exec(compile('\\n' * 3 + 'raise ValueError', '<program>', 'exec'))\n\n\n\n"),
    "a traceback forged with types.TracebackType onto a blank line": (
        SQUARE, "import sys, types\n\n\ndef f(x):\n    tb = types.TracebackType(None, sys._getframe(), 0, 2)\n"
                "    raise ValueError('give up').with_traceback(tb)\n"),
    "a function whose code object is moved onto blank lines (co_firstlineno)": (
        SQUARE, "def g(x):\n\n\n    raise ValueError\ng.__code__ = g.__code__.replace(co_firstlineno=7)\nf = g\n\n\n\n"),
    "a traceback one line past the end of a program ending in a blank line": (
        SQUARE, "def f(x):\n    exec(compile('\\n' * 3 + 'raise ValueError', '<program>', 'exec'))\n\n"),
    "a traceback forged onto a comment line": (
        SQUARE, "import sys, types\n# harmless\ndef f(x):\n    tb = types.TracebackType(None, sys._getframe(), 0, 2)\n"
                "    raise ValueError('give up').with_traceback(tb)\n"),
    "a crash inside a helper the prompt gives (its line is the prompt's)": (
        PROMPTED, PROMPTED.program("    return helper(None, x)\n")),
    "generated code compiled as <program>, its traceback ending in the prompt's docstring": (
        PROMPTED, PROMPTED.program("    exec(compile('\\n' * 5 + 'raise ValueError', '<program>', 'exec'))\n")),
}


@pytest.fixture(scope="module")
def dodges(judge):
    submissions = {f"honest crash: {task_id}": (PROBLEMS[task_id], program)
                   for task_id, program in HONEST_CRASHES.items()}
    return judged_and_scored(judge, {**submissions, **PENALTY_DODGES})


def test_an_honest_crash_costs_the_fine_grained_penalty(dodges):
    for task_id in HONEST_CRASHES:
        result, _, total = dodges[f"honest crash: {task_id}"]
        assert result.outcome == "runtime_error"
        assert total == pytest.approx(-0.6 - 0.3)


@pytest.mark.parametrize("attack", list(PENALTY_DODGES))
def test_no_crash_escapes_the_fine_grained_penalty(dodges, attack):
    """A crash ties an honest program that solves nothing (-0.6) if it escapes the fine-grained
    penalty: by naming its exception like the judge's own failure (classified U_ignore), or by
    getting its traceback line onto text with no token of the completion (a blank line, a line
    past a blank end, the prompt a completion continues), where the line penalty weighs zero."""
    problem, _ = PENALTY_DODGES[attack]
    result, _, total = dodges[attack]
    _, _, honest = dodges[f"honest crash: {problem.task_id}"]
    assert result.outcome == "runtime_error"
    assert total <= honest + 1e-9, f"{attack}: the learner sees {total:.3f}, an honest crash {honest:.3f}"


@pytest.mark.parametrize("attack", list(PENALTY_DODGES))
def test_the_line_penalty_lands_on_code_the_policy_wrote(dodges, attack):
    """A line penalty is meant for the code that failed: never for a blank line, a comment, or
    the prompt, which teach the policy nothing about the line that raised."""
    problem, program = PENALTY_DODGES[attack]
    _, rewards, _ = dodges[attack]
    for reward in rewards:
        if reward.whole_program:
            continue
        text = program[max(reward.start_char, len(problem.program_prefix)):reward.end_char].strip()
        assert text and not text.startswith("#"), f"{attack}: the penalty lands on {text!r} (line {reward.start_line})"


# ---- Tests that compare the program with itself

HUMANEVAL_33 = {
    "task_id": "HumanEval/33",
    "prompt": "\n\ndef sort_third(l: list):\n    \"\"\"Sort the values at indices divisible by three.\"\"\"\n",
    "entry_point": "sort_third",
    "canonical_solution": "    l = list(l)\n    l[::3] = sorted(l[::3])\n    return l\n",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n"
            "    assert tuple(candidate([1, 2, 3])) == tuple(sort_third([1, 2, 3]))\n"
            "    assert tuple(candidate([5, 3, -5, 2, -3, 3, 9, 0, 123, 1, -10])) == "
            "tuple(sort_third([5, 3, -5, 2, -3, 3, 9, 0, 123, 1, -10]))\n"
            "    assert tuple(candidate([5, 8, -12, 4, 23, 2, 3, 11, 12, -10])) == "
            "tuple(sort_third([5, 8, -12, 4, 23, 2, 3, 11, 12, -10]))\n"
            "    assert tuple(candidate([5, 6, 3, 4, 8, 9, 2])) == tuple([2, 6, 3, 4, 8, 9, 5])\n",
}


def test_tests_that_call_the_entry_point_by_name_are_not_passed_by_any_program(judge):
    """HumanEval/33 (its test, shortened) compares ``candidate(x)`` with ``sort_third(x)``: both
    are the program's own function, so any program passes three of its seven tests (three of the
    four here), a constant one too. The expected side must be the problem's, not the program's."""
    from rltf.datasets.humaneval import build_problem
    from rltf.datasets.records import Record

    problem = build_problem(Record("HumanEval.jsonl", 34, HUMANEVAL_33))
    solution, constant = judge.run([Submission(problem, problem.solutions[0]),
                                    Submission(problem, problem.program("    return []\n"))])
    assert solution.outcome == "pass"
    assert constant.passed == 0, f"returning [] passes {constant.passed} of {constant.total}"
