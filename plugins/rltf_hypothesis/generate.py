"""New tests for each test style: infer, draw, ask the reference, keep what it answered."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

from rltf.errors import RltfError
from rltf.judge import Submission
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests

from .asserts import plan_asserts, write_assert
from .sampling import draw
from .stdin import infer_layout, layout_strategy, tokens
from .strategies import args_strategy, infer_args

OVERSAMPLE = 3  # candidates per wanted test: the reference rejects some, asserts skip some


@dataclass(frozen=True)
class Options:
    """``[feedback.hypothesis]`` settings: the seed, tests per problem, seconds to draw inputs."""

    seed: int = 0
    max_tests: int = 10
    deadline_s: float = 5.0

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> "Options":
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise RltfError(f"unknown option(s) for feedback provider 'hypothesis': {', '.join(unknown)}; "
                            f"valid options: {', '.join(sorted(valid))}")
        parsed = cls(**options)
        if not isinstance(parsed.seed, int) or isinstance(parsed.seed, bool):
            raise RltfError(f"hypothesis option seed must be an integer, not {parsed.seed!r}")
        if not isinstance(parsed.max_tests, int) or isinstance(parsed.max_tests, bool) or parsed.max_tests < 0:
            raise RltfError(f"hypothesis option max_tests must be an integer >= 0, not {parsed.max_tests!r}")
        if not isinstance(parsed.deadline_s, (int, float)) or not parsed.deadline_s > 0:
            raise RltfError(f"hypothesis option deadline_s must be a number > 0, not {parsed.deadline_s!r}")
        return parsed


def extra_tests(problem: Problem, oracle: Any, options: Options) -> list[Any]:
    if not problem.solutions or options.max_tests == 0:
        return []
    if isinstance(problem.tests, CallTests):
        found: list[Any] = call_cases(problem, problem.tests, oracle, options)
    elif isinstance(problem.tests, StdioTests):
        found = stdio_cases(problem, problem.tests, oracle, options)
    else:
        found = assert_tests(problem, problem.tests, oracle, options)
    return verified(problem, found, oracle)[:options.max_tests]


def verified(problem: Problem, extra: list[Any], oracle: Any) -> list[Any]:
    """The new tests the reference passes when run as tests, in one judge run.

    The oracle answered each input on its own; this run checks the tests as programs will
    meet them: asserts written out with the problem's setup code, in a worker of its own.
    A reference whose answer changes between runs (string-set order differs between judge
    workers, randomness) or a test we wrote wrongly is caught here instead of failing
    every correct program later. Tests after a crash or a timeout are dropped unrun.
    """
    judge = getattr(oracle, "judge", None)
    if judge is None or not extra:
        return extra
    tests = problem.tests
    if isinstance(tests, CallTests):
        only_new: Any = replace(tests, cases=tuple(extra))
    elif isinstance(tests, StdioTests):
        only_new = StdioTests(tuple(extra))
    else:
        only_new = replace(tests, asserts=tuple(extra))
    result = judge.run([Submission(replace(problem, tests=only_new), problem.solutions[0])])[0]
    passed = {t.index for t in result.tests if t.verdict == "pass"}
    return [test for index, test in enumerate(extra) if index in passed]


def _args_key(args: Sequence[Any]) -> str:
    return repr(tuple(args))


def _draw_args(seen: Sequence[Sequence[Any]], options: Options) -> list[tuple[Any, ...]]:
    shape = infer_args(seen)
    if shape is None:
        return []
    return draw(args_strategy(shape), options.max_tests * OVERSAMPLE, options.seed, options.deadline_s,
                key=_args_key, exclude={_args_key(a) for a in seen})


def call_cases(problem: Problem, tests: CallTests, oracle: Any, options: Options) -> list[CallCase]:
    inputs = _draw_args([c.args for c in tests.cases], options)
    answers = oracle.outputs(problem, [CallCase(args, None) for args in inputs])
    return [CallCase(args, answer) for args, answer in zip(inputs, answers) if answer is not None]


def assert_tests(problem: Problem, tests: AssertTests, oracle: Any, options: Options) -> list[str]:
    plan = plan_asserts(tests.asserts, tests.setup_code)
    if plan is None:
        return []
    inputs = _draw_args([c.args for c in plan.calls], options)
    probe = replace(problem, tests=CallTests(plan.function, ()))
    answers = oracle.outputs(probe, [CallCase(args, None) for args in inputs])
    written = (write_assert(plan, args, answer) for args, answer in zip(inputs, answers) if answer is not None)
    return [text for text in written if text is not None]


def _stdin_key(stdin: str) -> str:
    return repr([[str(t) for t in line] for line in tokens(stdin)])


def stdio_cases(problem: Problem, tests: StdioTests, oracle: Any, options: Options) -> list[StdioCase]:
    """An input the reference answers with nothing at all is most likely one it cannot read."""
    layout = infer_layout([c.stdin for c in tests.cases])
    if layout is None:
        return []
    inputs = draw(layout_strategy(layout), options.max_tests * OVERSAMPLE, options.seed, options.deadline_s,
                  key=_stdin_key, exclude={_stdin_key(c.stdin) for c in tests.cases})
    answers = oracle.outputs(problem, [StdioCase(stdin, "") for stdin in inputs])
    return [StdioCase(stdin, out) for stdin, out in zip(inputs, answers)
            if out is not None and out.strip()]
