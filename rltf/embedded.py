"""The embedded default model: built here from a config, with a tokenizer trained here.

``rltf train`` with no model must work with no network, so nothing is downloaded: a
byte-level BPE tokenizer is trained on the training split's text (digits split one per
token, so numbers the tasks vary are spelled the same way everywhere) and a small
GPT-2-style model is initialised from ``EmbeddedSettings``. It is then an ordinary
Hugging Face model and tokenizer: saved, it loads with ``from_pretrained``.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from rltf.config import EmbeddedSettings

END = "<|endoftext|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[END], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=END, pad_token=END,
                                   padding_side="left", model_max_length=1 << 20)


def build_model(tokenizer: Any, settings: EmbeddedSettings, seed: int) -> Any:
    """Initialised under ``seed`` alone, so the same run settings give the same starting weights."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=settings.context, n_embd=settings.width,
        n_layer=settings.layers, n_head=settings.heads, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config)
