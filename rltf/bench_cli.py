"""``rltf bench``: options in, ``rltf.bench`` out. One command per benchmark, plus compare and merge.

Every option defaults to "not given" here and gets its default in ``BenchOptions``, so
``--resume DIR`` can refuse the options that would change what a resumed run samples.
"""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console

from rltf.bench.run import BENCHMARKS, RESUME_OVERRIDES, BenchOptions
from rltf.errors import RltfError
from rltf.judge.pool import LIMIT_RANGES

bench_app = typer.Typer(help="Benchmark a model: generate, judge and tabulate pass@k as the RLTF paper does.",
                        no_args_is_help=True)

HELP = {
    "apps": "APPS (test split by default): the paper's benchmark, per difficulty.",
    "mbpp": "MBPP (test ids 11-510 by default), zero-shot with the tests in the prompt.",
    "humaneval": "HumanEval: the model continues each prompt.",
    "builtin": "rltf's built-in held-out problems (of the run given as --model, or the default suite).",
}


def parse_list(text: Optional[str], option: str) -> tuple[str, ...]:
    if text is None:
        return ()
    items = tuple(part.strip() for part in text.split(","))
    if not all(items):
        raise typer.BadParameter(f"expected comma-separated names, got {text!r}", param_hint=f"'{option}'")
    return items


def parse_shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    if text is None:
        return None
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(count) >= 1):
        raise typer.BadParameter(f"expected K/N such as 0/4 (shards count from 0), got {text!r}", param_hint="'--shard'")
    return int(index), int(count)


def make_command(benchmark: str) -> Callable[..., None]:
    def command(
        model: Optional[str] = typer.Option(None, "--model", help="Hub name, model folder, LoRA adapter folder or rltf "
                                                                  "run folder; default: the newest run under ./runs."),
        data_path: Optional[Path] = typer.Option(None, "--data-path", help="Local copy of the benchmark."),
        split: Optional[str] = typer.Option(None, "--split", help="Dataset split; default: the test split."),
        difficulty: Optional[str] = typer.Option(None, "--difficulty", metavar="LEVEL[,LEVEL...]",
                                                 help="APPS levels: introductory, interview, competition."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="The first N problems only."),
        tasks: Optional[str] = typer.Option(None, "--tasks", metavar="ID[,ID...]", help="These problems only."),
        n: Optional[int] = typer.Option(None, "--n", "--samples", min=1, max=100_000,
                                        help="Samples per problem (default 20); --samples under torchrun."),
        k: Optional[str] = typer.Option(None, "--k", help="pass@k to report (default 1,5,10)."),
        temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, max=100.0,
                                                    help="Sampling temperature; 0 is greedy (default 0.6)."),
        top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0,
                                              help="Nucleus sampling (default 0.95)."),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, max=1_000_000,
                                                     help="Tokens per completion (default 512; builtin: the run's)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, max=65_536,
                                                 help="Samples generated at once (default 32)."),
        prompt_template: Optional[Path] = typer.Option(None, "--prompt-template", dir_okay=False, metavar="FILE.toml",
                                                       help="Template file (see docs/bench.md); default: bundled."),
        chat: Optional[bool] = typer.Option(None, "--chat", help="Apply the tokenizer's chat template; take the "
                                                                 "program from the reply's code block."),
        seed: Optional[int] = typer.Option(None, "--seed", min=0, max=2**32 - 1, help="Sampling seed (default 0)."),
        device: Optional[str] = typer.Option(None, "--device", help="auto (default), cpu, cuda, cuda:1..."),
        timeout: Optional[float] = typer.Option(None, "--timeout", min=LIMIT_RANGES["timeout_s"][0],
                                                max=LIMIT_RANGES["timeout_s"][1],
                                                help="Seconds per program (default 10)."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, max=int(LIMIT_RANGES["workers"][1]),
                                              help="Programs judged at once; default: two per core."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder; default: bench/<benchmark>-<date-time>."),
        resume: Optional[Path] = typer.Option(None, "--resume", metavar="DIR", file_okay=False,
                                              help="Continue a killed benchmark run; makes only what is missing."),
        shard: Optional[str] = typer.Option(None, "--shard", metavar="K/N", help="Every N-th problem from the K-th "
                                                                                  "(K counts from 0)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars and no table."),
    ) -> None:
        from rltf.distributed.bench import bench_command_run

        given = {"model": model, "data_path": _str(data_path), "split": split,
                 "difficulty": parse_list(difficulty, "--difficulty") or None, "limit": limit,
                 "tasks": parse_list(tasks, "--tasks") or None, "n": n, "ks": _ks(k), "temperature": temperature,
                 "top_p": top_p, "max_new_tokens": max_new_tokens, "batch_size": batch_size,
                 "template": _str(prompt_template), "chat": chat, "seed": seed, "device": device, "timeout": timeout,
                 "workers": workers, "out": _str(out), "shard": parse_shard(shard)}
        options = bench_options(benchmark, given, resume)
        bench_command_run(options, resume, quiet)

    command.__doc__ = HELP[benchmark]
    return command


