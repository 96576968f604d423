"""Prompt templates: how a benchmark's problem is shown to a model, as a file a user can copy.

A template file is TOML with ``template`` (a ``str.format`` string over the placeholders of
``rltf.prompts``) and ``stop`` (strings that end a completion: the text from the first of them
on is cut). The bundled files in ``rltf/bench/templates/`` hold each benchmark's usual
protocol; docs/bench.md shows them. ``--chat`` wraps the filled template as a user message in
the tokenizer's chat template and takes the program out of the reply's fenced code block.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rltf.errors import DataError, RltfError
from rltf.problems import Problem
from rltf.prompts import check_template, fill

BUNDLED = Path(__file__).parent / "templates"
FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class PromptTemplate:
    source: str
    text: str
    stop: tuple[str, ...]

    def prompt(self, problem: Problem, tokenizer: Any = None, chat: bool = False) -> str:
        message = fill(self.text, problem)
        if not chat:
            return message
        return tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=False,
                                             add_generation_prompt=True)


def bundled(benchmark: str) -> Path:
    return BUNDLED / f"{benchmark}.toml"


def load_template(path: Path) -> PromptTemplate:
    """A template file, checked whole: a typo in it costs one line naming the file and key."""
    from rltf.config import read_toml

    data = read_toml(path)
    unknown = sorted(set(data) - {"template", "stop"})
    if unknown:
        raise DataError(path, f"unknown key {unknown[0]!r}; a template file holds template and stop", field=unknown[0])
    text = data.get("template")
    if not isinstance(text, str):
        raise DataError(path, "missing, or not a string", field="template")
    check_template(text, str(path), "template")
    stop = data.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise DataError(path, "must be a list of non-empty strings", field="stop")
    return PromptTemplate(str(path), text, tuple(stop))


def check_chat(tokenizer: Any, model: str) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise RltfError(f"--chat: the tokenizer of {model} has no chat template; leave out --chat for a base model")


def extract_program(reply: str) -> str:
    """A chat reply's program: its first fenced code block (```python or bare ```), else the reply."""
    found = FENCE.search(reply)
    return found.group(1) if found else reply


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
