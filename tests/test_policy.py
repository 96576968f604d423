"""The policy and the learner on real (tiny, locally built) models.

RL is only sound when the learner scores a completion exactly as the actor sampled it:
the same log-probs whatever the padding of the batch, for decoder-only and
encoder-decoder models alike. These tests compare the learner's log-probs with
``generate``'s own scores, check EOS handling, that LoRA trains only its adapters, and
that a learner step moves log-probs the way the supervised and RL weights say.
"""

from functools import partial

import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration, TopPLogitsWarper
from transformers.cache_utils import Cache

from rltf.config import EmbeddedSettings, ModelSettings
from rltf.decoding import next_tokens, nucleus
from rltf.embedded import build_model, train_tokenizer
from rltf.errors import RltfError
from rltf.learner import Learner, Optimization, micro_batches
from rltf.policy import TokenSequence, prepared
from rltf.token_rewards import Example

CPU = torch.device("cpu")
TINY = EmbeddedSettings(layers=2, width=32, heads=2, context=128, vocab_size=300)
CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "x = int(input())\nprint(x * 2)\n",
    "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n",
]
LONG_PROMPT = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n" * 2
OPT = Optimization(lr=1e-3, weight_decay=0.0, warmup_steps=0, total_steps=10)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS * 4, vocab_size=300)


@pytest.fixture
def policy(tok):
    return prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(), CPU)


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def seq(tok, prompt, completion, eos=False):
    return TokenSequence(ids(tok, prompt), ids(tok, completion) + ([tok.eos_token_id] if eos else []))


@pytest.fixture(scope="module")
def taught(tok):
    """A policy taught that one prompt's completion ends with EOS and another's runs on.

    Dropout draws from torch's global generator, so it is seeded here: what ran before in
    the same process must not decide what the model learns."""
    torch.manual_seed(0)
    policy = prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(), CPU)
    ends = seq(tok, "def add(a, b):\n", "    return a + b\n", eos=True)
    runs_on = seq(tok, "x = int(input())\n", "print(x * 2)\n" * 3)
    learner = Learner(policy, Optimization(lr=1e-2, weight_decay=0.0, warmup_steps=0, total_steps=40))
    for _ in range(40):
        learner.step([ends, runs_on], [])
    policy.model.eval()
    return policy, ends, runs_on


def greedy_with_scores(model, tok, prompts, max_new_tokens):
    """Raw ``generate`` on a left-padded batch: each row's new tokens (through its first EOS) and their log-probs."""
    batch = tok.pad({"input_ids": prompts}, return_tensors="pt")
    assert tok.padding_side == "left" and len({len(p) for p in prompts}) > 1
    out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens, output_scores=True,
                         return_dict_in_generate=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    new = out.sequences[:, -len(out.scores):]
    logp = torch.log_softmax(torch.stack(out.scores, 1).float(), -1).gather(-1, new[..., None]).squeeze(-1)
    rows = []
    for tokens, scores in zip(new.tolist(), logp):
        n = tokens.index(tok.eos_token_id) + 1 if tok.eos_token_id in tokens else len(tokens)
        rows.append((tokens[:n], scores[:n]))
    return rows


def logprob_of(policy, sequence):
    with torch.no_grad():
        return float(policy.completion_logprobs([sequence])[0].sum())


def test_padding_leaves_a_sequences_logprobs_unchanged(policy, tok):
    policy.model.eval()
    short = seq(tok, "def add(a, b):\n", "    return a + b\n")
    long = seq(tok, LONG_PROMPT, "print(total)\n")
    with torch.no_grad():
        alone = policy.completion_logprobs([short])[0]
        padded = policy.completion_logprobs([long, short])[1]
    assert len(long.prompt_ids) > 3 * len(short.prompt_ids + short.completion_ids)
    assert torch.allclose(alone, padded, atol=1e-5)


