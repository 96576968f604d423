"""From rewards on program characters to per-token weights: what the learner actually trains on.

RLTF's coarse and adaptive terms are advantages over a baseline program on every token;
its fine-grained penalty lands only on the tokens of the offending line, rescaled by
T / span tokens. A slip here (an off-by-one span, a reward leaking into the prompt, a
baseline from the wrong rollouts) trains silently on the wrong signal, so these tests use
a real byte-level BPE tokenizer and its offset mapping.
"""

import functools

import pytest

from rltf.embedded import train_tokenizer
from rltf.feedback import Reward
from rltf.problems import AssertTests, Problem
from rltf.token_rewards import Rollout, is_trainable, to_examples, token_offsets

PROMPT = "def double(x):\n"
COMPLETION = "    y = x * 2\n    return y\nprint(double(3))\n"
PROGRAM = PROMPT + COMPLETION
CORPUS = [PROGRAM, "def add(a, b):\n    return a + b\n", "x = int(input())\nprint(x * 2)\n"]
PROBLEM_P = Problem("p", "double x", AssertTests(("assert double(3) == 6",)))


@functools.cache
def tokenizer():
    return train_tokenizer(CORPUS * 4, vocab_size=300)


@pytest.fixture(scope="module")
def tok():
    return tokenizer()


def decode(tok, ids):
    """As ``Policy.decode`` decodes: no special-token skipping, no clean-up."""
    return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


@pytest.fixture(scope="module")
def encode(tok):
    def encode(text):
        encoded = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(encoded["input_ids"]), [tuple(span) for span in encoded["offset_mapping"]]
    return encode


def rollout(problem="p", greedy=False, ended=False, step=7):
    ids = tokenizer()(COMPLETION, add_special_tokens=False)["input_ids"]
    return Rollout(problem, [5, 6, 7], COMPLETION, ids, ended, not ended, greedy, step)


def coarse(value):
    return Reward.on_program("unittest", "coarse", value)


def everywhere(weights, value):
    """Every token carries ``value`` (within float tolerance)."""
    return weights == pytest.approx([value] * len(weights))


def examples(encode, tok, rollouts, rewards, baseline="mean"):
    return to_examples(rollouts, rewards, [len(PROMPT)] * len(rollouts), lambda ids: token_offsets(ids, functools.partial(
        decode, tok)), tok.eos_token_id, baseline)


def test_mean_baseline_is_the_mean_of_a_problems_samples(encode, tok):
    rollouts = [rollout("p"), rollout("p"), rollout("p"), rollout("p", greedy=True), rollout("q")]
    rewards = [[coarse(1.0)], [coarse(-0.3)], [coarse(-1.0)], [coarse(5.0)], [coarse(-0.6)]]
    out = examples(encode, tok, rollouts, rewards, "mean")
    assert len(out) == 4
    mean_p = (1.0 - 0.3 - 1.0) / 3  # the greedy rollout is not one of the samples
    for example, expected in zip(out, [1.0 - mean_p, -0.3 - mean_p, -1.0 - mean_p, 0.0]):
        assert len(example.terms["unittest/coarse"]) == len(example.completion_ids)
        assert everywhere(example.terms["unittest/coarse"], expected)


def test_greedy_baseline_uses_the_greedy_rollout_of_the_same_problem(encode, tok):
    rollouts = [rollout("p"), rollout("p", greedy=True), rollout("q"), rollout("q", greedy=True)]
    rewards = [[coarse(1.0)], [coarse(-0.3)], [coarse(1.0)], [coarse(1.0)]]
    first, second = examples(encode, tok, rollouts, rewards, "greedy")
    assert everywhere(first.terms["unittest/coarse"], 1.3)
    assert set(second.terms["unittest/coarse"]) == {0.0}


def test_a_key_the_baseline_program_lacks_counts_as_zero(encode, tok):
    adaptive = Reward.on_program("unittest", "adaptive", 0.35)
    rollouts = [rollout("p"), rollout("p", greedy=True)]
    (example,) = examples(encode, tok, rollouts, [[coarse(-0.3), adaptive], [coarse(1.0)]], "greedy")
    assert everywhere(example.terms["unittest/adaptive"], 0.35)
    assert everywhere(example.terms["unittest/coarse"], -1.3)


def test_whole_program_reward_without_baseline_applies_as_is(encode, tok):
    penalty = Reward.on_program("unittest", "fine", -0.3, baseline=False)
    rollouts = [rollout("p"), rollout("p")]
    out = examples(encode, tok, rollouts, [[penalty], [penalty]], "mean")
    for example in out:
        assert everywhere(example.terms["unittest/fine"], -0.3)
        assert is_trainable(example)


