"""One typed object holds every setting of a training run, and is saved with the run.

A run is reproducible from its folder alone: ``config.toml`` there is the resolved
config (file values, then command-line overrides, then defaults), and ``--resume``
reads it back. Defaults are those of the quickstart (the embedded model on the
built-in suite on a 2-core CPU); docs/training.md lists the paper's value beside each.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from rltf.datasets import DATASETS
from rltf.errors import DataError, RltfError
from rltf.inputs import read_text
from rltf.judge.pool import LIMIT_RANGES
from rltf.judge.view import DEFAULT_PACKAGES, package_problem
from rltf.prompts import check_template

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is the same parser, installed there as a dependency
    import tomli as tomllib  # type: ignore[no-redef]


@dataclass
class ModelSettings:
    """``name`` is a Hugging Face model id or local folder; empty means the embedded default."""

    name: str = ""
    architecture: Literal["auto", "causal", "seq2seq"] = "auto"
    prompt_template: str = "{prompt}"
    max_prompt_tokens: int = 512
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = False
    gradient_checkpointing: bool = False
    lora_r: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"])


@dataclass
class EmbeddedSettings:
    """The GPT-2-style model and byte-level BPE built locally when no model is named."""

    layers: int = 4
    width: int = 192
    heads: int = 4
    context: int = 256
    vocab_size: int = 600


@dataclass
class DataSettings:
    """Training problems, and the held-out problems pass@1 is measured on before and after RL.

    ``dataset = "builtin"`` is the project's own suite (rltf.tasks); otherwise any name
    ``rltf.datasets`` knows. ``eval_dataset`` empty means the built-in held-out split
    for the built-in suite, and the same dataset's ``eval_split`` otherwise.
    """

    dataset: str = "builtin"
    path: str = ""
    split: str = ""
    eval_dataset: str = ""
    eval_path: str = ""
    eval_split: str = "test"
    eval_size: int = 400
    suite_seed: int = 0
    builtin_train: int = 200
    builtin_rl_only: int = 2800


@dataclass
class SftSettings:
    """Supervised warm-up on reference solutions, run before RL (``steps = 0`` skips it)."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01


@dataclass
class ActorSettings:
    problems_per_step: int = 16
    samples_per_problem: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 40
    greedy_baseline: bool = False
    sync_every: int = 1
    concurrent: bool = False
    generation_batch: int = 64
    stop: list[str] = field(default_factory=list)


@dataclass
class BufferSettings:
    capacity: int = 6400
    refresh_every: int = 1
    max_uses: int = 0


@dataclass
class LearnerSettings:
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_steps: int = 10
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    grad_clip: float = 1.0
    rl_batch_size: int = 64
    sl_batch_size: int = 16
    micro_batch_size: int = 32
    pass_cost_tokens: int = 128
    share_prompts: bool = True
    sl_weight: float = 1.0
    rl_weight: float = 1.0
    term_weights: dict[str, float] = field(default_factory=dict)
    baseline: Literal["greedy", "mean"] = "mean"
    balance: Literal["grad_norm", "none"] = "grad_norm"
    skip_zero_advantage: bool = True
    rl_dropout: bool = False


@dataclass
class FeedbackSettings:
    """Providers by name, and each provider's options table (``[feedback.options.unittest]``)."""

    providers: list[str] = field(default_factory=lambda: ["unittest"])
    strict: bool = False
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class JudgeSettings:
    timeout_s: float = 4.0
    workers: int = 0
    memory_mb: int = 1024
    isolation: Literal["auto", "bwrap", "none"] = "auto"
    packages: list[str] = field(default_factory=lambda: list(DEFAULT_PACKAGES))


@dataclass
class RunSettings:
    out: str = ""
    seed: int = 0
    max_steps: int = 300
    mode: Literal["online", "offline"] = "online"
    offline_problems: int = 0
    save_every: int = 50
    keep_checkpoints: int = 2
    eval_every: int = 0
    device: str = "auto"
    precision: Literal["auto", "float32", "bf16", "fp16"] = "auto"
    threads: int = 0
    tensorboard: bool = False
    overlap: bool = True


@dataclass
class DistributedSettings:
    """Read only under torchrun (docs/distributed.md); a single process ignores them."""

    strategy: Literal["ddp", "fsdp"] = "ddp"
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    timeout_s: float = 600.0