def test_without_mask_derived_positions_padding_would_change_logprobs(policy, tok):
    policy.model.eval()
    short = seq(tok, "def add(a, b):\n", "    return a + b\n")
    long = seq(tok, LONG_PROMPT, "print(total)\n")
    batch = tok.pad({"input_ids": [long.prompt_ids + long.completion_ids, short.prompt_ids + short.completion_ids]},
                    return_tensors="pt")
    n = len(short.completion_ids)
    with torch.no_grad():
        alone = policy.completion_logprobs([short])[0]
        logits = policy.model(**batch).logits[1, -n - 1:-1]  # positions counted from the padding, not the text
    naive = torch.log_softmax(logits, -1).gather(-1, batch["input_ids"][1, -n:, None]).squeeze(-1)
    assert (naive - alone).abs().max() > 1e-2


def test_learner_logprobs_equal_greedy_generation_scores(taught, tok):
    policy, ends, _ = taught
    prompts = [ends.prompt_ids, ids(tok, LONG_PROMPT)]
    rows = greedy_with_scores(policy.model, tok, prompts, max_new_tokens=12)
    assert rows[0][0][-1] == tok.eos_token_id and len(rows[0][0]) < len(rows[1][0])  # EOS is scored too
    with torch.no_grad():
        learner = policy.completion_logprobs([TokenSequence(p, c) for p, (c, _) in zip(prompts, rows)])
    for (_, scores), mine in zip(rows, learner):
        assert torch.allclose(mine, scores, atol=1e-4)


def test_generate_strips_eos_and_says_which_rows_ended(taught):
    policy, ends, runs_on = taught
    (first, first_ended), (second, second_ended) = policy.generate(
        [ends.prompt_ids, runs_on.prompt_ids], sample=False, max_new_tokens=10)
    assert (first, first_ended) == (ends.completion_ids[:-1], True)
    assert (second, second_ended) == (runs_on.completion_ids[:10], False)


def generate_expected(policy, tok, prompts, max_new_tokens):
    """What Hugging Face's greedy ``generate`` makes of the prompts, in ``Policy.generate``'s terms."""
    rows = greedy_with_scores(policy.model, tok, prompts, max_new_tokens)
    return [(c[:-1], True) if c[-1] == tok.eos_token_id else (c, False) for c, _ in rows]


MIXED_PROMPTS = ["def add(a, b):\n", "x = int(input())\n", LONG_PROMPT, "def f(xs):\n"]


def test_greedy_generation_equals_hf_generate_as_rows_leave_the_batch(taught, tok):
    policy = taught[0]
    prompts = [ids(tok, p) for p in MIXED_PROMPTS]
    expected = generate_expected(policy, tok, prompts, max_new_tokens=12)
    assert {ended for _, ended in expected} == {True, False}  # rows leave the batch before the last step
    assert policy.generate(prompts, sample=False, max_new_tokens=12) == expected


def test_models_whose_cache_cannot_drop_rows_keep_them(taught, tok, monkeypatch):
    policy = taught[0]
    prompts = [ids(tok, p) for p in MIXED_PROMPTS]
    expected = generate_expected(policy, tok, prompts, max_new_tokens=12)
    monkeypatch.delattr(Cache, "batch_select_indices")
    assert policy.generate(prompts, sample=False, max_new_tokens=12) == expected


def test_repeated_prompts_run_once_and_sample_as_if_each_ran_alone(taught, tok, monkeypatch):
    """The actor's batch holds each prompt once per sample: the distinct prompts' cache is
    expanded to the rows, and each row samples what it samples alone, from its own seed."""
    policy = taught[0]
    prompts = [ids(tok, p) for p in MIXED_PROMPTS for _ in range(3)]
    seeds = list(range(100, 100 + len(prompts)))
    alone = [policy.generate([p], sample=True, max_new_tokens=12, seeds=[s])[0] for p, s in zip(prompts, seeds)]
    assert policy.generate(prompts, sample=False, max_new_tokens=12) == generate_expected(policy, tok, prompts, 12)
    calls = []
    forward = policy.model.forward
    monkeypatch.setattr(policy.model, "forward", lambda *a, **k: calls.append(k["input_ids"].shape) or forward(*a, **k))
    assert policy.generate(prompts, sample=True, max_new_tokens=12, seeds=seeds) == alone
    assert calls[0][0] == len(MIXED_PROMPTS)  # the prefill ran each distinct prompt once
    monkeypatch.delattr(Cache, "batch_select_indices")  # a cache that cannot expand: every row runs its prompt
    assert policy.generate(prompts, sample=True, max_new_tokens=12, seeds=seeds) == alone


