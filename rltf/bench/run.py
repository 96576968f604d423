"""``rltf bench``: a model in, the paper's table out.

    problems (benchmark, selection, shard) -> prompts (template file) -> policy.generate,
    each sample seeded by (seed, task, sample index) -> samples.jsonl
    -> judge, in a background thread, on the batch just generated while the next one is
    generated -> results.jsonl -> scores -> summary.json, report.md, plots

Generation is the trainer's own (``Policy.generate``: the same sampling, stop strings and
templates), so a model is measured exactly as it was trained. Every input is checked and
the model loaded before the folder is created; after that, every batch is on disk before
the next one starts, so a killed run loses one batch and ``--resume`` makes only what is
missing.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from rich.console import Console

from rltf.bench import folder as bench_folder
from rltf.bench.folder import RESULTS, SAMPLES, SUMMARY, TIMING, Appender, BenchHeader, Row
from rltf.evaluation.scores import SampleResult, summarize
from rltf.bench.selection import Selection, select_problems
from rltf.bench.template import PromptTemplate, check_chat, extract_program, load_template, prompt_hash
from rltf.errors import Interrupted, RltfError
from rltf.judge import Judge, JudgeConfig, JudgeResult, Submission
from rltf.outputs import write_text
from rltf.problems import Problem
from rltf.progress import progress_bars

BENCHMARKS = ("apps", "mbpp", "humaneval", "builtin")
PENDING_BATCHES = 2  # judged batches queued behind generation, so memory stays bounded


@dataclass(frozen=True)
class BenchOptions:
    """What ``rltf bench`` was asked; ``model = ""`` means the newest run folder under ./runs."""

    benchmark: str
    model: str = ""
    data_path: str = ""
    split: str = ""
    difficulty: tuple[str, ...] = ()
    limit: int = 0
    tasks: tuple[str, ...] = ()
    n: int = 20
    ks: tuple[int, ...] = (1, 5, 10)
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 0  # 0: the benchmark's default (512; a run's own for builtin)
    batch_size: int = 32
    template: str = ""  # a template file; "" the benchmark's bundled one
    chat: bool = False
    seed: int = 0
    device: str = "auto"
    timeout: float = 10.0
    memory_mb: int = 1024
    workers: int = 0
    out: str = ""
    shard: tuple[int, int] = (0, 1)


# What a resumed run may change: how fast it runs, never what it samples or how it is judged.
RESUME_OVERRIDES = ("batch_size", "device", "workers")


def run_bench(options: BenchOptions, *, resume: Path | None = None, console: Console | None = None,
              quiet: bool = False) -> dict[str, Any]:
    """Benchmark a model (or continue a killed benchmark run) and return its summary."""
    console = console or Console(stderr=True)
    header = bench_folder.check_resumable(resume) if resume is not None else None
    if header is not None:
        options = resumed_options(header, options)
    folder = Path(options.out)
    if header is None:
        bench_folder.check_new(folder)
    plan = prepare(options, header)
    if header is None:
        bench_folder.create(folder, plan.header)
    return Bench(plan, folder, console, quiet).run()


def resumed_options(header: BenchHeader, given: BenchOptions) -> BenchOptions:
    stored = {**header.settings, "difficulty": tuple(header.settings["difficulty"]),
              "tasks": tuple(header.settings["tasks"]), "ks": tuple(header.settings["ks"]),
              "shard": tuple(header.settings["shard"])}
    stored["template"] = stored["template_file"]
    options = BenchOptions(**{k: v for k, v in stored.items() if k in BenchOptions.__dataclass_fields__})
    return replace(options, **{name: getattr(given, name) for name in RESUME_OVERRIDES})


@dataclass
class Plan:
    """Everything checked and loaded before anything is written."""

    options: BenchOptions
    header: BenchHeader
    problems: dict[str, Problem]
    template: PromptTemplate
    policy: Any
    judge: JudgeConfig


def prepare(options: BenchOptions, header: BenchHeader | None) -> Plan:
    from rltf.bench.model import fingerprint, load_bench_policy, resolve_model

    check_options(options)
    source = resolve_model(options.model)
    model_hash = fingerprint(source)
    if header is not None and header.settings.get("model_fingerprint") != model_hash:
        raise RltfError(f"--resume: the model {source.name} changed since this run started (its files differ); "
                        "a resumed run must sample from the same model: start a new run")
    selection: Selection = select_problems(options, source.run_config)
    if header is not None:  # the text the run started with, even if the file changed since
        template = PromptTemplate(header.settings["template_file"], header.settings["template"],
                                  tuple(header.settings["stop"]))
    elif options.template:
        template = load_template(Path(options.template))
    else:
        template = source.template_for(options.benchmark)
    max_new_tokens = options.max_new_tokens or source.max_new_tokens(options.benchmark)
    policy = load_bench_policy(source, options.device, max_new_tokens)
    if options.chat:
        check_chat(policy.tokenizer, source.name)
    settings = {**asdict(replace(options, model=source.name, max_new_tokens=max_new_tokens, split=selection.split)),
                "template": template.text, "template_file": template.source, "stop": list(template.stop),
                "model_fingerprint": model_hash,
                "max_prompt_tokens": policy.settings.max_prompt_tokens}
    if header is None:
        header = BenchHeader(options.benchmark, source.name, settings, selection.all_tasks, selection.tasks,
                             selection.difficulties, options.shard)
    judge = JudgeConfig(timeout_s=options.timeout, memory_mb=options.memory_mb, workers=options.workers or None)
    return Plan(replace(options, max_new_tokens=max_new_tokens), header, selection.problems, template, policy, judge)


def check_options(options: BenchOptions) -> None:
    """Values typer cannot range-check alone, told before any model loads."""
    if options.benchmark not in BENCHMARKS:
        raise RltfError(f"unknown benchmark {options.benchmark!r}; known: {', '.join(BENCHMARKS)}")
    if options.temperature == 0 and options.n > 1:
        raise RltfError(f"--temperature 0 is greedy decoding: all {options.n} samples of a task would be the "
                        "same program; use --n 1, or a temperature above 0")
    if not 0 < options.top_p <= 1:
        raise RltfError(f"--top-p {options.top_p}: must be above 0 and at most 1")
    index, count = options.shard
    if not 0 <= index < count:
        raise RltfError(f"--shard {index}/{count}: K must be in 0..{count - 1} (shards count from 0)")
    if options.limit and options.tasks:
        raise RltfError("--limit and --tasks both choose the problems; give one of them")


class Bench:
    """One benchmark run in its folder: generate what is missing, judge it, summarise."""

    def __init__(self, plan: Plan, folder: Path, console: Console, quiet: bool):
        self.plan, self.folder, self.console, self.quiet = plan, folder, console, quiet
        self.options, self.header = plan.options, plan.header
        self.prompts: dict[str, tuple[str, list[int]]] = {}

    def run(self) -> dict[str, Any]:
        samples = bench_folder.read_rows(self.folder / SAMPLES, repair=True)
        self.check_prompts(samples)
        judged = {(r["task_id"], r["sample"]) for r in bench_folder.read_rows(self.folder / RESULTS, repair=True)}
        generated = {(r["task_id"], r["sample"]) for r in samples}
        to_judge = [r for r in samples if (r["task_id"], r["sample"]) not in judged]
        missing = [(task, i) for task in self.header.tasks for i in range(self.options.n) if (task, i) not in generated]
        total = len(self.header.tasks) * self.options.n
        if samples:
            self.console.print(f"resuming {self.folder}: {len(samples)} of {total} samples generated, "
                               f"{len(judged)} judged", highlight=False)
        self.generate_and_judge(missing, to_judge, total, len(generated), len(judged))
        return self.finish()

    def check_prompts(self, samples: Sequence[Row]) -> None:
        """A resumed run's prompts must be the ones its first samples saw (same template, tokenizer
        and chat template); one sample per task is enough to tell."""
        seen: dict[str, str] = {}
        for row in samples:
            seen.setdefault(row["task_id"], row["prompt_sha256"])
        for task, digest in seen.items():
            if prompt_hash(self.prompt(task)[0]) != digest:
                raise RltfError(f"--resume {self.folder}: the prompt of task {task!r} is not the one its samples were "
                                "generated from (a changed tokenizer or chat template?); start a new run")

    def generate_and_judge(self, missing: list[tuple[str, int]], to_judge: list[Row], total: int,
                           generated: int, judged: int) -> None:
        counts = {"generated": generated, "judged": judged}
        clock = Timing()
        samples_file, results_file = Appender(self.folder / SAMPLES), Appender(self.folder / RESULTS)
        try:
            with Judge(self.plan.judge) as judge, ThreadPoolExecutor(1, thread_name_prefix="rltf-bench-judge") as pool, \
                    progress_bars({"generating": (total, generated), "judging": (total, judged)}, quiet=self.quiet,
                                  console=self.console) as advance, judge.cancelled_on_error():
                def judge_rows(rows: list[Row]) -> None:
                    with clock.adding("judge_s"):
                        results = judge.run([self.submission(row) for row in rows])
                    results_file.write([{**row, **result.to_dict()} for row, result in zip(rows, results)])
                    counts["judged"] += len(rows)
                    advance["judging"](len(rows))

                pending: list[Future] = [pool.submit(judge_rows, to_judge)] if to_judge else []
                size = self.options.batch_size
                for start in range(0, len(missing), size):
                    with clock.adding("generate_s"):
                        rows = self.generate(missing[start:start + size])
                    samples_file.write(rows)
                    counts["generated"] += len(rows)
                    advance["generating"](len(rows))
                    with clock.adding("wait_s"):
                        pending = _settled(pending, PENDING_BATCHES - 1)
                    pending.append(pool.submit(judge_rows, rows))
                with clock.adding("wait_s"):
                    _settled(pending, 0)
        except KeyboardInterrupt:
            raise Interrupted(f"stopped after generating {counts['generated']} and judging {counts['judged']} of "
                              f"{total} samples; what is done is kept in {self.folder}; continue with: "
                              f"rltf bench {self.options.benchmark} --resume {self.folder}") from None
        finally:
            samples_file.close()
            results_file.close()
        write_text(self.folder / TIMING, bench_folder.json_text(clock.report(counts["generated"] - generated)))

    def submission(self, row: Row) -> Submission:
        problem = self.plan.problems[row["task_id"]]
        return Submission(problem, problem.program(row["completion"]))

    def generate(self, wanted: Sequence[tuple[str, int]]) -> list[Row]:
        """One batch of samples; each depends only on (seed, task, sample index)."""
        from rltf.actor import cut_at_stop
        from rltf.decoding import sample_seed

        o, policy = self.options, self.plan.policy
        prompts = [self.prompt(task) for task, _ in wanted]
        stop = () if o.chat else self.plan.template.stop
        out = policy.generate([ids for _, ids in prompts], sample=o.temperature > 0, temperature=o.temperature or 1.0,
                              top_p=o.top_p, max_new_tokens=o.max_new_tokens,
                              seeds=[sample_seed(o.seed, task, i) for task, i in wanted], stop=stop)
        rows = []
        for (task, index), (text, _), (tokens, ended) in zip(wanted, prompts, out):
            reply = policy.decode(tokens)
            row: Row = {"task_id": task, "sample": index, "prompt_sha256": prompt_hash(text)}
            if o.chat:
                row.update(completion=extract_program(reply), reply=reply)
            else:
                row["completion"] = cut_at_stop(reply, stop)[0]
            row.update(ended=ended, tokens=len(tokens))
            rows.append(row)
        return rows

    def prompt(self, task: str) -> tuple[str, list[int]]:
        if task not in self.prompts:
            policy = self.plan.policy
            text = self.plan.template.prompt(self.plan.problems[task], policy.tokenizer, self.options.chat)
            self.prompts[task] = (text, policy.encode_prompts([text])[0])
        return self.prompts[task]

    def finish(self) -> dict[str, Any]:
        from rltf.bench.report import summary_table, write_report

        tasks = self.header.tasks
        samples = bench_folder.ordered(bench_folder.read_rows(self.folder / SAMPLES), tasks)
        results = bench_folder.ordered(bench_folder.read_rows(self.folder / RESULTS), tasks)
        bench_folder.write_rows(self.folder / SAMPLES, samples)
        bench_folder.write_rows(self.folder / RESULTS, results)
        summary = summary_of(self.header, results)
        write_report(summary, self.folder)
        write_text(self.folder / SUMMARY, bench_folder.json_text(summary))
        if not self.quiet:
            Console().print(summary_table(summary))
        return summary


class Timing:
    """Where a run's time went; ``timing.json`` says how much judging hid behind generation.

    Kept apart from ``summary.json``: a summary must not depend on how the run was timed or resumed."""

    def __init__(self) -> None:
        self.seconds = {"generate_s": 0.0, "judge_s": 0.0, "wait_s": 0.0}
        self.began = time.perf_counter()

    @contextmanager
    def adding(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - began

    def report(self, samples: int) -> dict[str, float]:
        """``judge_hidden``: the share of judging done while the main thread generated."""
        wall = time.perf_counter() - self.began
        judge = self.seconds["judge_s"]
        hidden = 1.0 - min(self.seconds["wait_s"], judge) / judge if judge else 1.0
        return {**self.seconds, "wall_s": wall, "samples": samples,
                "samples_per_s": samples / wall if wall else 0.0, "judge_hidden": hidden}


def summary_of(header: BenchHeader, results: Sequence[Row]) -> dict[str, Any]:
    """The summary of a run's judged rows: a function of the rows alone, however they were made."""
    judged = [SampleResult(r["task_id"], r["sample"], JudgeResult.from_dict(r)) for r in results]
    difficulties = {task: header.difficulties.get(task) for task in header.tasks}
    return {"benchmark": header.benchmark, "model": header.model, "settings": header.settings,
            **summarize(judged, difficulties, header.settings["ks"])}


def _settled(futures: list[Future], keep: int) -> list[Future]:
    """Wait until at most ``keep`` futures are unfinished; a judging error surfaces here."""
    while len(futures) > keep:
        futures.pop(0).result()
    return futures

