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
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