def bench_options(benchmark: str, given: dict[str, Any], resume: Optional[Path]) -> BenchOptions:
    """The options given, over the defaults; with ``--resume``, only those that do not change the samples."""
    chosen = {name: value for name, value in given.items() if value is not None}
    if resume is not None:
        refused = sorted(set(chosen) - set(RESUME_OVERRIDES))
        if refused:
            raise RltfError(f"--resume takes its settings from {resume}/bench.json; only --batch-size, --device and "
                            f"--workers may be given with it, not --{refused[0].replace('_', '-')}")
    elif "out" not in chosen:
        chosen["out"] = str(Path("bench") / f"{benchmark}-{time.strftime('%Y%m%d-%H%M%S')}")
    known = {f.name for f in fields(BenchOptions)}
    return BenchOptions(benchmark=benchmark, **{k: v for k, v in chosen.items() if k in known})


def _ks(text: Optional[str]) -> Optional[tuple[int, ...]]:
    from rltf.cli import parse_ks

    return None if text is None else tuple(parse_ks(text))


def _str(path: Optional[Path]) -> Optional[str]:
    return None if path is None else str(path)


def compare_command(
    folders: List[Path] = typer.Argument(..., help="Benchmark folders; the first is the baseline.", file_okay=False),
    force: bool = typer.Option(False, "--force", help="Compare runs on different problems (on the common ones) "
                                                      "or with different settings."),
    out: Optional[Path] = typer.Option(None, "--out", dir_okay=False, help="Also write the comparison as markdown."),
    resamples: int = typer.Option(10_000, "--resamples", min=100, max=1_000_000, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", min=0, help="Bootstrap seed."),
) -> None:
    """Runs side by side: pass@1 differences with paired bootstrap 95% intervals, and what each alone solves."""
    from rltf.bench.compare import compare_runs, comparison_markdown, comparison_table
    from rltf.outputs import check_outputs, write_text

    check_outputs({"--out": out})
    comparison = compare_runs(folders, force=force, resamples=resamples, seed=seed)
    tables = comparison_table(comparison)
    for table in tables if isinstance(tables, list) else [tables]:
        Console().print(table)
    if out is not None:
        write_text(out, comparison_markdown(comparison))


def merge_command(
    shards: List[Path] = typer.Argument(..., help="Finished shard folders of one benchmark run.", file_okay=False),
    out: Path = typer.Option(..., "--out", help="The merged run's folder (new or empty)."),
    quiet: bool = typer.Option(False, "--quiet", help="No table."),
) -> None:
    """Join shard runs (--shard K/N) into one run whose summary equals an unsharded run's."""
    from rltf.bench.merge import merge_runs
    from rltf.bench.report import summary_table

    summary = merge_runs(shards, out)
    if not quiet:
        Console().print(summary_table(summary))


def register(user_errors: Callable[[Callable[..., Any]], Callable[..., Any]]) -> typer.Typer:
    for benchmark in BENCHMARKS:
        bench_app.command(benchmark, help=HELP[benchmark])(user_errors(make_command(benchmark)))
    bench_app.command("compare")(user_errors(compare_command))
    bench_app.command("merge")(user_errors(merge_command))
    return bench_app
