"""The plugin registry and the reward/span model, independent of any bundled plugin."""

from __future__ import annotations

import ast

import pytest

from rltf.errors import RltfError
from rltf.feedback import JudgedSample, Reward, line_spans
from rltf.hookspecs import hookimpl
from rltf.judge.result import JudgeResult
from rltf.plugins import Plugins, ProviderError, with_extra_tests
from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests

PROBLEM = Problem("p1", "", AssertTests(("assert f() == 1",)))


def sample(sample_id: str, program: str = "x = 1\n") -> JudgedSample:
    return JudgedSample(sample_id, PROBLEM, program, JudgeResult("pass", 1, 1, 1))


class Constant:
    """Gives every sample one whole-program reward, or raises on programs containing 'boom'."""

    def __init__(self, name: str = "constant"):
        self.name, self.description = name, "a constant reward"
        self.batches: list[int] = []

    @hookimpl
    def rltf_score(self, samples, options):
        self.batches.append(len(samples))
        if any("boom" in s.program for s in samples):
            raise ValueError("cannot score this")
        return [[Reward.on_program(self.name, "constant", options.get("value", 0.5))] for _ in samples]


class Contributes:
    def __init__(self, *providers):
        self.providers = providers

    @hookimpl
    def rltf_feedback_providers(self):
        return list(self.providers)


class Observer:
    def __init__(self):
        self.seen = []

    @hookimpl
    def rltf_observe_metrics(self, step, metrics):
        self.seen.append((step, dict(metrics)))


def registry(*providers, **kwargs) -> Plugins:
    return Plugins(extra_plugins=[Contributes(*providers)], entry_points=False, **kwargs)


def test_select_and_score_in_order():
    provider = Constant()
    plugins = registry(provider)
    report = plugins.score(plugins.select("constant"), [sample("a"), sample("b")], {"constant": {"value": 2}})
    assert [[r.value for r in rs] for rs in report.rewards] == [[2.0], [2.0]]
    assert provider.batches == [2]


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(RltfError, match=r"unknown feedback provider 'nope'; known providers: constant, other"):
        registry(Constant(), Constant("other")).select("constant,nope")


def test_duplicate_names_are_an_error():
    with pytest.raises(RltfError, match="two feedback providers are named 'constant'"):
        Plugins(extra_plugins=[Contributes(Constant()), Contributes(Constant())], entry_points=False)


def test_a_failing_provider_loses_only_the_samples_it_failed_on(caplog):
    plugins = registry(Constant())
    samples = [sample("ok-1"), sample("bad", "boom = 1\n"), sample("ok-2")]
    report = plugins.score(plugins.select("constant"), samples)
    assert [len(rs) for rs in report.rewards] == [1, 0, 1]
    assert report.failures == {"constant": 1}
    assert "feedback provider 'constant' failed on sample bad: ValueError: cannot score this" in report.messages[0]
    assert "sample bad" in caplog.text


def test_strict_mode_makes_a_provider_failure_fatal():
    plugins = registry(Constant())
    with pytest.raises(ProviderError, match="failed on sample bad"):
        plugins.score(plugins.select("constant"), [sample("bad", "boom\n")], strict=True)


def test_a_provider_answering_wrongly_counts_as_failing():
    class Wrong(Constant):
        @hookimpl
        def rltf_score(self, samples, options):
            return [[Reward.on_program("someone-else", "x", 1.0)] for _ in samples]

    plugins = registry(Wrong("wrong"))
    report = plugins.score(plugins.select("wrong"), [sample("a")])
    assert report.rewards == [[]] and report.failures == {"wrong": 1}


def test_metrics_observers_are_called():
    observer = Observer()
    plugins = Plugins(extra_plugins=[observer], entry_points=False)
    plugins.observe(3, {"reward/unittest": 0.25})
    assert observer.seen == [(3, {"reward/unittest": 0.25})]


