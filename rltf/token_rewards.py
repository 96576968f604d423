"""From rewards on program text to weights on completion tokens: what the learner trains on.

Providers speak in characters of the judged program (``rltf.feedback.Reward``); the learner
needs one weight per generated token and loss term. The learner trains on the token ids the
actor sampled, not on a re-tokenization of their text: tokenizers that do not round-trip
(SentencePiece's leading space, merges that differ at the prompt boundary) would otherwise
score a sequence the model never produced. Each sampled token's character range comes from
decoding (``token_offsets``), so a span finds its tokens in linear time, and characters
before the completion (the prompt a program continues) cover no token: prompts never get
reward.

Loss terms are keyed ``provider/kind``. A sample's term for a whole-program reward is its
advantage (value minus the baseline's value of the same key, RLTF's coarse and adaptive
terms) on every token; a span reward is its value on the span's tokens, times
``T / span tokens`` when the reward asks to be rescaled (RLTF's alpha). The learner
averages each term over the sample's T tokens, so a whole-program reward and a rescaled
span weigh alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from rltf.feedback import Reward


@dataclass(frozen=True)
class Rollout:
    """One completion the actor generated; ``greedy`` marks a problem's baseline program.

    ``completion_ids`` are the sampled tokens that make up ``text`` (cut where a stop string
    began), EOS not included; ``ended``: the model wrote EOS; ``truncated``: neither EOS nor a
    stop string ended it, ``max_new_tokens`` did (the method counts such a program as cut off).
    """

    problem_id: str
    prompt_ids: list[int]
    text: str
    completion_ids: list[int]
    ended: bool
    truncated: bool
    greedy: bool
    policy_step: int


@dataclass
class Example:
    """A sequence with per-token weights for each loss term (RL) or none (supervised)."""

    prompt_ids: list[int]
    completion_ids: list[int]
    terms: dict[str, list[float]] = field(default_factory=dict)
    policy_step: int = 0
    uses: int = 0
    share: float = 1.0  # of its step's examples, the part kept after zero-advantage rows were skipped

    def to_dict(self) -> dict[str, Any]:
        return {"prompt_ids": self.prompt_ids, "completion_ids": self.completion_ids, "terms": self.terms,
                "policy_step": self.policy_step, "uses": self.uses, "share": self.share}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Example":
        return cls(**data)


Offsets = Callable[[list[int]], list[tuple[int, int]]]
Decode = Callable[[list[int]], str]
OFFSET_WINDOW = 8


def term_key(reward: Reward) -> str:
    return f"{reward.provider}/{reward.kind}"


def program_scores(rewards: Sequence[Reward]) -> dict[str, float]:
    """Whole-program values that take a baseline, summed per key."""
    scores: dict[str, float] = defaultdict(float)
    for reward in rewards:
        if reward.whole_program and reward.baseline:
            scores[term_key(reward)] += reward.value
    return dict(scores)


def baselines(rollouts: Sequence[Rollout], rewards: Sequence[Sequence[Reward]], kind: str) -> dict[str, dict[str, float]]:
    """Per problem, the baseline value of each key: the greedy program's, or the samples' mean.

    A key a program did not receive counts as 0 for it, so a reward given only to some
    outcomes still compares like with like.
    """
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for rollout, given in zip(rollouts, rewards):
        if rollout.greedy == (kind == "greedy"):
            groups[rollout.problem_id].append(program_scores(given))
    out = {}
    for problem_id, scores in groups.items():
        keys = {key for score in scores for key in score}
        out[problem_id] = {key: sum(score.get(key, 0.0) for score in scores) / len(scores) for key in keys}
    return out


def token_offsets(ids: Sequence[int], decode: Decode) -> list[tuple[int, int]]:
    """Each token's character range in ``decode(ids)``.

    A token's length is what it adds to a short window of the tokens before it, decoded with
    and without it (same start, so a SentencePiece leading space is handled alike): two small
    decodes per token instead of a decode per prefix. A byte-level token that ends inside a
    multi-byte character decodes to a placeholder; when the lengths do not add up to the
    whole text that way, the prefixes are decoded one by one instead.
    """
    lengths = []
    for i in range(len(ids)):
        start = max(0, i - OFFSET_WINDOW)
        lengths.append(len(decode(list(ids[start:i + 1]))) - len(decode(list(ids[start:i]))))
    if min(lengths, default=0) < 0 or sum(lengths) != len(decode(list(ids))):
        return _prefix_offsets(ids, decode)
    spans, position = [], 0
    for length in lengths:
        spans.append((position, position + length))
        position += length
    return spans


def _prefix_offsets(ids: Sequence[int], decode: Decode) -> list[tuple[int, int]]:
    """Exact but quadratic: a token ends where the text of the prefix it closes ends (a prefix
    that is not yet a prefix of the whole text, mid-character, adds nothing)."""
    whole = decode(list(ids))
    spans, position = [], 0
    for i in range(len(ids)):
        text = decode(list(ids[:i + 1]))
        end = len(text) if whole.startswith(text) and len(text) >= position else position
        spans.append((position, end))
        position = end
    return spans


def to_examples(rollouts: Sequence[Rollout], rewards: Sequence[Sequence[Reward]], prefix_chars: Sequence[int],
                offsets_of: Offsets, eos_id: int, baseline: str) -> list[Example]:
    """One example per sampled (non-greedy) rollout, on the tokens it sampled, whatever its weights;
    callers drop all-zero ones. Offsets past the cut text (the token a stop string began in) are
    clamped to it."""
    base = baselines(rollouts, rewards, baseline)
    examples = []
    for rollout, given, prefix in zip(rollouts, rewards, prefix_chars):
        if rollout.greedy:
            continue
        ids, size = list(rollout.completion_ids), len(rollout.text)
        offsets = [(min(a, size), min(b, size)) for a, b in offsets_of(ids)]
        if rollout.ended:
            ids, offsets = ids + [eos_id], offsets + [(len(rollout.text), len(rollout.text))]
        examples.append(Example(list(rollout.prompt_ids), ids, token_terms(given, offsets, prefix,
                                                                           base.get(rollout.problem_id, {})),
                                rollout.policy_step))
    return examples


def token_terms(rewards: Sequence[Reward], offsets: Sequence[tuple[int, int]], prefix: int,
                baseline: dict[str, float]) -> dict[str, list[float]]:
    """Per-token weights of each key for one completion whose program starts ``prefix`` characters earlier."""
    n = len(offsets)
    terms: dict[str, list[float]] = {}

    def add(key: str, positions: range | list[int], value: float) -> None:
        weights = terms.setdefault(key, [0.0] * n)
        for t in positions:
            weights[t] += value

    for key, score in program_scores(rewards).items():
        add(key, range(n), score - baseline.get(key, 0.0))
    for reward in rewards:
        if reward.whole_program and not reward.baseline:
            add(term_key(reward), range(n), reward.value)
        elif not reward.whole_program:
            span = tokens_in(offsets, reward.start_char - prefix, reward.end_char - prefix)
            if span:
                scale = n / len(span) if reward.rescale else 1.0
                add(term_key(reward), span, reward.value * scale)
    return terms


def tokens_in(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Tokens whose characters overlap ``[start, end)``; an empty span covers no token."""
    if end <= max(start, 0):
        return []
    return [t for t, (a, b) in enumerate(offsets) if a < end and b > start and b > a]


def is_trainable(example: Example) -> bool:
    """An example whose every weight is zero adds nothing to the gradient: skipping it saves its compute."""
    return any(any(w != 0.0 for w in weights) for weights in example.terms.values())


def kept_examples(examples: Sequence[Example], skip_zero_advantage: bool) -> list[Example]:
    """The examples worth training on. Skipping is a saving of compute, not a change of loss: each
    kept example records the share of its step that was kept, and the learner counts it as
    ``1 / share`` rows, so a batch stands for the rows it was drawn from, skipped ones included."""
    if not skip_zero_advantage:
        return list(examples)
    kept = [e for e in examples if is_trainable(e)]
    for example in kept:
        example.share = len(kept) / len(examples)
    return kept
