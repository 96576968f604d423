"""The learner's RL loss: what a batch of examples adds to the gradient."""

from __future__ import annotations

import copy

import pytest
import torch

from rltf.config import EmbeddedSettings, ModelSettings
from rltf.embedded import build_model, train_tokenizer
from rltf.learner import Learner, Optimization
from rltf.policy import prepared
from rltf.token_rewards import Example, kept_examples

CORPUS = ["def add(a, b):\n    return a + b\n", "def neg(x):\n    return -x\n"] * 4


@pytest.fixture(scope="module")
def policy():
    tok = train_tokenizer(CORPUS, vocab_size=280)
    model = build_model(tok, EmbeddedSettings(layers=1, width=32, heads=2), seed=0)
    model.eval()  # no dropout: two backward passes must see the same network
    return prepared(model, tok, ModelSettings(), torch.device("cpu"))


def example(policy, text: str, weight: float) -> Example:
    ids = policy.encode_completion(text)
    return Example([1, 2, 3], ids, {"unittest/coarse": [weight] * len(ids)})


def rl_gradient(policy, examples) -> list[torch.Tensor]:
    learner = Learner(policy, Optimization(lr=1e-3, weight_decay=0.0, warmup_steps=0, total_steps=1, balance="none"))
    learner.optimizer.zero_grad(set_to_none=True)
    learner._backward_rl(examples)
    grads = [p.grad.clone() for p in learner.params]
    learner.optimizer.zero_grad(set_to_none=True)
    return grads


def test_skipping_zero_advantage_rows_leaves_the_gradient_unchanged(policy):
    policy.model.eval()
    step = [example(policy, "    return a + b\n", 0.7), example(policy, "    return a\n", 0.0),
            example(policy, "    return -x\n", -0.4), example(policy, "    return b\n", 0.0),
            example(policy, "    return a - b\n", 0.0)]
    everything = rl_gradient(policy, kept_examples(copy.deepcopy(step), skip_zero_advantage=False))
    kept = kept_examples(copy.deepcopy(step), skip_zero_advantage=True)
    assert len(kept) == 2 and all(e.share == pytest.approx(2 / 5) for e in kept)
    skipped = rl_gradient(policy, kept)
    for a, b in zip(everything, skipped):
        torch.testing.assert_close(a, b)
    unweighted = rl_gradient(policy, [Example(e.prompt_ids, e.completion_ids, e.terms) for e in kept])
    ratio = float(torch.linalg.vector_norm(unweighted[0]) / torch.linalg.vector_norm(everything[0]))
    assert ratio == pytest.approx(5 / 2)  # what skipping did before: the step scaled by 1 / (kept share)


def test_rl_updates_run_without_dropout_by_default_and_sft_with_it(policy):
    """The RL stage's learner takes the gradient of the policy the actor sampled from: no dropout."""
    policy.model.train()
    ex = example(policy, "    return a + b\n", 0.5)
    rl = Learner(policy, Optimization(lr=1e-3, weight_decay=0.0, warmup_steps=0, total_steps=1), dropout=False)
    rl.step([], [ex])
    assert not policy.model.training
    sft = Learner(policy, Optimization(lr=1e-3, weight_decay=0.0, warmup_steps=0, total_steps=1))
    sft.step([], [ex])
    assert policy.model.training
    policy.model.eval()