@pytest.mark.parametrize("top_p", [1.0, 0.9, 0.5, 0.05])
def test_nucleus_keeps_the_tokens_hf_keeps(top_p):
    logits = torch.randn(8, 50, generator=torch.Generator().manual_seed(0)) * 3
    expected = TopPLogitsWarper(top_p)(None, logits.clone())
    assert torch.equal(nucleus(logits, top_p), expected)


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0), (1.0, 0.8)])
def test_sampled_tokens_follow_the_filtered_softmax(temperature, top_p):
    """Inverse-CDF draws: each token's frequency is its probability after temperature and top-p."""
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -30.0]])
    probs = torch.softmax(nucleus(logits / temperature, top_p), -1)[0]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        draws = next_tokens(logits.expand(40_000, -1), sample=True, temperature=temperature, top_p=top_p)
    frequency = torch.bincount(draws, minlength=6) / len(draws)
    assert torch.allclose(frequency, probs, atol=0.01)
    assert frequency[probs == 0].sum() == 0


def test_sampled_generation_respects_max_new_tokens(taught):
    policy, ends, runs_on = taught
    with torch.random.fork_rng():
        torch.manual_seed(0)
        out = policy.generate([ends.prompt_ids, runs_on.prompt_ids] * 4, sample=True, temperature=1.0, top_p=0.9,
                              max_new_tokens=5)
    for completion, ended in out:
        assert len(completion) <= 5 and policy.eos_id not in completion
        assert ended or len(completion) == 5


def tiny_t5(tok, seed):
    config = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16,
                      decoder_start_token_id=tok.pad_token_id, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id)
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config)


@pytest.fixture(scope="module")
def seq2seq(tok):
    """A tiny T5 whose greedy completions are more than EOS (a random init often stops at once)."""
    prompts = [ids(tok, "def add(a, b):\n"), ids(tok, LONG_PROMPT)]
    for seed in range(20):
        policy = prepared(tiny_t5(tok, seed), tok, ModelSettings(), CPU)
        if all(len(c) >= 3 for c, _ in policy.generate(prompts, sample=False, max_new_tokens=6)):
            policy.model.eval()
            return policy, prompts
    pytest.fail("no seed gave a tiny T5 that generates more than EOS")


def test_seq2seq_policy_generates_completions(seq2seq, tok):
    policy, prompts = seq2seq
    assert policy.seq2seq
    out = policy.generate(prompts, sample=False, max_new_tokens=6)
    raw = greedy_with_scores(policy.model, tok, prompts, max_new_tokens=6)
    for (completion, ended), (tokens, _) in zip(out, raw):
        assert ended == (tokens[-1] == tok.eos_token_id)
        assert completion == (tokens[:-1] if ended else tokens)


def test_seq2seq_logprobs_equal_greedy_generation_scores(seq2seq, tok):
    policy, prompts = seq2seq
    rows = greedy_with_scores(policy.model, tok, prompts, max_new_tokens=6)
    with torch.no_grad():
        learner = policy.completion_logprobs([TokenSequence(p, c) for p, (c, _) in zip(prompts, rows)])
    for (_, scores), mine in zip(rows, learner):
        assert torch.allclose(mine, scores, atol=1e-4)


