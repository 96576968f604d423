"""The model a benchmark run measures: a hub name, a local folder, a LoRA adapter folder, or an
rltf run folder (its ``model/``, and for ``builtin`` its own suite, prompt format and length).

With no ``--model``, the newest finished run under ``./runs`` is taken, so ``rltf train``
then ``rltf bench builtin`` measures the model just trained.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rltf.bench.template import PromptTemplate, bundled, load_template
from rltf.errors import RltfError

RUNS = Path("runs")
RUN_CONFIG = "config.toml"
RUN_MODEL = "model"
DEFAULT_MAX_NEW_TOKENS = 512
SLICE = 1 << 20


@dataclass(frozen=True)
class ModelSource:
    """``name`` as the user gave it (or the run found); ``path`` what the loader reads."""

    name: str
    path: str
    run_config: Any = None

    def template_for(self, benchmark: str) -> PromptTemplate:
        """A run's own prompt format for its own suite; the benchmark's bundled template otherwise."""
        if benchmark == "builtin" and self.run_config is not None:
            return PromptTemplate(f"{self.name}/{RUN_CONFIG} [model] prompt_template",
                                  self.run_config.model.prompt_template, tuple(self.run_config.actor.stop))
        return load_template(bundled(benchmark))

    def max_new_tokens(self, benchmark: str) -> int:
        if benchmark != "builtin":
            return DEFAULT_MAX_NEW_TOKENS
        from rltf.config import ActorSettings

        return (self.run_config.actor if self.run_config is not None else ActorSettings()).max_new_tokens


def resolve_model(name: str) -> ModelSource:
    if not name:
        return newest_run(RUNS)
    path = Path(name).expanduser()
    if (path / RUN_CONFIG).is_file():
        return run_source(name, path)
    return ModelSource(name, name)


def run_source(name: str, run: Path) -> ModelSource:
    from rltf.config import load_config

    if not (run / RUN_MODEL).is_dir():
        raise RltfError(f"--model {name}: this run has no {RUN_MODEL}/ yet (it is unfinished or was stopped); "
                        f"finish it with rltf train --resume {name}")
    return ModelSource(name, str(run / RUN_MODEL), load_config(run / RUN_CONFIG))


def newest_run(runs: Path) -> ModelSource:
    finished = [child for child in (runs.iterdir() if runs.is_dir() else ())
                if (child / RUN_CONFIG).is_file() and (child / RUN_MODEL).is_dir()]
    if not finished:
        raise RltfError(f"no --model given and no finished run under ./{runs}; name a model "
                        "(a Hugging Face id, a model folder or a run folder)")
    newest = max(finished, key=lambda child: (child / RUN_MODEL).stat().st_mtime)
    return run_source(str(newest), newest)


def fingerprint(source: ModelSource) -> str:
    """A short hash of a local model's files, so a resumed run can tell its model was not changed
    (trained on, replaced) in between. Each file counts by its name, size and four 1 MiB slices
    spread over it: every weight changes when a model is trained, and copies on other machines
    (torchrun shards) hash the same, which timestamps would not. Hub ids are named by their id."""
    import hashlib

    root = Path(source.path).expanduser()
    if not root.is_dir():
        return f"hub:{source.path}"
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root)}\0{size}\0".encode())
        with open(path, "rb") as handle:
            for offset in sorted({size * i // 4 for i in range(4)}):
                handle.seek(offset)
                digest.update(handle.read(SLICE))
    return digest.hexdigest()[:16]


def load_bench_policy(source: ModelSource, device_name: str, max_new_tokens: int) -> Any:
    """The policy on its device, with prompts cut (keeping their end) to leave room for the completion."""
    from rltf.config import ModelSettings
    from rltf.devices import generation_dtype, resolve_device
    from rltf.policy import load_policy

    device = resolve_device(device_name, "--device")
    trusted = source.run_config.model.trust_remote_code if source.run_config is not None else False
    settings = ModelSettings(name=source.path, trust_remote_code=trusted)
    policy = load_policy(settings, device, generation_dtype(device))
    room = policy.max_positions() - max_new_tokens
    if room < 1:
        raise RltfError(f"--max-new-tokens {max_new_tokens} leaves no room for a prompt: the model takes "
                        f"{policy.max_positions()} positions in all")
    policy.settings = replace(settings, max_prompt_tokens=room)
    policy.model.eval()
    return policy
