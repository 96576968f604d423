"""New tests for each test style: infer, draw, ask the reference, keep what it answered."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping, Sequence, TypeVar

from rltf.errors import RltfError
from rltf.judge import Submission
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests

from .asserts import AssertPlan, plan_asserts, write_assert
from .sampling import draw
from .stdin import infer_layout, layout_strategy, tokens
from .strategies import args_strategy, infer_args

OVERSAMPLE = 3  # candidates per wanted test: the reference rejects some, asserts skip some
log = logging.getLogger("rltf.plugins.hypothesis")
T = TypeVar("T")


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


@dataclass(frozen=True)
class Candidate:
    """A new test; ``unsure`` when the oracle's None may mean "returned None" or "failed"."""

    test: Any
    answer: Any
    unsure: bool = False


def extra_tests(problem: Problem, oracle: Any, options: Options) -> list[Any]:
    if not problem.solutions or options.max_tests == 0:
        return []
    if isinstance(problem.tests, CallTests):
        found = call_cases(problem, problem.tests, oracle, options)
    elif isinstance(problem.tests, StdioTests):
        found = stdio_cases(problem, problem.tests, oracle, options)
    else:
        found = assert_tests(problem, problem.tests, oracle, options)
    return diverse(verified(problem, found, oracle), options.max_tests)


def _inferred(problem: Problem, infer: Callable[[], list[T]]) -> list[T]:
    """Inputs drawn, or none if inference fails on inputs of a shape nobody foresaw.

    Extra tests are an addition: one odd problem must not stop a training run, so the
    failure is logged with the problem's id and the problem keeps its own tests.
    """
    try:
        return infer()
    except Exception:  # pylint: disable=broad-exception-caught
        log.warning("hypothesis: no extra tests for problem %s: drawing inputs failed", problem.task_id,
                    exc_info=True)
        return []


def verified(problem: Problem, found: list[Candidate], oracle: Any) -> list[Candidate]:
    """The new tests the reference passes when run as tests.

    The oracle answered each input on its own; this checks the tests as programs will meet
    them: asserts written out with the problem's setup code, in another worker. A reference
    whose answer changes between runs (the order of a set of strings differs between judge
    workers; randomness) or a test we wrote wrongly is dropped here instead of failing every
    correct program later. Sure tests share one run (tests after a crash or timeout are
    dropped unrun); each unsure one runs alone, as it may well crash. Without a judge to
    run them, unsure tests are dropped and sure ones kept as they are.
    """
    judge = getattr(oracle, "judge", None)
    if judge is None:
        return [c for c in found if not c.unsure]
    sure = [i for i, c in enumerate(found) if not c.unsure]
    batches = ([sure] if sure else []) + [[i] for i, c in enumerate(found) if c.unsure]
    results = judge.run([Submission(_only(problem, [found[i].test for i in batch]), problem.solutions[0])
                         for batch in batches])
    passed = {batch[t.index] for batch, result in zip(batches, results) for t in result.tests if t.verdict == "pass"}
    return [c for i, c in enumerate(found) if i in passed]


def diverse(found: list[Candidate], count: int) -> list[Any]:
    """``count`` tests, each kind of answer first: a boolean function gets both True and False.

    Kinds are True, False, None and otherwise the answer's type; an input whose answer is
    of a kind no other test has takes another path through the program. Distinct values
    would say more, but favour the trivial inputs (a one-item list has its own answer).
    Tests keep their drawn order.
    """
    chosen: set[int] = set()
    kinds: set[str] = set()
    for i, c in enumerate(found):
        kind = repr(c.answer) if c.answer is None or isinstance(c.answer, bool) else type(c.answer).__name__
        if len(chosen) < count and kind not in kinds:
            chosen.add(i)
            kinds.add(kind)
    for i in range(len(found)):
        if len(chosen) < count:
            chosen.add(i)
    return [c.test for i, c in enumerate(found) if i in chosen]


def _only(problem: Problem, extra: list[Any]) -> Problem:
    tests = problem.tests
    if isinstance(tests, CallTests):
        return replace(problem, tests=replace(tests, cases=tuple(extra)))
    if isinstance(tests, StdioTests):
        return replace(problem, tests=StdioTests(tuple(extra)))
    return replace(problem, tests=replace(tests, asserts=tuple(extra)))


def _args_key(args: Sequence[Any]) -> str:
    return repr(tuple(args))


def _draw_args(problem: Problem, seen: Sequence[Sequence[Any]], options: Options) -> list[tuple[Any, ...]]:
    def infer() -> list[tuple[Any, ...]]:
        shape = infer_args(seen)
        if shape is None:
            return []
        return draw(args_strategy(shape), options.max_tests * OVERSAMPLE, options.seed, options.deadline_s,
                    key=_args_key, exclude={_args_key(a) for a in seen})

    return _inferred(problem, infer)


def call_cases(problem: Problem, tests: CallTests, oracle: Any, options: Options) -> list[Candidate]:
    """None is a possible answer only when some original case expects it."""
    none_seen = any(c.expected is None or c.expected == [None] for c in tests.cases)
    inputs = _draw_args(problem, [c.args for c in tests.cases], options)
    answers = oracle.outputs(problem, [CallCase(args, None) for args in inputs])
    return [Candidate(CallCase(args, answer), answer, answer is None) for args, answer in zip(inputs, answers)
            if answer is not None or none_seen]


def assert_tests(problem: Problem, tests: AssertTests, oracle: Any, options: Options) -> list[Candidate]:
    plan = plan_asserts(tests.asserts, tests.setup_code)
    if plan is None:
        return []
    return assert_candidates(problem, plan, _draw_args(problem, [c.args for c in plan.calls], options), oracle)


def assert_candidates(problem: Problem, plan: AssertPlan, inputs: Sequence[tuple[Any, ...]],
                      oracle: Any) -> list[Candidate]:
    """Asserts for ``inputs``; None is a possible answer only when some original assert expects it."""
    probe = replace(problem, tests=CallTests(plan.function, ()))
    answers = oracle.outputs(probe, [CallCase(tuple(args), None) for args in inputs])
    found = []
    for args, answer in zip(inputs, answers):
        text = write_assert(plan, tuple(args), answer) if answer is not None or plan.none_seen else None
        if text is not None:
            found.append(Candidate(text, answer, answer is None))
    return found


def _stdin_key(stdin: str) -> str:
    return repr([[str(t) for t in line] for line in tokens(stdin)])


def stdio_cases(problem: Problem, tests: StdioTests, oracle: Any, options: Options) -> list[Candidate]:
    """An input the reference answers with nothing at all is most likely one it cannot read."""
    def infer() -> list[str]:
        layout = infer_layout([c.stdin for c in tests.cases])
        if layout is None:
            return []
        return draw(layout_strategy(layout), options.max_tests * OVERSAMPLE, options.seed, options.deadline_s,
                    key=_stdin_key, exclude={_stdin_key(c.stdin) for c in tests.cases})

    inputs = _inferred(problem, infer)
    answers = oracle.outputs(problem, [StdioCase(stdin, "") for stdin in inputs])
    return [Candidate(StdioCase(stdin, out), out) for stdin, out in zip(inputs, answers)
            if out is not None and out.strip()]
