"""``rltf train``, ``rltf sft`` and ``rltf report``: the training commands of the CLI.

Settings resolve in one order: defaults, then ``--config FILE``, then the flags, then
``--set section.key=value``; the result is one ``TrainConfig``, written to the run folder.
``--resume DIR`` reads that file back and takes no other setting, so a resumed run is
the run that was killed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console

from rltf.config import TrainConfig, apply_overrides, config_from_dict, load_config, parse_assignment, read_toml
from rltf.errors import Interrupted, RltfError
from rltf.plugins import parse_names
from rltf.run_folder import check_resumable

log = logging.getLogger("rltf.train")

CONFIG = typer.Option(None, "--config", metavar="FILE.toml", dir_okay=False, help="Run settings (see docs/training.md).")
MODEL = typer.Option(None, "--model", help="Hugging Face model name or local path; default: the embedded model.")
DATASET = typer.Option(None, "--dataset", help="builtin (default), humaneval, mbpp, mbpp-sanitized or apps.")
DATA_PATH = typer.Option(None, "--data-path", help="Local copy of the dataset.")
FEEDBACK = typer.Option(None, "--feedback", metavar="NAME[,NAME...]", help="Feedback providers (see `rltf plugins`).")
FEEDBACK_OPTIONS = typer.Option(None, "--feedback-options", metavar="FILE.toml", dir_okay=False,
                                help="Provider options, one table per provider.")
OUT = typer.Option(None, "--out", help="Run folder; default: runs/<date-time>.")
SEED = typer.Option(None, "--seed", help="Seed of model init, sampling and data order.")
SAVE_EVERY = typer.Option(None, "--save-every", min=0, help="Checkpoint every N steps (0: never).")
DEVICE = typer.Option(None, "--device", help="auto (default), cpu, cuda, cuda:1...")
SETTINGS = typer.Option(None, "--set", metavar="SECTION.KEY=VALUE", help="Any setting, e.g. --set actor.temperature=0.6.")
QUIET = typer.Option(False, "--quiet", help="No progress bars.")


def train_command(
    config_file: Optional[Path] = CONFIG,
    preset: Optional[str] = typer.Option(None, "--preset", help="Settings to start from, under --config: paper "
                                                                 "(RLTF's published settings, docs/training.md)."),
    model: Optional[str] = MODEL,
    dataset: Optional[str] = DATASET,
    data_path: Optional[Path] = DATA_PATH,
    feedback: Optional[str] = FEEDBACK,
    feedback_options: Optional[Path] = FEEDBACK_OPTIONS,
    out: Optional[Path] = OUT,
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="DIR", file_okay=False,
                                          help="Continue a killed run exactly where its last checkpoint left it."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=0, help="RL steps (0: SFT only)."),
    sft_steps: Optional[int] = typer.Option(None, "--sft-steps", min=0, help="Supervised warm-up steps before RL."),
    mode: Optional[str] = typer.Option(None, "--mode", help="online (default) or offline (sample once, then train)."),
    save_every: Optional[int] = SAVE_EVERY,
    seed: Optional[int] = SEED,
    device: Optional[str] = DEVICE,
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also log to DIR/tensorboard."),
    settings: Optional[List[str]] = SETTINGS,
    quiet: bool = QUIET,
) -> None:
    """Fine-tune a code model with RLTF: supervised warm-up, then online RL from unit-test feedback."""
    flags = {"model.name": model, "data.dataset": dataset, "data.path": _str(data_path), "run.out": _str(out),
             "run.max_steps": max_steps, "sft.steps": sft_steps, "run.mode": mode, "run.save_every": save_every,
             "run.seed": seed, "run.device": device, "run.tensorboard": tensorboard or None}
    flags.update(_feedback_flags(feedback, feedback_options))
    _run(config_file, flags, settings or [], resume, quiet, preset=preset)


def sft_command(
    config_file: Optional[Path] = CONFIG,
    model: Optional[str] = MODEL,
    dataset: Optional[str] = DATASET,
    data_path: Optional[Path] = DATA_PATH,
    out: Optional[Path] = OUT,
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="DIR", file_okay=False,
                                          help="Continue a killed run from its last checkpoint."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Supervised steps."),
    save_every: Optional[int] = SAVE_EVERY,
    seed: Optional[int] = SEED,
    device: Optional[str] = DEVICE,
    settings: Optional[List[str]] = SETTINGS,
    quiet: bool = QUIET,
) -> None:
    """Supervised fine-tuning on reference solutions only (RLTF's warm-up stage), then held-out pass@1."""
    flags = {"model.name": model, "data.dataset": dataset, "data.path": _str(data_path), "run.out": _str(out),
             "sft.steps": steps, "run.save_every": save_every, "run.seed": seed, "run.device": device}
    _run(config_file, flags, settings or [], resume, quiet, forced={"run.max_steps": 0}, command="rltf sft")


def report_command(
    run_dir: Path = typer.Argument(..., metavar="DIR", file_okay=False, help="A run folder made by rltf train."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where the PNGs go; default DIR/plots."),
) -> None:
    """Draw a run's training curves (losses, rewards, pass rate, outcomes, speed) to PNG files."""
    from rltf.report import draw_report

    for path in draw_report(run_dir, out):
        Console().print(str(path), highlight=False, soft_wrap=True)


def resolve_config(config_file: Path | None, flags: dict[str, Any], assignments: list[str],
                   forced: dict[str, Any] | None = None, command: str = "rltf train",
                   preset: str | None = None) -> TrainConfig:
    """Defaults, then the preset, then the file, then the flags, then ``--set``; ``forced`` (what a
    command means) last.

    A setting the command fixes or never reads is refused when given with ``--set`` (the user
    asked for something that would not happen) and named in a warning when it comes from a
    shared config file.
    """
    file_data = read_toml(config_file) if config_file is not None else {}
    config = config_from_dict(_merged(preset_data(preset), file_data), str(config_file or preset_path(preset) or "config"))
    overrides = dict(parse_assignment(a) for a in assignments)
    _refuse_ignored(command, forced or {}, overrides, file_data, config_file)
    config = apply_overrides(config, {k: v for k, v in flags.items() if v is not None}, "command line")
    config = apply_overrides(config, overrides, "--set")
    config = apply_overrides(config, forced or {}, "command line")
    if not config.run.out:
        config.run.out = str(Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
    return config


PRESETS = Path(__file__).parent / "presets"


def preset_path(name: str | None) -> Path | None:
    if name is None:
        return None
    path = PRESETS / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS.glob("*.toml")))
        raise RltfError(f"--preset {name!r}: no such preset; presets: {known}")
    return path


def preset_data(name: str | None) -> dict[str, Any]:
    path = preset_path(name)
    return read_toml(path) if path is not None else {}


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over``'s keys replace ``base``'s, table by table (a config file refines a preset)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# What `rltf sft` never reads: the RL stage's settings (the actor's generation settings and the
# learner's pass sizes still serve its held-out evaluation and its updates).
SFT_READS = {"actor": {"max_new_tokens", "generation_batch", "stop"},
             "learner": {"grad_clip", "micro_batch_size", "pass_cost_tokens", "share_prompts"}}
SFT_IGNORES = {"buffer": None, "feedback": None, "actor": SFT_READS["actor"], "learner": SFT_READS["learner"],
               "run": {"max_steps", "mode", "offline_problems", "eval_every", "overlap"}}


def _ignored_by(command: str, forced: dict[str, Any], key: str) -> bool:
    if key in forced:
        return True
    if command != "rltf sft":
        return False
    section, _, name = key.partition(".")
    name = name.split(".")[0]
    if section not in SFT_IGNORES:
        return False
    listed = SFT_IGNORES[section]
    if section in SFT_READS:
        return name not in listed
    return listed is None or name in listed


def _refuse_ignored(command: str, forced: dict[str, Any], overrides: dict[str, Any], file_data: dict[str, Any],
                    config_file: Path | None) -> None:
    for key in overrides:
        if _ignored_by(command, forced, key):
            raise RltfError(f"--set {key}: {command} does not use this setting (it trains no RL steps); "
                            "use rltf train for RL")
    in_file = [f"{section}.{key}" for section, table in file_data.items() if isinstance(table, dict) for key in table]
    ignored = [key for key in in_file if _ignored_by(command, forced, key)]
    if ignored:
        log.warning("%s: %s ignores %s", config_file, command, ", ".join(ignored))


def _run(config_file: Path | None, flags: dict[str, Any], assignments: list[str], resume: Path | None,
         quiet: bool, forced: dict[str, Any] | None = None, command: str = "rltf train",
         preset: str | None = None) -> None:
    from rltf.distributed.world import is_main_process
    from rltf.trainer import TrainingStopped, train

    if resume is not None:
        given = [name for name, value in flags.items() if value is not None]
        if config_file is not None or assignments or given or preset is not None:
            raise RltfError("--resume takes the run's own config.toml; give no other setting with it")
        check_resumable(resume)
        config = load_config(resume / "config.toml")
        _check_resumed_by(command, config, resume)
        config.run.out = str(resume)
    else:
        config = resolve_config(config_file, flags, assignments, forced, command, preset)
    try:
        summary = train(config, resume=resume is not None, quiet=quiet)
    except TrainingStopped as stop:
        raise Interrupted(f"{stop}; continue it with: {command} --resume {stop.folder}") from None
    if not is_main_process():
        return
    console = Console()
    for name in ("before_sft", "before", "after"):
        if name in summary:
            console.print(f"{name:>10}: held-out pass@1 {summary[name]['pass@1']:.4f}", highlight=False)
    console.print(f"run folder: {config.run.out}", highlight=False, soft_wrap=True)


def _check_resumed_by(command: str, config: TrainConfig, folder: Path) -> None:
    """``rltf sft --resume`` on a run of ``rltf train`` would go on to train its RL steps, which
    the user asked ``sft`` not to do."""
    if command == "rltf sft" and config.run.max_steps > 0:
        raise RltfError(f"--resume {folder}: this run was made by rltf train (run.max_steps = "
                        f"{config.run.max_steps}); continue it with: rltf train --resume {folder}")


def _feedback_flags(names: str | None, options_file: Path | None) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    if names is not None:
        flags["feedback.providers"] = parse_names(names)
    if options_file is not None:
        from rltf.plugins import Plugins
        from rltf.scoring import read_feedback_options

        flags["feedback.options"] = read_feedback_options(options_file, Plugins().providers)
    return flags


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
