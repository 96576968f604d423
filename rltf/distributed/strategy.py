"""How the ranks hold the model: whole on every rank (``ddp``) or sharded across them (``fsdp``).

The trainer and the learner ask a strategy for the few things that differ: preparing the
model, making the gradients the sum over ranks, running the same number of passes on every
rank, the weights whole while generating, and state dicts for checkpoints and the final
model. In one process the ``ddp`` strategy does nothing at all.

``fsdp`` is FSDP2 (``torch.distributed.fsdp.fully_shard``) on each transformer block (the
model's ``_no_split_modules``) and on the root: weights, gradients and optimizer state are
sharded, so each rank holds 1/N of the training state. Its collectives run inside the
forward and backward passes, hence two rules: every rank runs as many passes as the busiest
(the others add passes of zero weight), and generation, whose length differs per rank, runs
on weights gathered whole for its duration (``full_weights``: the weights alone, not the
optimizer state, have to fit on one device). Checkpoints hold full state dicts gathered to
rank 0 (``torch.distributed.checkpoint.state_dict``), so they load on any number of ranks.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, ContextManager, Iterator

import torch

from rltf.distributed.world import World


class Replicated:
    """``ddp``: every rank holds the whole model; gradients are summed once after each pass."""

    name = "ddp"
    lockstep = False  # whether every rank must make the same forward calls (sharded weights gather in them)

    def __init__(self, world: World):
        self.world = world

    def prepare(self, model: torch.nn.Module) -> None:
        self.world.broadcast_weights(model)

    def sum_gradients(self, params: list[torch.nn.Parameter]) -> None:
        self.world.sum_gradients(params)

    def passes(self, mine: int) -> int:
        """Passes this rank runs: its own (replicas need no lockstep)."""
        return mine

    def full_weights(self, model: torch.nn.Module) -> ContextManager[None]:
        return nullcontext()

    def model_state(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """All weights, or only the adapters' under LoRA (the frozen base reloads from its name)."""
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        state = model.state_dict()
        if len(trainable) == len(list(model.parameters())):
            return {k: v.detach().clone() for k, v in state.items()}
        return {k: v.detach().clone() for k, v in state.items() if k in trainable}

    def load_model_state(self, model: torch.nn.Module, state: dict[str, torch.Tensor], strict: bool) -> None:
        model.load_state_dict(state, strict=strict)

    def optimizer_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        return optimizer.state_dict()

    def load_optimizer_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                             state: dict[str, Any]) -> None:
        optimizer.load_state_dict(state)

    def final_state(self, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
        """The state ``save_pretrained`` writes; None: the model's own."""
        return None


class Sharded(Replicated):
    """``fsdp``: FSDP2 shards of weights, gradients and optimizer state (see the module's docstring)."""

    name = "fsdp"
    lockstep = True

    def prepare(self, model: torch.nn.Module) -> None:
        from torch.distributed.fsdp import FSDPModule, fully_shard

        self.world.broadcast_weights(model)
        blocks = set(getattr(model, "_no_split_modules", None) or [])
        for module in list(model.modules()):
            if module is not model and type(module).__name__ in blocks:
                fully_shard(module)
        fully_shard(model)
        for module in model.modules():
            if isinstance(module, FSDPModule):
                module.set_gradient_divide_factor(1.0)  # a sum over ranks, as the losses are normalised for
                module.set_force_sum_reduction_for_comms(True)  # gloo has no pre-multiplied sum

    def sum_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Already done: the backward pass reduce-scatters each block's gradients."""

    def passes(self, mine: int) -> int:
        """Passes this rank runs: the busiest rank's (the collectives in a pass need every rank)."""
        return int(max(self.world.gather(mine, "counting passes")))

    @contextmanager
    def full_weights(self, model: torch.nn.Module) -> Iterator[None]:
        from torch.distributed.fsdp import FSDPModule

        modules = [m for m in model.modules() if isinstance(m, FSDPModule)]
        for module in modules:
            module.unshard()
            module.set_reshard_after_forward(False)
        try:
            yield
        finally:
            for module in modules:
                module.reshard()
                module.set_reshard_after_forward(True)

    def _options(self, **extra: bool) -> Any:
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, cpu_offload=True, **extra)

    def model_state(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        frozen = any(not p.requires_grad for p in model.parameters())
        return get_model_state_dict(model, options=self._options(ignore_frozen_params=frozen))

    def load_model_state(self, model: torch.nn.Module, state: dict[str, torch.Tensor], strict: bool) -> None:
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        set_model_state_dict(model, state, options=self._options(broadcast_from_rank0=True, strict=strict))

    def optimizer_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(model, optimizer, options=self._options())

    def load_optimizer_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                             state: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=self._options(broadcast_from_rank0=True))

    def final_state(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return self.model_state(model)


def strategy_for(name: str, world: World) -> Replicated:
    """One process needs no sharding: ``fsdp`` on one rank is ``ddp``, which does nothing there."""
    return Sharded(world) if name == "fsdp" and world.size > 1 else Replicated(world)