@pytest.mark.parametrize(("line", "covered"), [
    (2, "    y = x * 2"),
    (3, "\n    return y"),  # BPE joins a newline to the next line's indent: that token belongs to both lines
    (4, "print(double(3))"),
])
def test_span_reward_lands_on_the_tokens_of_its_line(encode, tok, line, covered):
    reward = Reward.on_lines("unittest", "fine", -0.3, PROGRAM, line)
    assert PROGRAM[reward.start_char:reward.end_char] == PROGRAM.splitlines()[line - 1]
    (example,) = examples(encode, tok, [rollout()], [[reward]])
    weights = example.terms["unittest/fine"]
    hit = [t for t, w in enumerate(weights) if w]
    assert hit == list(range(hit[0], hit[-1] + 1))
    assert tok.decode([example.completion_ids[t] for t in hit]) == covered
    assert everywhere([weights[t] for t in hit], -0.3)


def test_span_over_several_lines(encode, tok):
    reward = Reward.on_lines("unittest", "fine", -0.3, PROGRAM, 2, 3)
    (example,) = examples(encode, tok, [rollout()], [[reward]])
    hit = [t for t, w in enumerate(example.terms["unittest/fine"]) if w]
    assert tok.decode([example.completion_ids[t] for t in hit]) == "    y = x * 2\n    return y"


def test_span_inside_the_prompt_gives_no_weight_at_all(encode, tok):
    in_prompt = Reward.on_lines("unittest", "fine", -0.3, PROGRAM, 1)
    (example,) = examples(encode, tok, [rollout()], [[in_prompt]])
    assert example.terms == {}
    assert not is_trainable(example)


def test_rescaled_span_weighs_like_a_whole_program_reward(encode, tok):
    plain = Reward.on_lines("unittest", "fine", -0.3, PROGRAM, 4)
    scaled = Reward.on_lines("pylint", "line", -0.3, PROGRAM, 4, rescale=True)
    (example,) = examples(encode, tok, [rollout()], [[plain, scaled]])
    plain_w, scaled_w = example.terms["unittest/fine"], example.terms["pylint/line"]
    span = sum(1 for w in plain_w if w)
    total = len(example.completion_ids)
    assert 0 < span < total
    assert scaled_w == pytest.approx([w * total / span for w in plain_w])
    assert sum(scaled_w) == pytest.approx(-0.3 * total)


def test_ended_rollout_gets_eos_with_whole_program_weight_but_no_span_weight(encode, tok):
    last_line = Reward.on_lines("unittest", "fine", -0.3, PROGRAM, 4, rescale=True)
    rollouts = [rollout("p", ended=True), rollout("p", greedy=True)]
    (example,) = examples(encode, tok, rollouts, [[coarse(1.0), last_line], [coarse(-0.3)]], "greedy")
    ids, _ = encode(COMPLETION)
    assert example.completion_ids == ids + [tok.eos_token_id]
    assert example.terms["unittest/coarse"][-1] == pytest.approx(1.3)
    assert example.terms["unittest/fine"][-1] == 0.0
    span = [w for w in example.terms["unittest/fine"] if w]
    assert everywhere(span, -0.3 * (len(ids) + 1) / len(span))  # T counts the EOS


def test_unended_rollout_has_no_eos(encode, tok):
    (example,) = examples(encode, tok, [rollout(ended=False)], [[coarse(1.0)]])
    assert example.completion_ids == encode(COMPLETION)[0]


def test_greedy_rollouts_make_no_example(encode, tok):
    rollouts = [rollout("p", greedy=True), rollout("q", greedy=True)]
    assert examples(encode, tok, rollouts, [[coarse(1.0)], [coarse(-1.0)]], "greedy") == []


def test_example_keeps_prompt_and_policy_step(encode, tok):
    (example,) = examples(encode, tok, [rollout(step=42)], [[coarse(1.0)]])
    assert (example.prompt_ids, example.policy_step, example.uses) == ([5, 6, 7], 42, 0)


def test_equal_rewards_under_mean_baseline_are_not_trainable(encode, tok):
    out = examples(encode, tok, [rollout("p"), rollout("p")], [[coarse(-0.3)], [coarse(-0.3)]], "mean")
    assert len(out) == 2
    assert all(set(e.terms["unittest/coarse"]) == {0.0} for e in out)
    assert not any(is_trainable(e) for e in out)


# --- the sampled tokens, not a re-tokenization of their text ---------------------------------------

def test_token_offsets_agree_with_the_tokenizers_own_offsets(encode, tok):
    ids, offsets = encode(COMPLETION)
    assert token_offsets(ids, functools.partial(decode, tok)) == offsets


def test_token_offsets_cover_multi_byte_characters_split_across_tokens(tok):
    text = "# naïve 数 → ü\nx = 'é'\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text.encode("utf-8")) // 2  # byte-level: several tokens per character
    spans = token_offsets(ids, functools.partial(decode, tok))
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a <= b == c for (a, b), (c, _) in zip(spans, spans[1:]))
    second_line = text.index("x")
    assert [i for i, (a, b) in enumerate(spans) if a < len(text) and b > second_line and b > a]


