"""The ranks of a data-parallel run, and the few collectives rltf needs.

torchrun (or any launcher that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``) starts one process per rank. A
single process is a ``World`` of size 1 whose collectives hand back their input without
touching torch.distributed, so the trainer has one code path and a plain ``rltf train`` runs
exactly as it always did.

What crosses ranks: judged samples (token ids, verdicts, rewards: kilobytes per step),
gathered so that every rank holds the same buffer; gradients, summed; held-out verdicts,
gathered; and nothing else. Weights are broadcast once from rank 0 at the start; after that,
the same summed gradient applied by the same optimizer keeps the replicas equal.

A rank that dies makes the next collective of the others fail (gloo: the connection closes;
nccl: the collective times out after ``distributed.timeout_s``): they stop with one line
that names themselves and the collective, and the run resumes from its newest checkpoint.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Sequence, TypeVar

import torch

from rltf.errors import RltfError

T = TypeVar("T")
BUCKET_BYTES = 64 * 2**20  # gradients are summed in flat buckets: one collective per bucket, not per tensor


class RankLost(RltfError):
    """A collective failed: another rank died or stopped answering."""


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where collectives' tensors live
    collective_s: float = field(default=0.0, compare=False)  # time spent in collectives, waits included

    @property
    def main(self) -> bool:
        """Rank 0 writes the run folder, shows progress and runs the providers' observe hooks."""
        return self.rank == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's contiguous block of ``items``; the blocks in rank order are ``items``."""
        n = len(items)
        return list(items[self.rank * n // self.size:(self.rank + 1) * n // self.size])

    def deal(self, items: Sequence[T], size_of: Callable[[T], int]) -> list[T]:
        """This rank's part of a batch to learn from: dealt in order of size, so ranks get equal work."""
        if self.size == 1:
            return list(items)
        return sorted(items, key=size_of)[self.rank::self.size]

    def gather(self, value: T, what: str) -> list[T]:
        """Every rank's ``value``, in rank order, on every rank (pickled: keep it small)."""
        if self.size == 1:
            return [value]
        out: list[Any] = [None] * self.size
        self._collective(what, lambda: torch.distributed.all_gather_object(out, value))
        return out

    def joined(self, part: list[T], what: str) -> list[T]:
        """The ranks' ``share``s put back together."""
        return [item for piece in self.gather(part, what) for item in piece]

    def agree(self, check: Callable[[], None], what: str) -> None:
        """Run ``check`` on rank 0 alone; if it fails, every rank fails with its message (rank 0
        alone looks at the run folder, so the others do not race it for the same verdict)."""
        problem = None
        if self.main:
            try:
                check()
            except RltfError as error:
                problem = str(error)
        if self.size > 1:
            box = [problem]
            self._collective(what, lambda: torch.distributed.broadcast_object_list(box, src=0))
            problem = box[0]
        if problem is not None:
            raise RltfError(problem)

    def barrier(self, what: str) -> None:
        if self.size > 1:
            self._collective(what, torch.distributed.barrier)

    def broadcast_weights(self, module: torch.nn.Module) -> None:
        """Rank 0's weights on every rank: the start is the same even where an initialiser is not."""
        if self.size == 1:
            return
        for tensors in _buckets([t for t in module.state_dict().values() if t.is_floating_point()]):
            flat = torch.cat([t.reshape(-1) for t in tensors])
            self._collective("broadcasting the weights", lambda: torch.distributed.broadcast(flat, src=0))
            _unflatten_into(flat, tensors)

    def sum_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Each parameter's ``.grad`` summed over ranks (None where no rank had one)."""
        if self.size == 1:
            return
        present = torch.tensor([float(p.grad is not None) for p in params], device=self.device)
        self._collective("summing gradients", lambda: torch.distributed.all_reduce(present))
        for p, had in zip(params, present.tolist()):
            if p.grad is None and had:
                p.grad = torch.zeros_like(p)
        for grads in _buckets([p.grad for p in params if p.grad is not None]):
            flat = torch.cat([g.reshape(-1) for g in grads])
            self._collective("summing gradients", lambda: torch.distributed.all_reduce(flat))
            _unflatten_into(flat, grads)

    def sum_values(self, values: dict[str, float]) -> dict[str, float]:
        """Sums over ranks of per-rank numbers (partial losses), keyed alike on every rank."""
        if self.size == 1:
            return values
        keys = sorted({key for part in self.gather(sorted(values), "summing losses") for key in part})
        sums = torch.tensor([values.get(key, 0.0) for key in keys], dtype=torch.float64, device=self.device)
        self._collective("summing losses", lambda: torch.distributed.all_reduce(sums))
        return dict(zip(keys, sums.tolist()))

    def _collective(self, what: str, call: Callable[[], Any]) -> None:
        began = time.perf_counter()
        try:
            call()
        except (RuntimeError, ValueError) as error:  # DistBackendError and gloo's errors are RuntimeErrors
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            reason = re.sub(r"^\[[^\]]*\]\s*", "", first)[:160]  # gloo's source location first
            raise RankLost(f"rank {self.rank} of {self.size}: another rank stopped while {what} ({reason}); "
                           "the run resumes from its newest checkpoint with --resume") from None
        finally:
            self.collective_s += time.perf_counter() - began


def _buckets(tensors: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Consecutive tensors of one dtype and device, up to ``BUCKET_BYTES`` each."""
    out: list[list[torch.Tensor]] = []
    size = 0
    for t in tensors:
        nbytes = t.numel() * t.element_size()
        if not out or size + nbytes > BUCKET_BYTES or (t.dtype, t.device) != (out[-1][0].dtype, out[-1][0].device):
            out.append([])
            size = 0
        out[-1].append(t)
        size += nbytes
    return out


def _unflatten_into(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    offset = 0
    with torch.no_grad():
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


def join(backend: str, timeout_s: float, device: torch.device) -> World:
    """The world torchrun started this process in (size 1 without a launcher)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not torch.distributed.is_available():
        raise RltfError("WORLD_SIZE is set but this torch build has no torch.distributed")
    chosen = ("nccl" if device.type == "cuda" else "gloo") if backend == "auto" else backend
    if chosen == "nccl" and device.type != "cuda":
        raise RltfError(f"distributed.backend = 'nccl' needs CUDA devices (this rank runs on {device}); "
                        "use 'gloo' or 'auto'")
    options: dict[str, Any] = {}
    if chosen == "nccl":  # objects gathered over nccl travel through the current CUDA device
        torch.cuda.set_device(device)
        options["device_id"] = device
    torch.distributed.init_process_group(chosen, timeout=timedelta(seconds=timeout_s), **options)
    return World(rank=torch.distributed.get_rank(), size=torch.distributed.get_world_size(),
                 local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                 local_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
                 device=device if chosen == "nccl" else torch.device("cpu"))


def leave(world: World, destroy: bool = True) -> None:
    """``destroy = False`` leaves the group to the process's exit: after FSDP2 on gloo,
    ``destroy_process_group`` sometimes aborted the process ("terminate called without an
    active exception", seen in 1 of about 10 runs here) after the run had finished."""
    if destroy and world.size > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def rank_device(device: str) -> str:
    """``auto`` and ``cuda`` mean this process's own GPU (``cuda:LOCAL_RANK``) under a launcher."""
    if launched() and device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """Rank 0, or a process no launcher started: the one that prints a command's result."""
    return int(os.environ.get("RANK", "0")) == 0
