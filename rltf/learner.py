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
        for batch in self._my_batches(sequences):
            if not batch:
                self._idle_pass()
                continue
            with self.autocast():
                logps = self.policy.completion_logprobs(batch)
                loss = -torch.cat(logps).sum() / tokens
            self.scaler.scale(loss).backward()
            total += loss.item()
        return total

    def _backward_rl(self, examples: Sequence[Example]) -> dict[str, float]:
        """Each term's loss is reported unweighted; the backward pass uses the weighted sum."""
        totals: dict[str, torch.Tensor] = {}  # summed on the device: no host sync per row
        device = self.policy.device
        rows = sum(1.0 / e.share for e in examples)
        for batch in self._my_batches(examples):
            if not batch:
                self._idle_pass()
                continue
            with self.autocast():
                logps = self.policy.completion_logprobs(
                    [TokenSequence(e.prompt_ids, e.completion_ids) for e in batch])
                loss = torch.zeros((), device=device)
                for example, logp in zip(batch, logps):
                    for key, weights in example.terms.items():
                        w = torch.tensor(weights, device=device, dtype=logp.dtype)
                        term = -(w * logp).sum() / (len(weights) * rows)
                        loss = loss + self.term_weights.get(key, 1.0) * term
                        totals[f"loss/{key}"] = totals.get(f"loss/{key}", 0.0) + term.detach().double()
            self.scaler.scale(loss).backward()
        return {key: float(total) for key, total in totals.items()}

    def _my_batches(self, items: Sequence[Any]) -> list[Sequence[Any]]:
        """This rank's micro-batches; empty ones after them where the strategy runs ranks in lockstep."""
        batches = micro_batches(self.world.deal(items, _length), self.opt.micro_batch_size, self.opt.pass_cost_tokens)
        return batches + [[]] * (self.strategy.passes(len(batches)) - len(batches))

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


def micro_batches(items: Sequence[Any], size: int, pass_cost_tokens: int) -> list[Sequence[Any]]:
    """Micro-batches of at most ``size`` sequences that waste little compute on padding.

    Sorted by length, the sequences are cut where the padding a cut saves is worth more
    than one more forward/backward pass (``pass_cost_tokens`` padded tokens): the cuts
    minimise padded tokens plus passes, by dynamic programming over the sorted order.
    Fixed-size chunks pad 32 rows of 28-70 tokens to the longest and cost the embedded
    model 18% more time per update.
    """
    ordered = sorted(items, key=_length)
    lengths = [_length(item) for item in ordered]
    cost = [0.0] + [math.inf] * len(ordered)
    start_of = [0] * (len(ordered) + 1)
    for end in range(1, len(ordered) + 1):
        for start in range(max(0, end - size), end):
            candidate = cost[start] + pass_cost_tokens + (end - start) * lengths[end - 1]
            if candidate < cost[end]:
                cost[end], start_of[end] = candidate, start
    chunks, end = [], len(ordered)
    while end:
        chunks.append(ordered[start_of[end]:end])
        end = start_of[end]
    return chunks[::-1]
