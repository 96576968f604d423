"""The actor: samples k programs per problem, plus the greedy baseline, from the current policy.

With ``sync_every = 1`` the actor samples from the learner's own weights (no copy: large
models fit once in memory); with ``sync_every = N > 1`` it holds a copy refreshed every N
steps, so its lag behind the learner is a setting. ``concurrent`` also takes a copy: the
actor then generates in its own thread while the learner updates the weights. Every rollout records the learner step
its weights came from, and the trainer logs the lag of what it learns from.

Sample j of a problem drawn at step d is drawn from its own stream, seeded by
``sample_seed(run seed, task, d * k + j)``: it depends on nothing else (not the batch it was
generated in, its neighbours, the shard or rank that generated it, a resume), and the actor
leaves torch's global generator alone. Encoder-decoder models are the exception: Hugging
Face's ``generate`` draws a batch from torch's generator, and seeded rows would have to be
generated one at a time, so they sample in batches as before.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from rltf.config import ActorSettings
from rltf.decoding import sample_seed
from rltf.policy import Policy
from rltf.problems import Problem
from rltf.token_rewards import Rollout


class Actor:
    def __init__(self, learner_policy: Policy, settings: ActorSettings, seed: int, greedy_programs: bool = False):
        self.settings = settings
        self.seed = seed
        self.greedy_programs = greedy_programs
        self.learner_policy = learner_policy
        shared = settings.sync_every == 1 and not settings.concurrent
        self.policy = learner_policy if shared else _copy(learner_policy)
        self.weights_step = 0

    def sync(self, step: int, force: bool = False) -> None:
        """Take the learner's weights on sync steps; with shared weights the actor is always current."""
        if self.policy is self.learner_policy:
            self.weights_step = step
        elif force or step % self.settings.sync_every == 0:
            self.policy.model.load_state_dict(self.learner_policy.model.state_dict())
            self.weights_step = step

    def rollouts(self, problems: Sequence[Problem], draw: int) -> list[Rollout]:
        """k samples of each problem, then its greedy program if the baseline or the metrics need one.

        ``draw``: the step the problems were drawn for (0 for the first and for offline sampling).
        """
        s = self.settings
        k = s.samples_per_problem
        prompts = self.policy.encode_prompts([self.policy.prompt_text(p) for p in problems])
        rows = [(p, ids, sample_seed(self.seed, p.task_id, draw * k + j))
                for p, ids in zip(problems, prompts) for j in range(k)]
        if self.greedy_programs:
            rows += [(p, ids, None) for p, ids in zip(problems, prompts)]
        out = []
        for greedy in (False, True):
            batch = [row for row in rows if (row[2] is None) == greedy]
            for start in range(0, len(batch), s.generation_batch):
                chunk = batch[start:start + s.generation_batch]
                generated = self.policy.generate([ids for _, ids, _ in chunk], sample=not greedy,
                                                 temperature=s.temperature, top_p=s.top_p,
                                                 max_new_tokens=s.max_new_tokens, stop=s.stop,
                                                 seeds=None if greedy or self.policy.seq2seq else
                                                 [seed for _, _, seed in chunk])
                out += [self._rollout(problem, ids, tokens, ended, greedy)
                        for (problem, ids, _), (tokens, ended) in zip(chunk, generated)]
        return out

    def _rollout(self, problem: Problem, prompt_ids: list[int], tokens: list[int], ended: bool, greedy: bool) -> Rollout:
        """The program is the text before a stop string; its tokens are those that wrote some of it."""
        text, stopped = cut_at_stop(self.policy.decode(tokens), self.settings.stop)
        if stopped:
            offsets = self.policy.token_offsets(tokens)
            tokens = tokens[:sum(start < len(text) for start, _ in offsets)]
        return Rollout(problem.task_id, prompt_ids, text, tokens, ended and not stopped, not ended and not stopped,
                       greedy, self.weights_step)

    def state_dict(self) -> dict[str, Any]:
        """The copy's weights only when it has its own (they differ from the learner's between syncs)."""
        own = self.policy is not self.learner_policy
        return {"weights_step": self.weights_step, "model": self.policy.model.state_dict() if own else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights_step = state["weights_step"]
        if state["model"] is not None and self.policy is not self.learner_policy:
            self.policy.model.load_state_dict(state["model"])


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text before the first stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _copy(policy: Policy) -> Policy:
    model = copy.deepcopy(policy.model)
    model.requires_grad_(False)
    return Policy(model, policy.tokenizer, policy.settings, policy.device)
