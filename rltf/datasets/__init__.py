"""Benchmark loaders: every dataset becomes a list of ``Problem`` the judge can run.

``load_dataset`` is what most callers want. ``load_dataset_report`` also returns the
rows a ``on_error="skip"`` load left out, so a caller can show how many were bad.
"""

from __future__ import annotations

from typing import Callable, Mapping

from rltf.datasets import apps, humaneval, mbpp
from rltf.datasets.records import ON_ERROR_CHOICES, LoadReport, OnError
from rltf.errors import RltfError
from rltf.problems import Problem

Loader = Callable[[str | None, str | None, OnError], LoadReport]

LOADERS: Mapping[str, Loader] = {
    "humaneval": humaneval.load,
    "mbpp": mbpp.load_full,
    "mbpp-sanitized": mbpp.load_sanitized,
    "apps": apps.load,
}
DATASETS: tuple[str, ...] = tuple(LOADERS)

__all__ = ["DATASETS", "LoadReport", "OnError", "load_dataset", "load_dataset_report"]


def load_dataset_report(
    name: str, path: str | None = None, split: str | None = None, *, on_error: OnError = "raise"
) -> LoadReport:
    """Load dataset ``name`` from ``path`` (or its default source) with the skipped rows.

    ``on_error="raise"`` stops at the first bad row with a ``DataError``;
    ``on_error="skip"`` logs a warning per bad row and leaves it out.
    """
    if name not in LOADERS:
        raise RltfError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if on_error not in ON_ERROR_CHOICES:
        raise RltfError(f"on_error must be one of {', '.join(ON_ERROR_CHOICES)}, not {on_error!r}")
    return LOADERS[name](path, split, on_error)


def load_dataset(
    name: str, path: str | None = None, split: str | None = None, *, on_error: OnError = "raise"
) -> list[Problem]:
    """The problems of dataset ``name``; see ``load_dataset_report`` for the arguments."""
    return load_dataset_report(name, path, split, on_error=on_error).problems