def test_lora_trains_only_adapters(tok):
    policy = prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(lora_r=4), CPU)
    trainable = {name for name, p in policy.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    before = {name: p.detach().clone() for name, p in policy.model.named_parameters()}
    Learner(policy, OPT).step([seq(tok, "def add(a, b):\n", "    return a + b\n")], [])
    changed = {name for name, p in policy.model.named_parameters() if not torch.equal(p, before[name])}
    assert changed and changed <= trainable


def test_gradient_checkpointing_gives_the_same_gradients(tok):
    """Memory for compute: recomputing activations must not change what is learned."""
    sequence = seq(tok, "def add(a, b):\n", "    return a + b\n")
    grads = []
    for checkpointing in (False, True):
        policy = prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(gradient_checkpointing=checkpointing), CPU)
        for module in policy.model.modules():  # training mode (checkpointing is off in eval), without noise
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        policy.completion_logprobs([sequence])[0].sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in policy.model.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_supervised_steps_lower_the_loss(policy, tok):
    policy.model.eval()
    target = seq(tok, "def add(a, b):\n", "    return a + b\n", eos=True)
    learner = Learner(policy, OPT)
    losses = [learner.step([target], [])["loss/sl"] for _ in range(5)]
    assert losses[-1] < losses[0]
    assert -logprob_of(policy, target) / len(target.completion_ids) < losses[0]


def test_fp16_autocast_with_loss_scaling_trains_and_reports_true_gradient_norms(policy, tok):
    """The CUDA fp16 path, run on the CPU: gradients carry the loss scale until the optimizer step."""
    _, example = rl_example(tok, -0.9)
    target = seq(tok, "def add(a, b):\n", "    return a + b\n", eos=True)
    plain = Learner(prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(), CPU), OPT).step([target], [example])
    fp16 = partial(torch.autocast, device_type="cpu", dtype=torch.float16)
    learner = Learner(policy, OPT, autocast=fp16, loss_scaling=True)
    first = learner.step([target], [example])
    assert first["loss_scale"] > 1 and first["grad_norm/sl"] == pytest.approx(plain["grad_norm/sl"], rel=0.05)
    losses = [learner.step([target], [])["loss/sl"] for _ in range(5)]
    assert losses[-1] < losses[0]
    restored = Learner(policy, OPT, autocast=fp16, loss_scaling=True)
    restored.load_state_dict(learner.state_dict())
    assert restored.scaler.get_scale() == learner.scaler.get_scale()


def test_fp16_loss_scaling_refuses_fp16_weights(tok):
    model = build_model(tok, TINY, seed=0).half()
    with pytest.raises(RltfError, match="model.dtype = 'float32'"):
        Learner(prepared(model, tok, ModelSettings(), CPU), OPT, loss_scaling=True)


def rl_example(tok, weight):
    target = seq(tok, "x = int(input())\n", "print(x * 2)\n")
    return target, Example(target.prompt_ids, target.completion_ids,
                           {"unittest/coarse": [weight] * len(target.completion_ids)})


def test_grad_norm_balance_scales_rl_to_the_supervised_norm(policy, tok):
    _, example = rl_example(tok, -0.9)
    metrics = Learner(policy, OPT).step([seq(tok, "def add(a, b):\n", "    return a + b\n")], [example])
    assert {"loss/sl", "loss/unittest/coarse", "grad_norm/sl", "grad_norm/rl", "rl_scale"} <= set(metrics)
    assert metrics["grad_norm/sl"] > 0 and metrics["grad_norm/rl"] > 0
    assert metrics["rl_scale"] == pytest.approx(metrics["grad_norm/sl"] / metrics["grad_norm/rl"], rel=1e-6)


def test_without_balance_rl_is_not_rescaled(policy, tok):
    _, example = rl_example(tok, -0.9)
    balance_off = Optimization(lr=1e-3, weight_decay=0.0, warmup_steps=0, total_steps=10, balance="none")
    metrics = Learner(policy, balance_off).step([seq(tok, "def add(a, b):\n", "    return a + b\n")], [example])
    assert metrics["rl_scale"] == 1.0


