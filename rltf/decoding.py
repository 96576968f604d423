"""Sampling from a decoder-only model, each row leaving the batch as soon as it ends.

Hugging Face's ``generate`` keeps every row in the forward pass until the longest one
ends. RL batches are many short programs of uneven length (the embedded default's 64
completions average ~19 of at most 40 tokens), so most of its decode steps compute rows
that are already finished. Here a row that emits EOS leaves the batch and the KV cache.

The draw is the one ``generate`` makes (temperature, then nucleus filtering as
``TopPLogitsWarper`` does it, then one token from the softmax; greedy takes the argmax),
but by inverse CDF from one uniform per row: ``torch.multinomial`` spends an exponential
variate per vocabulary entry, which on a CPU costs more than a small model's forward.
Models whose cache cannot drop rows keep them, and still stop when all have ended.
A prompt repeated in the batch (one per sample of a problem) runs through the model once.

Reproducible samples: given ``seeds``, row i draws its uniforms from its own stream
(``random.Random(seeds[i])``, one draw per token), so a sample depends only on its seed
(``sample_seed(run seed, task, sample index)``), not on the batch it was generated in,
the batch's size or other rows, the shard or the resume point. What is left is
floating point: a different batch width can change a logit in its last bits, which
flips a draw only when it falls on a boundary between two tokens (see docs/bench.md).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Callable, Sequence

import torch

StopCheck = Callable[[list[int]], bool]


def sample_seed(seed: int, task_id: str, index: int) -> int:
    """The seed of sample ``index`` of a task: a hash, so neighbouring seeds share nothing."""
    digest = hashlib.sha256(f"{seed}\x00{task_id}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token counted from its row's first real token, as ``generate`` counts."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def next_tokens(logits: torch.Tensor, *, sample: bool, temperature: float, top_p: float,
                uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row from ``logits`` (rows x vocab); ``uniforms`` (rows x 1, in [0, 1)) are the
    rows' draws, taken from torch's generator when not given."""
    if not sample:
        return logits.argmax(-1)
    probs = torch.softmax(nucleus(logits.float() / temperature, top_p), -1)
    cumulative = probs.cumsum(-1)
    if uniforms is None:
        uniforms = torch.rand(len(probs), 1, device=probs.device)
    draw = uniforms.to(cumulative) * cumulative[:, -1:]
    chosen = torch.searchsorted(cumulative, draw, right=True).squeeze(1)
    # Rounding can put the draw at the very top: take the last token that has probability.
    return torch.minimum(chosen, cumulative.argmax(-1))


def nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """The smallest set of most likely tokens whose probability reaches ``top_p``; the rest get -inf."""
    if top_p >= 1.0:
        return logits
    ordered, order = torch.sort(logits, descending=False)
    dropped = ordered.softmax(-1).cumsum(-1) <= 1 - top_p
    dropped[..., -1:] = False
    return logits.masked_fill(dropped.scatter(-1, order, dropped), float("-inf"))


@torch.no_grad()
def sample_completions(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, eos_id: int,
                       max_new_tokens: int, sample: bool, temperature: float = 1.0, top_p: float = 1.0,
                       seeds: Sequence[int] | None = None,
                       stopped: StopCheck | None = None) -> list[tuple[list[int], bool]]:
    """Each row's new tokens (EOS not included) and whether it ended with EOS.

    ``input_ids`` are left-padded; positions count from each row's first real token, as
    ``generate`` counts them and as the learner scores them. ``seeds`` gives each row its
    own stream of draws; ``stopped(tokens)`` ends a row early (a stop string was written),
    which saves the tokens a caller would cut off anyway.
    """
    streams = [random.Random(seed) for seed in seeds] if seeds is not None and sample else None
    mask = attention_mask
    place = positions(mask)
    cache, logits, droppable = _prefill(model, input_ids, mask, place)
    place = place[:, -1:]
    rows = torch.arange(len(input_ids), device=input_ids.device)
    completions: list[list[int]] = [[] for _ in range(len(input_ids))]
    ended = [False] * len(input_ids)
    halted = [False] * len(input_ids)
    for step in range(max_new_tokens):
        uniforms = None
        if streams is not None:
            uniforms = torch.tensor([[streams[row].random()] for row in rows.tolist()], dtype=torch.float64)
        chosen = next_tokens(logits, sample=sample, temperature=temperature, top_p=top_p, uniforms=uniforms)
        going = chosen != eos_id
        for index, (row, token, goes) in enumerate(zip(rows.tolist(), chosen.tolist(), going.tolist())):
            if ended[row] or halted[row]:
                continue
            if goes:
                completions[row].append(token)
                halted[row] = stopped is not None and stopped(completions[row])
            else:
                ended[row] = True
            if ended[row] or halted[row]:
                going[index] = False
        if step == max_new_tokens - 1 or all(e or h for e, h in zip(ended, halted)):
            break
        if droppable and not going.all():
            keep = going.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, chosen, mask, place = rows[keep], chosen[keep], mask[keep], place[keep]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], 1)
        place = place + 1
        out = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=place, cache=cache, use_cache=True)
        cache, logits = out.cache, out.logits[:, -1]
    return list(zip(completions, ended))


def _prefill(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, place: torch.Tensor) -> tuple[Any, torch.Tensor, bool]:
    """The prompts' KV cache and next-token logits, and whether the cache can drop rows.

    A batch holds each problem's prompt once per sample (4 times by default): the distinct
    prompts run once and their cache is expanded to the rows, a quarter of the prompt
    compute. A cache that cannot select rows makes every row run its prompt.
    """
    distinct, owner = torch.unique(torch.cat([input_ids, mask], 1), dim=0, return_inverse=True)
    if len(distinct) < len(input_ids):
        width = input_ids.shape[1]
        ids, distinct_mask = distinct[:, :width], distinct[:, width:]
        out = model(input_ids=ids, attention_mask=distinct_mask, position_ids=positions(distinct_mask), use_cache=True)
        if hasattr(out.cache, "batch_select_indices"):
            out.cache.batch_select_indices(owner)
            return out.cache, out.logits[owner, -1], True
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=place, use_cache=True)
    return out.cache, out.logits[:, -1], hasattr(out.cache, "batch_select_indices")
