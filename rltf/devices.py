"""The torch device a command runs on, checked before a model is loaded onto it."""

from __future__ import annotations

import torch

from rltf.errors import RltfError


def resolve_device(name: str, setting: str) -> torch.device:
    """The device, tried with an empty tensor: torch accepts "cuda:7" or "mps" on a machine
    without them, and would fail only at the first tensor, after the model has loaded."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    advice = f"use auto, cpu, cuda or cuda:N (CUDA devices visible here: {torch.cuda.device_count()})"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise RltfError(f"{setting} {name!r} is not a device name torch knows; {advice}") from None
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RltfError(f"{setting} {name!r} cannot be used here ({reason}); {advice}") from None
    return device


def generation_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 weights on a GPU that has it (generation needs no float32 master weights); the
    checkpoint's own dtype elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None
