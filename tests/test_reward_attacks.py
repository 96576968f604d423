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
from rltf.problems import CallCase, CallTests, Problem

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