def test_line_spans_follow_python_line_numbering():
    program = "a = 'é😀'\r\nif a:\r\n\tb = 1\x0c\rc = '中文'\nlast = 1"
    spans = line_spans(program)
    assert [program[s:e] for s, e in spans] == ["a = 'é😀'", "if a:", "\tb = 1\x0c", "c = '中文'", "last = 1"]
    for node in ast.walk(ast.parse(program)):
        if isinstance(node, ast.Assign):
            start, end = spans[node.lineno - 1]
            assert program[start:end].strip().startswith(node.targets[0].id)


def test_reward_on_lines_is_the_line_text_and_clamped():
    program = "def f():\n    return x\n"
    reward = Reward.on_lines("p", "fine", -0.3, program, 2, rescale=True)
    assert (reward.start_line, reward.end_line, program[reward.start_char:reward.end_char]) == (2, 2, "    return x")
    assert reward.rescale and not reward.whole_program
    past_end = Reward.on_lines("p", "fine", -0.3, program, 9)
    assert past_end.start_line == len(line_spans(program))
    assert Reward.from_dict(reward.to_dict()) == reward
    assert Reward.on_program("p", "coarse", 1).to_dict() == {
        "provider": "p", "kind": "coarse", "value": 1.0, "start_line": None, "end_line": None,
        "start_char": None, "end_char": None, "rescale": False, "baseline": True}


def test_extra_tests_keep_the_style():
    call = Problem("c", "", CallTests("f", (CallCase((1,), 2),)))
    assert with_extra_tests(call, [CallCase((2,), 3)]).tests.cases == (CallCase((1,), 2), CallCase((2,), 3))
    stdio = Problem("s", "", StdioTests((StdioCase("1", "1"),)))
    assert len(with_extra_tests(stdio, [StdioCase("2", "2")]).tests) == 2
    assert with_extra_tests(PROBLEM, ["assert f() != 2"]).tests.asserts == ("assert f() == 1", "assert f() != 2")
    assert with_extra_tests(PROBLEM, []) is PROBLEM


def test_a_user_error_from_a_provider_stops_the_run():
    class Picky(Constant):
        @hookimpl
        def rltf_score(self, samples, options):
            raise RltfError("unknown option 'x' for feedback provider 'picky'")

    plugins = registry(Picky("picky"))
    with pytest.raises(RltfError, match="unknown option 'x'"):
        plugins.score(plugins.select("picky"), [sample("a"), sample("b")])


def test_a_misspelt_hook_is_an_error_not_silence():
    class Misspelt:
        @hookimpl
        def rltf_scroe(self, samples, options):
            return []

    with pytest.raises(RltfError, match="could not be loaded.*rltf_scroe"):
        Plugins(extra_plugins=[Misspelt()], entry_points=False)


def test_hookimpl_is_exported_from_the_package():
    import rltf

    assert rltf.hookimpl is hookimpl


def test_option_reader_names_the_option_and_the_fix():
    from rltf.options import OptionReader

    read = OptionReader("demo", {"weight": 2, "mode": "b", "table": {"x": -1}}, ("weight", "mode", "table"))
    assert read.number("weight", 1.0, positive=True) == 2.0
    assert read.choice("mode", "a", ("a", "b")) == "b"
    assert dict(read.table("table", {"x": 0.0, "y": 1.0}, ("key", "keys"))) == {"x": -1.0, "y": 1.0}
    with pytest.raises(RltfError, match="unknown option 'wieght' for feedback provider 'demo'; valid options: w"):
        OptionReader("demo", {"wieght": 1}, ("weight",))
    with pytest.raises(RltfError, match="option 'mode' of feedback provider 'demo' must be one of a, c, not 'b'"):
        read.choice("mode", "a", ("a", "c"))
    with pytest.raises(RltfError, match="unknown key 'z' in option 'table'"):
        OptionReader("demo", {"table": {"z": 1}}, ("table",)).table("table", {"x": 0.0}, ("key", "keys"))
