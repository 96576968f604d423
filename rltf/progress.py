"""A progress bar for long work that stays out of logs and pipes.

Judging thousands of programs takes minutes, so a person at a terminal wants to see it
move; a CI log or a redirected stream would only fill up with redraws, so there the bar
is silent. Work reports progress through a plain ``advance(n)`` callable and never
depends on rich.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Advance = Callable[[int], None]


def _columns() -> tuple:
    return (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn())


def _ignore(n: int) -> None:
    """Progress sink for when nobody is watching."""


@contextmanager
def progress_bar(description: str, total: int, *, quiet: bool = False, console: Console | None = None) -> Iterator[Advance]:
    """Show a bar for ``total`` units while the block runs; yield ``advance(n)``.

    The bar goes to stderr so stdout stays clean for results. ``advance`` may be called
    from worker threads: rich's progress takes a lock around updates.
    """
    console = console or Console(stderr=True)
    if quiet or not console.is_terminal:
        yield _ignore
        return
    with Progress(*_columns(), console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


StepUpdate = Callable[..., None]


@contextmanager
def step_progress(description: str, total: int, done: int = 0, *, quiet: bool = False,
                  console: Console | None = None) -> Iterator[StepUpdate]:
    """A training bar: steps with ETA plus a line of live figures (reward, pass rate...).

    Yields ``update(info)``: one step done, ``info`` shown beside the bar. Off a terminal
    it prints ``info`` every 10 steps instead, so logs show progress without redraws.
    """
    console = console or Console(stderr=True)
    if quiet:
        yield lambda info="": None
        return
    if not console.is_terminal:
        count = [done]

        def log_line(info: str = "") -> None:
            count[0] += 1
            if count[0] % 10 == 0 or count[0] == total:
                console.print(f"{description} {count[0]}/{total} {info}", highlight=False, soft_wrap=True)

        yield log_line
        return
    with Progress(*_columns(), TextColumn("{task.fields[info]}"), console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, completed=done, info="")
        yield lambda info="": progress.update(task, advance=1, info=info)


@contextmanager
def progress_bars(totals: dict[str, tuple[int, int]], *, quiet: bool = False,
                  console: Console | None = None) -> Iterator[dict[str, Advance]]:
    """Several bars in one display (rich shows one live display at a time), for stages that run
    at once, such as generating and judging: ``{name: (total, done)}`` in, ``{name: advance}`` out."""
    console = console or Console(stderr=True)
    if quiet or not console.is_terminal:
        yield {name: _ignore for name in totals}
        return
    with Progress(*_columns(), console=console, transient=False) as progress:
        tasks = {name: progress.add_task(name, total=total, completed=done) for name, (total, done) in totals.items()}
        yield {name: (lambda n=1, task=task: progress.advance(task, n)) for name, task in tasks.items()}


@contextmanager
def hugging_face_bars(shown: bool) -> Iterator[None]:
    """Hugging Face draws its own tqdm bars ("Loading weights", "Writing model shards"); they must
    obey ``--quiet`` and stay out of logs as rltf's bars do. Its switch is global, so it is put back after."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    if enabled and not shown:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled and not shown:
            hf_logging.enable_progress_bar()
