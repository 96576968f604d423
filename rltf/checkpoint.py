"""Checkpoints a killed run resumes from exactly: weights, optimizer, buffer, RNG, counters.

A checkpoint is a folder ``checkpoints/step-NNNNNN`` written under a temporary name and
renamed into place, so a crash mid-write leaves the previous checkpoint as the newest
complete one. Only the last ``keep`` are kept.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rltf.errors import RltfError

STATE = "state.pt"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, name: str, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` atomically as ``folder/name`` and drop all but the newest ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    partial = folder / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir()
        torch.save(state, partial / STATE)
        _fsync(partial / STATE)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
    except (OSError, RuntimeError) as error:  # torch reports a full disk as a RuntimeError
        if isinstance(error, RuntimeError) and "writ" not in str(error):
            raise
        shutil.rmtree(partial, ignore_errors=True)
        reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[-1]
        raise RltfError(f"cannot write the checkpoint {final} ({reason}); the newest complete one is kept, "
                        f"and --resume {folder.parent} continues from it once there is room") from None
    for old in checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first (partial ones start with a dot and are never listed)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith("step-") and (p / STATE).is_file())


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path / STATE, map_location="cpu", weights_only=False)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
