"""The RLTF training run: supervised warm-up, then online RL from unit-test feedback.

Data flows one way, one step at a time::

    problems -> actor (k samples + greedy) -> judge -> feedback providers
             -> token rewards -> online buffer -> learner (supervised + RL micro-batches)

Generation, judging and learning overlap: the judge scores step s's programs in a
background thread (its workers are separate processes) while the main thread runs
the learner's update and generates step s+1's programs. The learner therefore trains on
samples one step old (lag 1, plus ``actor.sync_every - 1`` with a copied actor), which
the method allows ("a bounded lag between the learner's weights and the actor's").

Under torchrun each rank samples and judges its share of each step's problems; the judged
samples are gathered so that every rank keeps the same buffer, each rank learns from its
part of the batch, and gradients are summed (``rltf.distributed``). Rank 0 writes the run
folder. Every setting is in ``TrainConfig``; the run folder holds ``config.toml``,
``metrics.jsonl``, ``checkpoints/``, ``summary.json`` and the final ``model/``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from rich.console import Console

from rltf.actor import Actor
from rltf.buffer import OnlineBuffer
from rltf.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from rltf.decoding import sample_seed
from rltf.distributed.strategy import strategy_for
from rltf.distributed.world import World, join, leave, rank_device
from rltf import run_folder
from rltf.config import TrainConfig, to_toml
from rltf.devices import resolve_device
from rltf.errors import Interrupted
from rltf.evaluation.policy import evaluation_of, greedy_verdicts
from rltf.feedback import JudgedSample, Reward
from rltf.judge import Judge, JudgeConfig, JudgeResult, Submission
from rltf.learner import Learner, Optimization
from rltf.metrics import MetricsLog, truncate
from rltf.outputs import write_folder, write_text
from rltf.plugins import Plugins, ReferenceOracle
from rltf.policy import Policy, TokenSequence
from rltf.problems import Problem
from rltf.progress import hugging_face_bars, progress_bar, step_progress
from rltf.sampler import Cycler
from rltf.scoring import Feedback
from rltf.token_rewards import Rollout, is_trainable, kept_examples, term_key, to_examples
from rltf.training_data import TrainingProblems, reference_completion, training_problems

log = logging.getLogger("rltf.trainer")
TOKENIZER = "tokenizer"


@dataclass
class Judged:
    """One step's rollouts after the judge and the providers, with the time it took."""

    rollouts: list[Rollout]
    results: list[JudgeResult]
    rewards: list[list[Reward]]
    seconds: float

    @staticmethod
    def joined(parts: list[Judged]) -> Judged:
        """The ranks' parts as one step, in the order one process makes: sampled programs in
        problem order, then greedy ones (each part lists its own samples, then its greedy)."""
        if len(parts) == 1:
            return parts[0]
        rows = [row for part in parts for row in zip(part.rollouts, part.results, part.rewards)]
        rows = [row for row in rows if not row[0].greedy] + [row for row in rows if row[0].greedy]
        return Judged([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                      max(part.seconds for part in parts))


class Run:
    """Everything one training run holds; ``train()`` below is the whole procedure."""

    def __init__(self, config: TrainConfig, console: Console, world: World, device: torch.device, quiet: bool = False):
        self.config, self.world = config, world
        self.strategy = strategy_for(config.distributed.strategy, world)
        self.console = console if world.main else Console(quiet=True)
        self.quiet = quiet or not world.main
        self.dir = Path(config.run.out)
        self.device = device
        self.autocast = _autocast(config.run.precision, self.device)
        self.loss_scaling = config.run.precision == "fp16"
        self.problems: TrainingProblems = training_problems(config.data)
        self.by_id = {p.task_id: p for p in self.problems.rl}
        self.feedback = Feedback.select(Plugins(), config.feedback.providers, config.feedback.options,
                                        config.feedback.strict, "[feedback.options]")
        self.policy = build_policy(config, self.dir, self.problems, self.device)
        self.summary: dict[str, Any] = {}
        self.with_tests: dict[str, Problem] = {}

    def save_tokenizer(self) -> None:
        """The embedded model's tokenizer is trained at the start; a resumed run must reuse it."""
        saved = self.dir / TOKENIZER
        if self.world.main and not self.config.model.name and not (saved / "tokenizer.json").exists():
            write_folder(saved, self.policy.tokenizer.save_pretrained)

    # --- judge + feedback, run in the background thread -------------------------------------

    def judge_and_score(self, judge: Judge, rollouts: list[Rollout]) -> Judged:
        start = time.perf_counter()
        problems = [self.problem_with_tests(judge, r.problem_id) for r in rollouts]
        programs = [p.program(r.text) for p, r in zip(problems, rollouts)]
        results = judge.run([Submission(p, program) for p, program in zip(problems, programs)])
        samples = [JudgedSample(f"{r.problem_id}#{i}", p, program, result, truncated=r.truncated)
                   for i, (r, p, program, result) in enumerate(zip(rollouts, problems, programs, results))]
        rewards = self.feedback.score(samples)
        return Judged(rollouts, results, rewards, time.perf_counter() - start)

    def sample(self, actor: Actor, problems: list[Problem], draw: int) -> list[Rollout]:
        """This rank's share of the step's problems, sampled (on whole weights under fsdp)."""
        with self.strategy.full_weights(self.policy.model):
            return actor.rollouts(self.world.share(problems), draw)

    def everyone_judged(self, mine: Judged) -> Judged:
        """Every rank's judged samples, so that every rank pushes the same examples to its buffer."""
        return Judged.joined(self.world.gather(mine, "gathering judged samples"))

    def problem_with_tests(self, judge: Judge, problem_id: str) -> Problem:
        """Generated tests (``rltf_extra_tests``) are made once per problem, the first time it is drawn."""
        if problem_id not in self.with_tests:
            problem = self.by_id[problem_id]
            self.with_tests[problem_id] = self.feedback.with_extra_tests(problem, ReferenceOracle(judge))
        return self.with_tests[problem_id]

    def examples(self, judged: Judged) -> list:
        prefixes = [len(self.by_id[r.problem_id].program_prefix) for r in judged.rollouts]
        return to_examples(judged.rollouts, judged.rewards, prefixes, self.policy.token_offsets,
                           self.policy.eos_id, self.config.learner.baseline)

    # --- supervised data ----------------------------------------------------------------------

    def supervised_sequences(self) -> list[TokenSequence]:
        """Reference completions, EOS included so the model learns where a program ends."""
        problems = [p for p in self.problems.supervised if reference_completion(p) is not None]
        prompts = self.policy.encode_prompts([self.policy.prompt_text(p) for p in problems])
        limit = self.policy.max_positions() - len(max(prompts, key=len, default=[]))
        out = []
        for problem, prompt in zip(problems, prompts):
            ids = self.policy.encode_completion(reference_completion(problem))
            out.append(TokenSequence(prompt, (ids + [self.policy.eos_id])[:max(1, limit)]))
        return out


class TrainingStopped(Interrupted):
    """Ctrl-C stopped a run after its folder was claimed; ``checkpoint`` is what ``--resume`` continues from."""

    def __init__(self, folder: Path, checkpoint: Path | None):
        self.folder, self.checkpoint = folder, checkpoint
        where = (f"its newest checkpoint is {checkpoint.name}" if checkpoint is not None
                 else "it saved no checkpoint yet, so resuming starts it over")
        super().__init__(f"the run in {folder} stopped; {where}")


def train(config: TrainConfig, *, resume: bool = False, quiet: bool = False,
          console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) the whole procedure and return the summary written to ``summary.json``.

    Everything is loaded and checked before the run folder is touched, so a command that
    fails on its inputs writes nothing; Ctrl-C once it runs raises ``TrainingStopped``.
    """
    console = console or Console(stderr=True)
    device = resolve_device(rank_device(config.run.device), "run.device")
    world = join(config.distributed.backend, config.distributed.timeout_s, device)
    try:
        return _train(config, world, device, resume, quiet, console)
    finally:
        leave(world, destroy=config.distributed.strategy != "fsdp")


def _train(config: TrainConfig, world: World, device: torch.device, resume: bool, quiet: bool,
           console: Console) -> dict[str, Any]:
    _set_threads(config, world, device)
    run_dir = Path(config.run.out)
    world.agree(partial(run_folder.check_resumable if resume else run_folder.check_new, run_dir),
                "checking the run folder")
    latest = run_folder.newest_checkpoint(run_dir) if resume else None
    _seed(config.run.seed)
    run = Run(config, console, world, device, quiet)
    if world.main and not resume:
        run_folder.claim(run_dir, to_toml(config))
    elif world.main and latest is None:  # killed before its first checkpoint: start over
        run_folder.restart(run_dir)
    run.save_tokenizer()
    run.strategy.prepare(run.policy.model)
    if world.size > 1:  # dropout masks differ per rank, as in any data-parallel run
        torch.manual_seed(sample_seed(config.run.seed, "rank", world.rank) % 2**63)
    world.barrier("starting the run")
    try:
        with _terminate_as_interrupt():
            _stages(run, latest)
    except KeyboardInterrupt:
        raise TrainingStopped(run_dir, run_folder.newest_checkpoint(run_dir)) from None
    return run.summary


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's stop, torchrun stopping the ranks after one died) stops the run as
    Ctrl-C does: judging cancelled, a one-line message, the newest checkpoint kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _set_threads(config: TrainConfig, world: World, device: torch.device) -> None:
    """``run.threads``, or on a CPU shared by several ranks, its cores divided among them."""
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    elif world.local_size > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_size))


def _stages(run: Run, latest: Path | None) -> None:
    config, run_dir = run.config, run.dir
    world = run.world
    state = load_checkpoint(latest) if latest is not None else None
    if state is not None:
        if world.main:
            truncate(run_dir / run_folder.METRICS, state["metrics_bytes"])
        run.summary = state["summary"]
        run.console.print(f"resuming from {latest}", highlight=False)
    judge_config = JudgeConfig(timeout_s=config.judge.timeout_s, memory_mb=config.judge.memory_mb,
                               workers=config.judge.workers or _judge_workers(world), isolation=config.judge.isolation,
                               packages=tuple(config.judge.packages))
    metrics = MetricsLog(run_dir / run_folder.METRICS if world.main else None,
                         run_dir / "tensorboard" if config.run.tensorboard and world.main else None)
    try:
        with Judge(judge_config) as judge:
            run.console.print(f"judge isolation: {judge.isolation}; device: {run.device}", highlight=False)
            supervised_stage(run, judge, metrics, state if state and state["phase"] == "sft" else None)
            if config.run.max_steps:
                rl_stage(run, judge, metrics, state if state and state["phase"] == "rl" else None)
            run.summary["after"] = evaluation(run, judge, "after")
    finally:
        metrics.close()
    run.summary.update(model=config.model.name or "embedded", seed=config.run.seed,
                       sft_steps=config.sft.steps, rl_steps=config.run.max_steps, mode=config.run.mode)
    save_final_model(run)
    if world.main:
        write_text(run_dir / run_folder.SUMMARY, json.dumps(run.summary, indent=2) + "\n")


def _judge_workers(world: World) -> int | None:
    """The judge's default (two workers per core), the cores divided among the ranks on this machine."""
    if world.local_size == 1:
        return None
    from rltf.judge.pool import default_workers

    return max(1, default_workers() // world.local_size)


def evaluation(run: Run, judge: Judge, name: str) -> dict[str, Any]:
    a = run.config.actor
    mine = run.world.share(run.problems.evaluation)
    with progress_bar(f"held-out pass@1 ({name})", len(mine), quiet=run.quiet, console=run.console) as advance, \
            run.strategy.full_weights(run.policy.model):
        verdicts = greedy_verdicts(run.policy, mine, judge, max_new_tokens=a.max_new_tokens,
                                   batch_size=a.generation_batch, stop=a.stop, progress=advance)
    everyone = run.world.joined(verdicts, "gathering held-out verdicts")
    result = evaluation_of(run.problems.evaluation, everyone).to_dict()
    run.console.print(f"held-out pass@1 {name}: {result['pass@1']:.4f} over {result['problems']} problems",
                      highlight=False)
    return result


# --- stage 1: supervised warm-up ----------------------------------------------------------------

def supervised_stage(run: Run, judge: Judge, metrics: MetricsLog, state: dict | None) -> None:
    """SFT, with held-out pass@1 around it: "before_sft" and "before" (RL) in a full run,
    "before" and (from ``train``) "after" in an SFT-only run."""
    s = run.config.sft
    rl_follows = bool(run.config.run.max_steps)
    if rl_follows and state is None and "before" in run.summary:
        return
    sequences = run.supervised_sequences() if s.steps else []
    first = "before_sft" if rl_follows else "before"
    if sequences and first not in run.summary:
        run.summary[first] = evaluation(run, judge, "before SFT")
    if sequences:
        learner = Learner(run.policy, Optimization(s.lr, s.weight_decay, s.warmup_steps, s.steps, "cosine",
                                                   run.config.learner.grad_clip, run.config.learner.micro_batch_size,
                                                   pass_cost_tokens=run.config.learner.pass_cost_tokens,
                                                   share_prompts=run.config.learner.share_prompts),
                          autocast=run.autocast, loss_scaling=run.loss_scaling, strategy=run.strategy)
        cycler = Cycler(sequences, run.config.run.seed)
        start = 0
        if state is not None:
            start = _restore(run, state, learner=learner, sft_data=cycler)
        with step_progress("SFT", s.steps, start, quiet=run.quiet, console=run.console) as update:
            for step in range(start + 1, s.steps + 1):
                began = time.perf_counter()
                losses = learner.step(cycler.take(s.batch_size), [])
                metrics.write({"phase": "sft", "step": step, **losses, "step_s": time.perf_counter() - began})
                update(f"loss {losses['loss/sl']:.3f}")
                if _save_due(run, step, s.steps):
                    _checkpoint(run, metrics, "sft", step, learner=learner, sft_data=cycler)
    if rl_follows or "before" not in run.summary:
        run.summary["before"] = evaluation(run, judge, "before RL" if rl_follows else "before")


# --- stage 2: online (or offline) RL --------------------------------------------------------------

def rl_stage(run: Run, judge: Judge, metrics: MetricsLog, state: dict | None) -> None:
    c = run.config
    learner = Learner(run.policy, Optimization(
        c.learner.lr, c.learner.weight_decay, c.learner.warmup_steps, c.run.max_steps, c.learner.schedule,
        c.learner.grad_clip, c.learner.micro_batch_size, c.learner.sl_weight, c.learner.rl_weight, c.learner.balance,
        c.learner.pass_cost_tokens, c.learner.share_prompts,
    ), c.learner.term_weights, autocast=run.autocast, loss_scaling=run.loss_scaling, dropout=c.learner.rl_dropout,
        strategy=run.strategy)
    actor = Actor(run.policy, c.actor, c.run.seed, greedy_programs=c.actor.greedy_baseline or c.learner.baseline == "greedy")
    buffer = OnlineBuffer(c.buffer.capacity, c.buffer.refresh_every, c.buffer.max_uses)
    problems = Cycler(run.problems.rl, c.run.seed + 1)
    sequences = run.supervised_sequences() if c.learner.sl_weight > 0 else []
    sl_data = Cycler(sequences, c.run.seed + 2) if sequences else None
    parts = dict(learner=learner, actor=actor, buffer=buffer, problems=problems, sl_data=sl_data)
    pending: list[Rollout] = []
    start = 0
    if state is not None:
        start = _restore(run, state, **parts)
        pending = run.world.share(state["pending"])
    elif c.run.mode == "offline":
        fill_offline(run, judge, actor, buffer)
    online = c.run.mode == "online"
    if online and not pending and start < c.run.max_steps:
        pending = run.sample(actor, problems.take(c.actor.problems_per_step), start)
    with ThreadPoolExecutor(1, thread_name_prefix="rltf-judge") as background, \
            ThreadPoolExecutor(1, thread_name_prefix="rltf-actor") as generator, \
            step_progress("RL", c.run.max_steps, start, quiet=run.quiet, console=run.console) as update, \
            judge.cancelled_on_error():  # innermost: on Ctrl-C, stop judging before waiting for the thread
        collective_before = run.world.collective_s
        for step in range(start + 1, c.run.max_steps + 1):
            began = time.perf_counter()
            judging: Future | None = None
            waited_in_sequence = 0.0
            if online:
                judging = background.submit(run.judge_and_score, judge, pending)
                if not c.run.overlap:
                    futures_wait([judging])
                    waited_in_sequence = time.perf_counter() - began
            generate = online and step < c.run.max_steps
            generating = None
            if generate and c.actor.concurrent:
                actor.sync(step - 1)
                generating = generator.submit(_timed, run.sample, actor, problems.take(c.actor.problems_per_step), step)
            row = learn(run, learner, buffer, sl_data, step)
            row["gen_s"], following = 0.0, []
            if generating is not None:
                row["gen_s"], following = generating.result()
            elif generate:
                actor.sync(step)
                row["gen_s"], following = _timed(run.sample, actor, problems.take(c.actor.problems_per_step), step)
            if judging is not None:
                waited = time.perf_counter()
                judged = run.everyone_judged(judging.result())
                row["wait_s"] = time.perf_counter() - waited + waited_in_sequence
                row.update(absorb(run, judged, buffer))
                row["overlap"] = 1.0 - row["wait_s"] / max(judged.seconds, 1e-9)
            pending = following
            row.update(step_s=time.perf_counter() - began, buffer_size=len(buffer), actor_weights_step=actor.weights_step)
            if "samples" in row:
                row["samples_per_s"] = row["samples"] / row["step_s"]
            if run.world.size > 1:
                row["collective_s"], collective_before = run.world.collective_s - collective_before, run.world.collective_s
            metrics.write({"phase": "rl", "step": step, **row})
            if run.world.main:
                run.feedback.plugins.observe(step, {k: v for k, v in row.items() if isinstance(v, (int, float))})
            update(_progress_info(row))
            if c.run.eval_every and step % c.run.eval_every == 0 and step < c.run.max_steps:
                metrics.write({"phase": "eval", "step": step, **_flat(evaluation(run, judge, f"step {step}"))})
            if _save_due(run, step, c.run.max_steps):
                _checkpoint(run, metrics, "rl", step, pending=pending, **parts)


def learn(run: Run, learner: Learner, buffer: OnlineBuffer, sl_data: Cycler | None, step: int) -> dict[str, Any]:
    """One learner update from the buffer's visible examples and a supervised batch."""
    c = run.config.learner
    buffer.refresh(step)
    rl = buffer.draw(c.rl_batch_size)
    supervised = sl_data.take(c.sl_batch_size) if sl_data is not None and c.sl_batch_size else []
    began = time.perf_counter()
    row: dict[str, Any] = learner.step(supervised, rl) if (rl or supervised) else {}
    row["learn_s"] = time.perf_counter() - began
    row["rl_examples"] = len(rl)
    if rl:  # updates between the weights that sampled and the weights being trained
        row["actor_lag"] = (step - 1) - sum(e.policy_step for e in rl) / len(rl)
    return row


def absorb(run: Run, judged: Judged, buffer: OnlineBuffer) -> dict[str, Any]:
    """Turn judged rollouts into examples, keep the trainable ones, and summarise them."""
    examples = run.examples(judged)
    buffer.push(kept_examples(examples, run.config.learner.skip_zero_advantage))
    sampled = [(r, res, rew) for r, res, rew in zip(judged.rollouts, judged.results, judged.rewards) if not r.greedy]
    greedy = [res for r, res in zip(judged.rollouts, judged.results) if r.greedy]
    row: dict[str, Any] = {
        "samples": len(judged.rollouts),
        "judge_s": judged.seconds,
        "pass_rate": sum(res.outcome == "pass" for _, res, _ in sampled) / max(1, len(sampled)),
        "zero_advantage": sum(not is_trainable(e) for e in examples) / max(1, len(examples)),
    }
    if greedy:
        row["greedy_pass_rate"] = sum(res.outcome == "pass" for res in greedy) / len(greedy)
    for outcome in sorted({res.outcome for _, res, _ in sampled}):
        row[f"outcome/{outcome}"] = sum(res.outcome == outcome for _, res, _ in sampled) / len(sampled)
    totals: dict[str, float] = {}
    for _, _, rewards in sampled:
        for reward in rewards:
            totals[term_key(reward)] = totals.get(term_key(reward), 0.0) + reward.value
    row.update({f"reward/{key}": value / max(1, len(sampled)) for key, value in sorted(totals.items())})
    row.update({f"provider_failures/{k}": v for k, v in run.feedback.failure_counts().items() if v})
    return row


def fill_offline(run: Run, judge: Judge, actor: Actor, buffer: OnlineBuffer) -> None:
    """The CodeRL setting: sample once from the starting policy, then train on that fixed set."""
    c = run.config
    problems = run.problems.rl[:c.run.offline_problems or None]
    with progress_bar("offline samples", len(problems), quiet=run.quiet, console=run.console) as advance:
        for start in range(0, len(problems), c.actor.problems_per_step):
            chunk = problems[start:start + c.actor.problems_per_step]
            judged = run.everyone_judged(run.judge_and_score(judge, run.sample(actor, chunk, 0)))
            buffer.push(kept_examples(run.examples(judged), c.learner.skip_zero_advantage))
            advance(len(chunk))
    buffer.refresh(0, force=True)
    if len(buffer) == buffer.capacity:
        log.warning("the offline sample set filled buffer.capacity = %d; older samples were dropped "
                    "(raise buffer.capacity to keep them all)", buffer.capacity)
    run.console.print(f"offline buffer: {len(buffer)} trainable samples from {len(problems)} problems",
                      highlight=False)


# --- the run folder -----------------------------------------------------------------------------

def build_policy(config: TrainConfig, run_dir: Path, problems: TrainingProblems, device: torch.device) -> Policy:
    """The named Hugging Face model, or the embedded default (tokenizer trained once, kept in the run folder)."""
    from rltf.policy import load_policy, prepared

    dtype = None if config.model.dtype == "auto" else getattr(torch, config.model.dtype)
    if config.model.name:
        return load_policy(config.model, device, dtype)
    from transformers import AutoTokenizer

    from rltf import embedded

    saved = run_dir / TOKENIZER
    if (saved / "tokenizer.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(str(saved))
    else:
        texts = [s for p in problems.supervised for s in p.solutions] + [p.prompt for p in problems.rl]
        tokenizer = embedded.train_tokenizer(texts, config.embedded.vocab_size)
    model = embedded.build_model(tokenizer, config.embedded, config.run.seed)
    settings = config.model
    limit = config.embedded.context - config.actor.max_new_tokens
    if settings.max_prompt_tokens > limit:
        from dataclasses import replace

        settings = replace(settings, max_prompt_tokens=limit)
    return prepared(model, tokenizer, settings, device)


def save_final_model(run: Run) -> None:
    """Standard Hugging Face format: ``from_pretrained(run_dir / "model")`` loads it (LoRA: the adapter).

    Written under a temporary name and renamed, so ``model/`` is complete or absent."""
    state = run.strategy.final_state(run.policy.model)  # under fsdp every rank gathers, rank 0 writes
    if not run.world.main:
        return

    def fill(folder: Path) -> None:
        run.policy.model.save_pretrained(str(folder), **({"state_dict": state} if state is not None else {}))
        run.policy.tokenizer.save_pretrained(str(folder))

    with hugging_face_bars(shown=not run.quiet and run.console.is_terminal):
        write_folder(run.dir / "model", fill)


def _checkpoint(run: Run, metrics: MetricsLog, phase: str, step: int, pending: list[Rollout] | None = None,
                **parts: Any) -> None:
    """One checkpoint for all ranks, written by rank 0: the replicated state once (gathered whole
    under fsdp), each rank's random generator, and every rank's pending samples as one list."""
    state = {
        "phase": phase, "step": step, "summary": run.summary,
        "rng": run.world.gather(rng_state(), "gathering random states"),
        "metrics_bytes": metrics.position(), "pending": run.world.joined(pending or [], "gathering pending samples"),
        "model": run.strategy.model_state(run.policy.model),
        "parts": {name: part.state_dict() for name, part in parts.items() if part is not None},
    }
    if not run.world.main:
        return
    order = step if phase == "sft" else run.config.sft.steps + step
    save_checkpoint(run.dir / "checkpoints", f"step-{order:07d}-{phase}", state, run.config.run.keep_checkpoints)


def _restore(run: Run, state: dict[str, Any], **parts: Any) -> int:
    run.strategy.load_model_state(run.policy.model, state["model"], strict=not run.config.model.lora_r)
    for name, part in parts.items():
        if part is not None:
            part.load_state_dict(state["parts"][name])
    rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
    if len(rngs) == run.world.size:
        set_rng_state(rngs[run.world.rank])
    elif run.world.main:
        run.console.print(f"this run was checkpointed on {len(rngs)} ranks and resumes on {run.world.size}: weights, "
                          "optimizer, buffer, data order and samples continue; dropout masks start afresh",
                          highlight=False)
    return state["step"]


def _timed(work: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = work(*args)
    return time.perf_counter() - began, result


def _save_due(run: Run, step: int, last: int) -> bool:
    every = run.config.run.save_every
    return bool(every) and (step % every == 0 or step == last)


def _progress_info(row: dict[str, Any]) -> str:
    parts = []
    if "pass_rate" in row:
        parts.append(f"pass {row['pass_rate']:.2f}")
    rewards = [v for k, v in row.items() if k.startswith("reward/") and k.endswith("/coarse")]
    if rewards:
        parts.append(f"reward {rewards[0]:+.3f}")
    if "samples_per_s" in row:
        parts.append(f"{row['samples_per_s']:.0f} samples/s")
    return "  ".join(parts)


def _flat(result: dict[str, Any]) -> dict[str, Any]:
    flat = {"pass@1": result["pass@1"]}
    flat.update({f"outcome/{k}": v / max(1, result["problems"]) for k, v in result["outcomes"].items()})
    return flat


def _autocast(precision: str, device: torch.device) -> Callable[[], Any]:
    """bf16 autocast on a GPU that has it, fp16 when asked; full precision elsewhere (CPU autocast is slower here)."""
    if precision == "fp16":
        return partial(torch.autocast, device_type=device.type, dtype=torch.float16)
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    if not use_bf16:
        return nullcontext
    return partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