def sentencepiece_tokenizer():
    """A SentencePiece-style tokenizer (Metaspace: a word-initial space is part of the token), as
    Llama's and T5's are: its text does not re-tokenize to the ids that were sampled."""
    from tokenizers import SentencePieceBPETokenizer
    from transformers import PreTrainedTokenizerFast

    raw = SentencePieceBPETokenizer()
    raw.train_from_iterator(CORPUS * 8, vocab_size=200, special_tokens=["</s>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="</s>")


def test_learner_trains_on_the_sampled_ids_of_a_sentencepiece_tokenizer():
    """A sample the tokenizer would spell differently: its ids, its text's line found on them."""
    import torch

    from rltf.actor import Actor
    from rltf.config import ActorSettings, EmbeddedSettings, ModelSettings
    from rltf.embedded import build_model
    from rltf.policy import prepared

    sp = sentencepiece_tokenizer()
    policy = prepared(build_model(sp, EmbeddedSettings(layers=1, width=32, heads=2), seed=0), sp, ModelSettings(),
                      torch.device("cpu"))
    pieces = [sp.convert_tokens_to_ids(t) for t in ("▁return", "▁y")]
    split = [sp.convert_tokens_to_ids(t) for t in ("▁", "r", "e", "t", "u", "r", "n", "▁y")]
    sampled = [i for i in split if i is not None and i != sp.unk_token_id]
    assert len(sampled) == len(split) and None not in pieces
    text = policy.decode(sampled)
    assert sp(text, add_special_tokens=False)["input_ids"] != sampled  # no round trip
    actor = Actor(policy, ActorSettings(), seed=0)
    roll = actor._rollout(PROBLEM_P, [1, 2], sampled, ended=True, greedy=False)
    assert roll.completion_ids == sampled and roll.text == text
    line = Reward.on_lines("unittest", "fine", -0.3, text, 1)
    (example,) = to_examples([roll], [[line]], [0], policy.token_offsets, sp.eos_token_id, "mean")
    assert example.completion_ids == sampled + [sp.eos_token_id]
    spans = policy.token_offsets(sampled)
    assert "".join(text[a:b] for a, b in spans) == text
    written = [-0.3 if b > a else 0.0 for a, b in spans]  # a leading "▁" writes nothing at the start
    assert example.terms["unittest/fine"] == written + [0.0] and written.count(-0.3) >= len(sampled) - 1


def test_a_stop_string_keeps_the_tokens_that_wrote_the_program(tok):
    import torch

    from rltf.actor import Actor
    from rltf.config import ActorSettings, EmbeddedSettings, ModelSettings
    from rltf.embedded import build_model
    from rltf.policy import prepared

    policy = prepared(build_model(tok, EmbeddedSettings(layers=1, width=32, heads=2), seed=0), tok, ModelSettings(),
                      torch.device("cpu"))
    ids = tok("    return y\ndef g():\n    pass\n", add_special_tokens=False)["input_ids"]
    actor = Actor(policy, ActorSettings(stop=["\ndef"]), seed=0)
    roll = actor._rollout(PROBLEM_P, [1], ids, ended=True, greedy=False)
    assert roll.text == "    return y" and not roll.ended and not roll.truncated
    assert policy.decode(roll.completion_ids).startswith("    return y")
    assert "def" not in policy.decode(roll.completion_ids)
    cut = actor._rollout(PROBLEM_P, [1], ids, ended=False, greedy=False)
    assert Actor(policy, ActorSettings(), seed=0)._rollout(PROBLEM_P, [1], ids, ended=False, greedy=False).truncated
    assert not cut.truncated  # the stop string ended it


def test_an_actor_sample_depends_only_on_the_seed_the_task_the_draw_and_its_index(tok):
    """The same problem sampled alone, beside others, in batches of 1 or 64, gives the same
    programs; another draw (step) or run seed gives others; torch's generator is not touched."""
    import torch

    from rltf.actor import Actor
    from rltf.config import ActorSettings, EmbeddedSettings, ModelSettings
    from rltf.embedded import build_model
    from rltf.policy import prepared

    policy = prepared(build_model(tok, EmbeddedSettings(layers=1, width=32, heads=2), seed=0), tok, ModelSettings(),
                      torch.device("cpu"))
    others = [Problem(f"q{i}", f"triple {i}", AssertTests(("assert triple(1) == 3",))) for i in range(3)]

    def texts(problems, draw=3, seed=7, batch=64):
        rolls = Actor(policy, ActorSettings(samples_per_problem=3, generation_batch=batch), seed).rollouts(problems, draw)
        return [r.completion_ids for r in rolls if r.problem_id == PROBLEM_P.task_id]

    state = torch.get_rng_state()
    alone = texts([PROBLEM_P])
    assert texts([*others, PROBLEM_P]) == alone and texts([PROBLEM_P, *others], batch=1) == alone
    assert torch.equal(torch.get_rng_state(), state)
    assert len({tuple(ids) for ids in alone}) > 1  # three samples, not one repeated
    assert texts([PROBLEM_P], draw=4) != alone and texts([PROBLEM_P], seed=8) != alone
