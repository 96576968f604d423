"""Shards of one benchmark run (``--shard K/N``, or torchrun's ranks) joined into one run.

The merged folder is a run like any other (``compare`` and ``rltf eval`` read it), and its
numbers equal an unsharded run's: samples depend only on (seed, task, sample index), and
the summary only on the judged rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rltf.bench import folder as bench_folder
from rltf.bench.folder import RESULTS, SAMPLES, SUMMARY, BenchHeader
from rltf.errors import RltfError
from rltf.outputs import write_text

# Settings a shard may have of its own: where it ran and how fast, not what it sampled.
PER_SHARD = ("shard", "out", "batch_size", "device", "workers")


def merge_runs(shards: Sequence[Path], out: Path, *, shards_inside: bool = False) -> dict[str, Any]:
    """Check the shards make one whole run, then write it to ``out`` (new or empty; with
    ``shards_inside``, ``out`` may already hold the shards' own ``shards/`` folder)."""
    from rltf.bench.report import write_report
    from rltf.bench.run import summary_of

    headers = [_finished(shard) for shard in shards]
    _check_whole(shards, headers)
    first = headers[0]
    settings = {**first.settings, "shard": [0, 1], "out": str(out)}
    header = BenchHeader(first.benchmark, first.model, settings, first.selection, first.selection,
                         first.difficulties, (0, 1))
    if shards_inside:
        _check_out(out)
        _create_beside_shards(out, header)
    else:
        bench_folder.create(out, header)
    samples = [row for shard in shards for row in bench_folder.read_rows(shard / SAMPLES)]
    results = [row for shard in shards for row in bench_folder.read_rows(shard / RESULTS)]
    bench_folder.write_rows(out / SAMPLES, bench_folder.ordered(samples, header.tasks))
    results = bench_folder.ordered(results, header.tasks)
    bench_folder.write_rows(out / RESULTS, results)
    summary = summary_of(header, results)
    write_report(summary, out)
    write_text(out / SUMMARY, bench_folder.json_text(summary))
    return summary


def _finished(shard: Path) -> BenchHeader:
    header = bench_folder.read_header(shard, "merge:")
    if not (shard / SUMMARY).is_file():
        raise RltfError(f"merge: {shard} is unfinished; finish it first with: "
                        f"rltf bench {header.benchmark} --resume {shard}")
    return header


def _check_whole(shards: Sequence[Path], headers: Sequence[BenchHeader]) -> None:
    first = headers[0]
    count = first.shard[1]
    for shard, header in zip(shards, headers):
        differing = sorted(key for key in set(first.settings) | set(header.settings)
                           if key not in PER_SHARD and first.settings.get(key) != header.settings.get(key))
        if differing or header.selection != first.selection:
            what = f"setting {differing[0]!r}" if differing else "the problem selection"
            raise RltfError(f"merge: {shard} and {shards[0]} differ in {what}; shards of one run share everything "
                            "but the shard")
        if header.shard[1] != count:
            raise RltfError(f"merge: {shard} is shard {header.shard[0]}/{header.shard[1]}, "
                            f"{shards[0]} one of {count}")
    have = sorted(header.shard[0] for header in headers)
    if have != list(range(count)):
        missing = sorted(set(range(count)) - set(have))
        repeated = sorted({k for k in have if have.count(k) > 1})
        problem = f"shard {repeated[0]}/{count} is given twice" if repeated else f"shard {missing[0]}/{count} is missing"
        raise RltfError(f"merge: {problem}; give each of the {count} shards once")


def _check_out(out: Path) -> None:
    """Under torchrun the merged run shares its folder with the ranks' shards/ and nothing else."""
    extra = sorted(child.name for child in out.iterdir() if child.name != "shards") if out.is_dir() else []
    if extra:
        raise RltfError(f"--out {out} already holds {extra[0]}; the merged run needs a folder of its own")


def _create_beside_shards(out: Path, header: BenchHeader) -> None:
    from rltf.run_folder import create_exclusively

    create_exclusively(out, bench_folder.BENCH, header.to_json(), "--out")

