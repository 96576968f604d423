"""The learner: one optimizer step from supervised sequences and RL examples.

Loss = sl_weight * L_sl + rl_weight * sum over terms of term_weight * L_term, where L_sl is
token-mean cross-entropy on reference solutions and each RL term is
-(1/T) * sum_t w_t * log p(w_t) per sample, averaged over the RL batch
(``rltf.token_rewards`` computes the w_t). The average counts each example as the
``1 / share`` rows it stands for (``kept_examples``): rows skipped for a zero advantage
add nothing to the sum but still count, so skipping them does not scale the step.

Why "balance": a policy-gradient gradient is often an order of magnitude larger than the
supervised one (9-16x measured on the embedded model), so a fixed weight either drowns
the supervised anchor or silences RL. With ``balance = "grad_norm"`` the supervised and
RL gradients are computed separately (they come from separate micro-batches anyway) and
the RL gradient is rescaled to the supervised gradient's norm before the weights apply.

Data parallel (``rltf.distributed``): every rank is given the whole batch, learns from its
part (``World.deal``), and the gradients are summed over ranks after each of the two
passes. The losses are normalised by the whole batch's rows and tokens, so the sum is the
one-process gradient up to the order of float additions, and the balance, the clipping
and the optimizer see the same numbers on every rank.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from rltf.distributed.strategy import Replicated
from rltf.distributed.world import World
from rltf.errors import RltfError
from rltf.policy import Policy, TokenSequence
from rltf.token_rewards import Example


@dataclass(frozen=True)
class Optimization:
    """What the optimizer needs; RL and SFT stages each build one from their settings."""

    lr: float
    weight_decay: float
    warmup_steps: int
    total_steps: int
    schedule: str = "constant"
    grad_clip: float = 1.0
    micro_batch_size: int = 32
    sl_weight: float = 1.0
    rl_weight: float = 1.0
    balance: str = "grad_norm"
    pass_cost_tokens: int = 128
    share_prompts: bool = True


class Learner:
    def __init__(self, policy: Policy, optimization: Optimization, term_weights: dict[str, float] | None = None,
                 autocast: Any = None, loss_scaling: bool = False, dropout: bool = True,
                 strategy: Replicated | None = None):
        self.policy, self.opt, self.dropout = policy, optimization, dropout
        self.strategy = strategy or Replicated(World())
        self.world = self.strategy.world
        self.term_weights = term_weights or {}
        self.autocast = autocast or nullcontext
        # fp16 gradients underflow without a loss scale; disabled, the scaler passes everything through.
        self.scaler = torch.amp.GradScaler(policy.device.type, enabled=loss_scaling)
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        # Sharing a prompt adds a forward call to a pass only where the batch repeats prompts,
        # and a sharded model's ranks must make the same calls.
        self.share_prompts = optimization.share_prompts and policy.shares_prompts and not self.strategy.lockstep
        if loss_scaling and any(p.dtype != torch.float32 for p in self.params):
            raise RltfError("run.precision = 'fp16' needs float32 trainable weights (a loss scale cannot be "
                            "removed from fp16 gradients): set model.dtype = 'float32', or train LoRA adapters")
        self.optimizer = torch.optim.AdamW(self.params, lr=optimization.lr, weight_decay=optimization.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.steps = 0

    def _lr_factor(self, step: int) -> float:
        opt = self.opt
        if step < opt.warmup_steps:
            return (step + 1) / opt.warmup_steps
        if opt.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - opt.warmup_steps) / max(1, opt.total_steps - opt.warmup_steps))
        if opt.schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def step(self, supervised: Sequence[TokenSequence], rl: Sequence[Example]) -> dict[str, float]:
        """One optimizer step; returns each loss term and the gradient norms that were balanced."""
        metrics: dict[str, float] = {"lr": self.scheduler.get_last_lr()[0]}
        self.policy.model.train(self.dropout)  # RL samples without dropout; its gradient must be of that policy
        self.optimizer.zero_grad(set_to_none=True)
        sl_grads = None
        began = time.perf_counter()
        if supervised:
            metrics["loss/sl"] = self._backward_supervised(supervised)
            self.strategy.sum_gradients(self.params)
            if rl:
                sl_grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in self.params]
                self.optimizer.zero_grad(set_to_none=True)
        supervised_done = time.perf_counter()
        if rl:
            metrics.update(self._backward_rl(rl))
            self.strategy.sum_gradients(self.params)
        metrics.update(self.world.sum_values({k: v for k, v in metrics.items() if k.startswith("loss/")}))
        metrics["learn_sl_s"] = supervised_done - began
        metrics["learn_rl_s"] = time.perf_counter() - supervised_done
        self._combine(sl_grads, bool(supervised), bool(rl), metrics)
        self.scaler.unscale_(self.optimizer)
        metrics["grad_norm"] = _float(torch.nn.utils.clip_grad_norm_(self.params, self.opt.grad_clip))
        if self.scaler.is_enabled():
            metrics["loss_scale"] = self.scaler.get_scale()
        self.scaler.step(self.optimizer)  # skipped when fp16 gradients overflowed
        self.scaler.update()
        self.scheduler.step()
        self.steps += 1
        return metrics

    def _combine(self, sl_grads: list[torch.Tensor] | None, has_sl: bool, has_rl: bool, metrics: dict[str, float]) -> None:
        """Leave in .grad the weighted sum of the supervised and RL gradients."""
        opt = self.opt
        if sl_grads is None:
            weight = opt.sl_weight if has_sl else opt.rl_weight
            for p in self.params:
                if p.grad is not None:
                    p.grad.mul_(weight)
            return
        unscale = 1.0 / self.scaler.get_scale()  # both gradients carry the loss scale; their ratio does not
        sl_norm = _norm(sl_grads) * unscale
        rl_norm = _norm([p.grad for p in self.params if p.grad is not None]) * unscale
        scale = opt.rl_weight * (sl_norm / rl_norm if opt.balance == "grad_norm" and rl_norm > 0 else 1.0)
        metrics.update({"grad_norm/sl": sl_norm, "grad_norm/rl": rl_norm, "rl_scale": scale})
        for p, g in zip(self.params, sl_grads):
            p.grad = g.mul_(opt.sl_weight) if p.grad is None else g.mul_(opt.sl_weight).add_(p.grad, alpha=scale)

    def _backward_supervised(self, sequences: Sequence[TokenSequence]) -> float:
        tokens = sum(len(s.completion_ids) for s in sequences)
        total = 0.0
        for batch, share in self._my_batches(sequences):
            if not batch:
                self._idle_pass()
                continue
            with self.autocast():
                logps = self.policy.completion_logprobs(batch, share)
                loss = -torch.cat(logps).sum() / tokens
            self.scaler.scale(loss).backward()
            total += loss.item()
        return total

    def _backward_rl(self, examples: Sequence[Example]) -> dict[str, float]:
        """Each term's loss is reported unweighted; the backward pass uses the weighted sum."""
        keys = sorted({key for e in examples for key in e.terms})
        term_weights = torch.tensor([self.term_weights.get(key, 1.0) for key in keys], device=self.policy.device)
        totals = torch.zeros(len(keys), dtype=torch.float64, device=self.policy.device)  # no host sync per pass
        rows = sum(1.0 / e.share for e in examples)
        for batch, share in self._my_batches(examples):
            if not batch:
                self._idle_pass()
                continue
            with self.autocast():
                logp = torch.cat(self.policy.completion_logprobs(
                    [TokenSequence(e.prompt_ids, e.completion_ids) for e in batch], share))
                terms = -(self._token_weights(batch, keys, rows, logp) * logp).sum(-1)  # one per term; not a matmul,
                # which autocast would round to half precision
                loss = (term_weights * terms).sum()
            self.scaler.scale(loss).backward()
            totals += terms.detach().double()
        return {f"loss/{key}": float(total) for key, total in zip(keys, totals)}

    def _token_weights(self, batch: Sequence[Example], keys: list[str], rows: float, logp: torch.Tensor) -> torch.Tensor:
        """A (terms x tokens) matrix: row k holds term k's weights w_t / (T * rows) on each sample's
        tokens and zero where a sample has no such term, so every term's loss is one product."""
        weights = [[0.0] * len(logp) for _ in keys]
        start = 0
        for example in batch:
            for key, values in example.terms.items():
                scale = 1.0 / (len(values) * rows)
                weights[keys.index(key)][start:start + len(values)] = [w * scale for w in values]
            start += len(example.completion_ids)
        return torch.tensor(weights, device=logp.device, dtype=logp.dtype)

    def _my_batches(self, items: Sequence[Any]) -> list[tuple[Sequence[Any], bool]]:
        """This rank's micro-batches, each with whether it shares prompts; empty ones after them
        where the strategy runs ranks in lockstep."""
        batches = micro_batches(self.world.deal(items, _length), self.opt.micro_batch_size, self.opt.pass_cost_tokens,
                                self.share_prompts)
        return batches + [([], False)] * (self.strategy.passes(len(batches)) - len(batches))

    def _idle_pass(self) -> None:
        """A forward and backward of weight zero: a sharded model's collectives need every rank."""
        eos = self.policy.eos_id
        with self.autocast():
            logp = self.policy.completion_logprobs([TokenSequence([eos], [eos])])[0]
        self.scaler.scale(logp.sum() * 0.0).backward()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.strategy.optimizer_state(self.policy.model, self.optimizer),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.strategy.load_optimizer_state(self.policy.model, self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.steps = state["steps"]


def _norm(tensors: Sequence[torch.Tensor]) -> float:
    return _float(torch.sqrt(sum((t.float() ** 2).sum() for t in tensors))) if tensors else 0.0


def _float(value: torch.Tensor) -> float:
    """A scalar, whole: a sharded model's norms are DTensors whose local part is a partial sum."""
    return float(value.full_tensor() if hasattr(value, "full_tensor") else value)


def _length(item: Any) -> int:
    return len(item.prompt_ids) + len(item.completion_ids)


def micro_batches(items: Sequence[Any], size: int, pass_cost_tokens: int,
                  share_prompts: bool = False) -> list[tuple[Sequence[Any], bool]]:
    """Micro-batches of at most ``size`` sequences that waste little compute, each with whether
    it runs its shared prompts once (``Policy.completion_logprobs``).

    Sorted by length, the sequences are cut where the padding a cut saves is worth more
    than one more forward/backward pass (``pass_cost_tokens`` padded tokens): the cuts
    minimise padded tokens plus passes, by dynamic programming over the sorted order.
    Fixed-size chunks pad 32 rows of 28-70 tokens to the longest and cost the embedded
    model 18% more time per update. With ``share_prompts``, the sequences of one prompt stay
    together (a group larger than ``size`` is split), and a micro-batch shares its prompts
    where that costs less: one forward of its distinct prompts and one of its completions,
    two passes, against one pass over every row whole.
    """
    units = _prompt_groups(items, size) if share_prompts else [[item] for item in items]
    units.sort(key=(lambda unit: (max(len(i.completion_ids) for i in unit), len(unit[0].prompt_ids)))
               if share_prompts else (lambda unit: _length(unit[0])))
    cost = [0.0] + [math.inf] * len(units)
    start_of = [0] * (len(units) + 1)
    for end in range(1, len(units) + 1):
        for start, candidate in _cut_costs(units, end, size, pass_cost_tokens, share_prompts):
            if cost[start] + candidate < cost[end]:
                cost[end], start_of[end] = cost[start] + candidate, start
    chunks, end = [], len(units)
    while end:
        chunk = units[start_of[end]:end]
        chunks.append(([item for unit in chunk for item in unit], _sharing_pays(chunk, pass_cost_tokens, share_prompts)))
        end = start_of[end]
    return chunks[::-1]


def _prompt_groups(items: Sequence[Any], size: int) -> list[list[Any]]:
    groups: dict[tuple[int, ...], list[Any]] = {}
    for item in items:
        groups.setdefault(tuple(item.prompt_ids), []).append(item)
    return [group[i:i + size] for group in groups.values() for i in range(0, len(group), size)]


def _cut_costs(units: list[list[Any]], end: int, size: int, pass_cost_tokens: int,
               share_prompts: bool) -> list[tuple[int, float]]:
    """(start, cost of the micro-batch units[start:end]) for every start that keeps it within
    ``size`` sequences, in increasing start (ties keep the earliest cut)."""
    costs = []
    rows = longest = prompt = completion = 0
    for start in range(end - 1, -1, -1):
        rows += len(units[start])
        if rows > size:
            break
        longest = max(longest, *(_length(i) for i in units[start]))
        prompt = max(prompt, len(units[start][0].prompt_ids))
        completion = max(completion, *(len(i.completion_ids) - 1 for i in units[start]))
        whole = pass_cost_tokens + rows * longest
        shared = _shared_cost(end - start, rows, prompt, completion, pass_cost_tokens) if share_prompts else whole
        costs.append((start, min(whole, shared)))
    return costs[::-1]


def _shared_cost(prompts: int, rows: int, prompt: int, completion: int, pass_cost_tokens: int) -> float:
    """Padded tokens of the distinct prompts' forward and the completions' (all but their last
    token's), and the two passes (one where no completion has a second token)."""
    return pass_cost_tokens * (2 if completion else 1) + prompts * prompt + rows * completion


def _sharing_pays(chunk: list[list[Any]], pass_cost_tokens: int, share_prompts: bool) -> bool:
    if not share_prompts:
        return False
    items = [item for unit in chunk for item in unit]
    shared = _shared_cost(len(chunk), len(items), max(len(i.prompt_ids) for i in items),
                          max(len(i.completion_ids) for i in items) - 1, pass_cost_tokens)
    return shared < pass_cost_tokens + len(items) * max(_length(i) for i in items)