@pytest.mark.parametrize(("weight", "direction"), [(1.0, 1), (-1.0, -1)])
def test_rl_weight_sign_moves_the_completions_logprob(policy, tok, weight, direction):
    policy.model.eval()
    target, example = rl_example(tok, weight)
    before = logprob_of(policy, target)
    Learner(policy, OPT).step([], [example])
    assert (logprob_of(policy, target) - before) * direction > 0


def test_micro_batches_are_cut_where_padding_costs_more_than_a_pass():
    short = [TokenSequence([1] * 5, [2] * 5) for _ in range(10)]
    long = [TokenSequence([1] * 50, [2] * 50) for _ in range(10)]
    mixed = long[:5] + short + long[5:]
    assert [(len(c), s) for c, s in micro_batches(mixed, 32, 128)] == [(10, False), (10, False)]  # saves 10 x 90
    assert [len(c) for c, _ in micro_batches(mixed, 32, 1000)] == [20]  # a pass costs more than that padding
    items = mixed + [TokenSequence([1] * 20, [2] * 20)]
    chunks = [c for c, _ in micro_batches(items, 4, 0)]
    assert sorted(id(s) for c in chunks for s in c) == sorted(map(id, items))
    assert max(map(len, chunks)) <= 4
    assert all(len({len(s.prompt_ids) + len(s.completion_ids) for s in c}) == 1 for c in chunks)


def test_micro_batches_keep_a_prompts_samples_together_and_share_where_it_pays():
    """Eight prompts of 24 tokens, four samples each of 3-40 tokens (an RL step's shape)."""
    items = [TokenSequence([p] * 24, [2] * (3 + (p * 7 + s * 5) % 38)) for p in range(8) for s in range(4)]
    batches = micro_batches(items[::-1], 16, 128, share_prompts=True)
    assert sorted(id(s) for c, _ in batches for s in c) == sorted(map(id, items))
    assert all(share for _, share in batches) and max(len(c) for c, _ in batches) <= 16
    for prompt in range(8):  # each prompt's samples in one micro-batch
        assert sum(any(s.prompt_ids[0] == prompt for s in c) for c, _ in batches) == 1
    distinct = [TokenSequence([p] * 24, [2] * 10) for p in range(8)]  # nothing to share: one whole pass
    assert [(len(c), share) for c, share in micro_batches(distinct, 16, 128, share_prompts=True)] == [(8, False)]
    big = [TokenSequence([1] * 24, [2] * 10) for _ in range(40)]  # one prompt, more samples than a micro-batch
    assert [(len(c), share) for c, share in micro_batches(big, 16, 128, share_prompts=True)] == [
        (16, True), (16, True), (8, True)]


def shared_prompt_batch(tok):
    """Two prompts of different lengths, each with samples of uneven length (one of a single token)."""
    first, second = ids(tok, "def add(a, b):\n"), ids(tok, LONG_PROMPT)
    completions = ["    return a + b\n", "    return a\n", "x", "print(x * 2)\n" * 3, "    total = 0\n"]
    return [TokenSequence(prompt, ids(tok, text) + [tok.eos_token_id])
            for prompt in (first, second) for text in completions] + [TokenSequence(first, [tok.eos_token_id])]


def gpt2_and_llama(tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id))
    return [build_model(tok, TINY, seed=0), llama]


@pytest.mark.parametrize("architecture", ["gpt2", "llama", "gpt2 + LoRA"])
def test_shared_prompts_give_the_same_logprobs_and_gradients_as_whole_rows(tok, architecture):
    """The prompt's KV cache, expanded to its samples, keeps its gradient: sharing changes
    nothing the learner computes, whatever the padding of prompts and completions."""
    model = gpt2_and_llama(tok)[architecture == "llama"]
    policy = prepared(model, tok, ModelSettings(lora_r=4 if "LoRA" in architecture else 0), CPU)
    policy.model.eval()  # no dropout: both passes must see the same function
    assert policy.shares_prompts
    batch = shared_prompt_batch(tok)
    results = []
    for share in (False, True):
        policy.model.zero_grad()
        logps = policy.completion_logprobs(batch, share)
        weights = torch.linspace(-1, 1, sum(len(s.completion_ids) for s in batch))
        (torch.cat(logps) * weights).sum().backward()
        results.append((logps, torch.cat([p.grad.flatten() for p in policy.model.parameters() if p.requires_grad])))
    (whole, whole_grad), (shared, shared_grad) = results
    assert [len(x) for x in shared] == [len(s.completion_ids) for s in batch]
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole, shared))
    assert torch.allclose(whole_grad, shared_grad, atol=1e-6, rtol=1e-4)


