"""``rltf bench`` under torchrun: each rank benchmarks its shard, rank 0 joins them.

torchrun sets ``RANK``/``WORLD_SIZE``; rank K runs shard K/N into ``DIR/shards/K-of-N``
on its own GPU (``cuda:LOCAL_RANK``), the ranks meet at one barrier, and rank 0 merges
the shards into ``DIR``. Ranks share nothing while they work, so N GPUs or N machines
bench in 1/N of the time, and the result equals a one-process run's.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from rltf.bench.folder import SUMMARY
from rltf.bench.run import BenchOptions, run_bench
from rltf.distributed.world import rank_device
from rltf.errors import RltfError

BARRIER_TIMEOUT = timedelta(days=7)  # ranks wait for the slowest shard; torchrun stops them if one dies


def bench_command_run(options: BenchOptions, resume: Path | None, quiet: bool) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        run_bench(options, resume=resume, quiet=quiet)
        return
    if options.shard != (0, 1) and resume is None:
        raise RltfError("--shard is set by torchrun (each rank benchmarks its own shard); leave it out")
    rank = int(os.environ["RANK"])
    out = Path(resume if resume is not None else options.out)
    mine = out / "shards" / f"{rank}-of-{world}"
    options = replace(options, device=rank_device(options.device))
    import torch.distributed as dist

    dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    try:
        if resume is None:
            run_bench(replace(options, shard=(rank, world), out=str(mine)), quiet=quiet or rank > 0)
        elif not (mine / SUMMARY).exists():
            run_bench(options, resume=mine, quiet=quiet or rank > 0)
        dist.barrier()
        if rank == 0:
            from rltf.bench.merge import merge_runs
            from rltf.bench.report import summary_table
            from rich.console import Console

            summary = merge_runs([out / "shards" / f"{k}-of-{world}" for k in range(world)], out, shards_inside=True)
            if not quiet:
                Console().print(summary_table(summary))
    finally:
        dist.destroy_process_group()