@dataclass
class TrainConfig:
    model: ModelSettings = field(default_factory=ModelSettings)
    embedded: EmbeddedSettings = field(default_factory=EmbeddedSettings)
    data: DataSettings = field(default_factory=DataSettings)
    sft: SftSettings = field(default_factory=SftSettings)
    actor: ActorSettings = field(default_factory=ActorSettings)
    buffer: BufferSettings = field(default_factory=BufferSettings)
    learner: LearnerSettings = field(default_factory=LearnerSettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    run: RunSettings = field(default_factory=RunSettings)
    distributed: DistributedSettings = field(default_factory=DistributedSettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


POSITIVE = {
    "actor.problems_per_step", "actor.samples_per_problem", "actor.max_new_tokens", "actor.sync_every",
    "actor.generation_batch", "buffer.capacity", "buffer.refresh_every", "learner.rl_batch_size",
    "learner.micro_batch_size", "sft.batch_size", "run.keep_checkpoints", "model.max_prompt_tokens",
    "embedded.layers", "embedded.width", "embedded.heads", "embedded.context",
    "learner.lr", "sft.lr", "actor.temperature", "learner.grad_clip", "data.eval_size", "embedded.vocab_size",
    "distributed.timeout_s",
}
NOT_NEGATIVE = (
    "run.max_steps", "sft.steps", "run.save_every", "run.eval_every", "learner.warmup_steps", "sft.warmup_steps",
    "run.offline_problems", "buffer.max_uses", "run.threads", "model.lora_r", "learner.pass_cost_tokens",
    "data.builtin_rl_only",
)
MAX_THREADS = 4096
# Integers a setting may hold: what torch, NumPy and the tokenizers take (a C int64).
INT_RANGE = (-(2**63), 2**63 - 1)


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """Build and check a config; an unknown or ill-typed key names the file and the field."""
    config = _build(TrainConfig, data, source, "")
    check(config, source)
    return config


def load_config(path: Path) -> TrainConfig:
    return config_from_dict(read_toml(path), str(path))


def apply_overrides(config: TrainConfig, overrides: Mapping[str, Any], source: str = "command line") -> TrainConfig:
    """``{"actor.temperature": 0.6}`` on top of ``config``; the result is checked as a whole."""
    data = config.to_dict()
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if section not in data or not key:
            raise DataError(source, f"no setting is named {dotted!r}", field=dotted)
        if key.split(".")[0] not in data[section]:
            raise DataError(source, f"no setting is named {dotted!r}; [{section}] has: "
                                    f"{', '.join(data[section])}", field=dotted)
        target = data[section]
        *parents, last = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise DataError(source, f"{section}.{parent} is not a table", field=dotted)
        target[last] = value
    return config_from_dict(data, source)


def parse_assignment(text: str) -> tuple[str, Any]:
    """``section.key=value`` as written on a command line; the value is read as TOML, else as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RltfError(f"--set expects section.key=value, got {text!r}")
    try:
        value = _loads_toml(f"v = {raw.strip()}", "--set", key.strip())["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def to_toml(config: TrainConfig) -> str:
    """The resolved config as TOML (written by hand: the standard library only reads TOML)."""
    lines: list[str] = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        nested = []
        for key, value in values.items():
            if isinstance(value, dict):
                nested.append((key, value))
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        for key, table in nested:
            plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
            if plain or not table:
                lines.append(f"[{section}.{key}]")
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items()]
            for sub, subtable in table.items():
                if isinstance(subtable, dict):
                    lines.append(f"[{section}.{key}.{_toml_key(sub)}]")
                    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in subtable.items()]
        lines.append("")
    return "\n".join(lines)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return _loads_toml(read_text(Path(path)), str(path))
    except tomllib.TOMLDecodeError as error:
        raise DataError(path, f"not valid TOML ({error})") from None


def _loads_toml(text: str, source: str, setting: str | None = None) -> dict[str, Any]:
    """``tomllib.loads`` for a file (``setting`` None) or one ``--set``: valid TOML can still hold an
    integer past Python's digit limit (``ValueError``) or nest deeper than the interpreter's stack,
    and those are the user's to fix too. Syntax errors are left to the caller."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except ValueError:
        limit = sys.get_int_max_str_digits()
        row = _long_integer_row(text, limit) if setting is None else None
        raise DataError(source, f"holds an integer of more than {limit} digits", row=row, field=setting) from None
    except RecursionError:
        raise DataError(source, "nested too deeply to read", field=setting) from None


def _long_integer_row(text: str, limit: int) -> int | None:
    """The line of the first integer too long to read; TOML allows ``_`` between its digits."""
    found = re.search(rf"[0-9](?:_?[0-9]){{{limit},}}", text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def check(config: TrainConfig, source: str) -> None:
    """Values that type-check but cannot work, reported before any model is loaded."""
    _check_ranges(config, source)
    _check_judge(config, source)
    for dotted in ("data.dataset", "data.eval_dataset"):
        name = getattr(config.data, dotted.split(".")[1])
        if name and name not in ("builtin", *DATASETS):
            raise DataError(source, f"unknown dataset {name!r}; known datasets: builtin, {', '.join(DATASETS)}",
                            field=dotted)
    if config.distributed.strategy == "fsdp" and (config.actor.sync_every != 1 or config.actor.concurrent):
        raise DataError(source, "fsdp samples from the learner's own sharded weights; set actor.sync_every = 1 and "
                        "actor.concurrent = false", field="distributed.strategy")
    providers = config.feedback.providers
    twice = [name for index, name in enumerate(providers) if name in providers[:index]]
    if twice:
        raise DataError(source, f"{twice[0]!r} is named twice; each provider runs once", field="feedback.providers")
    if config.embedded.width % config.embedded.heads:
        raise DataError(source, "embedded.width must be a multiple of embedded.heads", field="embedded.width")
    check_template(config.model.prompt_template, source, "model.prompt_template")


def _check_ranges(config: TrainConfig, source: str) -> None:
    """Numbers outside what their setting can mean: a count of zero problems, a dropout of 5."""
    for dotted in sorted(POSITIVE):
        if not _setting(config, dotted) > 0:
            raise DataError(source, f"must be positive, got {_setting(config, dotted)!r}", field=dotted)
    for dotted in NOT_NEGATIVE:
        if _setting(config, dotted) < 0:
            raise DataError(source, "must not be negative", field=dotted)
    if config.data.dataset == "builtin" and config.data.builtin_train < 1:
        raise DataError(source, "must be positive: the built-in suite's training problems",
                        field="data.builtin_train")
    if config.run.threads > MAX_THREADS:
        raise DataError(source, f"must be at most {MAX_THREADS}, got {config.run.threads}", field="run.threads")
    if not 0 <= config.model.lora_dropout < 1:
        raise DataError(source, f"must be in [0, 1), got {config.model.lora_dropout}", field="model.lora_dropout")
    if not 0 <= config.run.seed < 2**32:  # NumPy's seeds
        raise DataError(source, f"must be between 0 and 2**32 - 1, got {config.run.seed}", field="run.seed")
    if not 0 < config.actor.top_p <= 1:
        raise DataError(source, f"must be in (0, 1], got {config.actor.top_p}", field="actor.top_p")


def _check_judge(config: TrainConfig, source: str) -> None:
    for name, (low, high) in LIMIT_RANGES.items():
        value = getattr(config.judge, name)
        if name == "workers" and value == 0:  # 0: the default, two per core
            continue
        if not low <= value <= high:
            raise DataError(source, f"must be between {low:g} and {high:g}, got {value!r}", field=f"judge.{name}")
    for name in config.judge.packages:
        problem = package_problem(name)
        if problem is not None:
            raise DataError(source, problem, field="judge.packages")


def _setting(config: TrainConfig, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(config, section), key)


_TOML_BARE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _toml_key(key: str) -> str:
    return key if key and set(key) <= _TOML_BARE else _toml_string(key)


def _toml_string(text: str) -> str:
    """Basic string; control characters (forbidden raw in TOML) as \\uXXXX escapes."""
    escaped = "".join(
        "\\\\" if ch == "\\" else '\\"' if ch == '"' else f"\\u{ord(ch):04x}" if ord(ch) < 32 or ord(ch) == 127 else ch
        for ch in text)
    return f'"{escaped}"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf" if value < 0 else "nan")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise DataError(source, f"expected a table, got {data!r}", field=prefix.rstrip(".") or None)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise DataError(source, f"unknown setting; [{prefix.rstrip('.') or 'top level'}] has: {', '.join(sorted(names))}",
                        field=prefix + unknown[0])
    values = {name: _convert(hints[name], data[name], source, prefix + name) for name in names if name in data}
    return cls(**values)


def _convert(hint: Any, value: Any, source: str, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, name + ".")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise DataError(source, f"must be one of {', '.join(map(str, args))}, got {value!r}", field=name)
        return value
    if origin is list:
        if not isinstance(value, list):
            raise DataError(source, f"must be a list, got {value!r}", field=name)
        return [_convert(args[0], item, source, f"{name}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise DataError(source, f"must be a table, got {value!r}", field=name)
        return {str(k): _convert(args[1], v, source, f"{name}.{k}") for k, v in value.items()}
    if hint is Any or origin is types.UnionType:
        return value
    return _scalar(hint, value, source, name)


def _scalar(hint: type, value: Any, source: str, name: str) -> Any:
    if hint is bool and not isinstance(value, bool) or hint is not bool and isinstance(value, bool):
        raise DataError(source, f"must be {hint.__name__}, got {value!r}", field=name)
    if hint is int and isinstance(value, int) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise DataError(source, "is out of range: must be between -2**63 and 2**63 - 1", field=name)
    if hint is float and isinstance(value, int):
        return _int_as_float(value, source, name)
    if not isinstance(value, hint):
        raise DataError(source, f"must be {hint.__name__}, got {value!r}", field=name)
    if hint is float and not math.isfinite(value):
        raise DataError(source, f"must be a finite number, got {value!r}", field=name)
    return value


def _int_as_float(value: int, source: str, name: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise DataError(source, "must be a finite number, got an integer too large for a float", field=name) from None