def test_single_token_completions_share_their_prompt(policy, tok):
    policy.model.eval()
    batch = [TokenSequence(ids(tok, "def add(a, b):\n"), [t]) for t in (5, 6, tok.eos_token_id)]
    for whole, shared in zip(policy.completion_logprobs(batch), policy.completion_logprobs(batch, True)):
        assert torch.allclose(whole, shared, atol=1e-6)


def test_prompts_are_not_shared_where_the_cache_is_dropped_or_cannot_be_expanded(tok, monkeypatch):
    checkpointed = prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(gradient_checkpointing=True), CPU)
    assert not checkpointed.shares_prompts  # checkpointed blocks ignore the cache while training
    assert not Learner(checkpointed, OPT).share_prompts
    policy = prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(), CPU)
    policy.model.eval()
    batch = shared_prompt_batch(tok)
    whole = policy.completion_logprobs(batch)
    forward = policy.model.forward

    def without_cache(*args, **kwargs):  # a model that returns no cache it could expand
        out = forward(*args, **kwargs)
        out.cache = None
        return out

    monkeypatch.setattr(policy.model, "forward", without_cache)
    shared = policy.completion_logprobs(batch, True)  # falls back to whole rows, and remembers
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, shared))
    assert not policy.shares_prompts


def test_an_rl_step_is_the_same_with_prompts_shared_or_not(tok):
    """The whole learner step, loss terms and all, on an RL batch whose samples share prompts."""
    batch = shared_prompt_batch(tok)
    examples = [Example(s.prompt_ids, s.completion_ids,
                        {"unittest/coarse": [0.5 - i / 7] * len(s.completion_ids),
                         **({"unittest/fine": [-0.3] * len(s.completion_ids)} if i % 2 else {})})
                for i, s in enumerate(batch)]
    reference = prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(), CPU)
    reference.model.eval()  # as the learner runs RL: without dropout
    with torch.no_grad():
        logps = reference.completion_logprobs(batch)
    expected = {key: -sum(float((torch.tensor(e.terms[key]) * logp).mean()) for e, logp in zip(examples, logps)
                          if key in e.terms) / len(examples) for key in ("unittest/coarse", "unittest/fine")}
    results = []
    for share in (False, True):
        policy = prepared(build_model(tok, TINY, seed=0), tok, ModelSettings(), CPU)
        options = Optimization(lr=1e-3, weight_decay=0.0, warmup_steps=0, total_steps=10, share_prompts=share)
        learner = Learner(policy, options, {"unittest/fine": 0.5}, dropout=False)
        assert learner.share_prompts == share
        metrics = learner.step([], examples)
        results.append((metrics, torch.cat([p.grad.flatten() for p in policy.model.parameters()])))
    (whole, whole_grad), (shared, shared_grad) = results
    for key in ("unittest/coarse", "unittest/fine"):  # -(1/T) sum_t w_t log p_t, averaged over the batch
        assert whole[f"loss/{key}"] == pytest.approx(expected[key], rel=1e-5)
        assert shared[f"loss/{key}"] == pytest.approx(expected[key], rel=1e-5)
    assert shared["grad_norm"] == pytest.approx(whole["grad_norm"], rel=1e-5)
    assert torch.allclose(whole_grad, shared_grad, atol=1e-6, rtol=1e-4)  # what the optimizer stepped with
