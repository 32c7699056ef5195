"""What a person sees while a run works: a `rich` progress bar (with ETA) for each long stage.

Shown only when stderr is a terminal and not under CI, so logs and CI output stay clean. Stages call
`stage_progress(description, total)` and advance it; Lightning fits take `LightningProgress`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from pytorch_lightning import Callback, LightningModule, Trainer


def progress_enabled() -> bool:
    """A live display only for a person at a terminal: never in CI, a log file or a pipe."""
    if os.environ.get("SYNTHLIFT_PROGRESS") in ("0", "1"):
        return os.environ["SYNTHLIFT_PROGRESS"] == "1"
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextlib.contextmanager
def stage_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n=1)`; a bar with elapsed time and ETA when enabled, a no-op otherwise."""
    if not progress_enabled():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


class LightningProgress(Callback):
    """Advances a `stage_progress` bar by one per training batch (GAN steps) of a Lightning fit."""

    def __init__(self, description: str, total: int | None):
        self.description, self.total = description, total
        self._context: contextlib.AbstractContextManager | None = None
        self._advance: Callable[[int], None] = lambda n=1: None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._context = stage_progress(self.description, self.total)
        self._advance = self._context.__enter__()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args) -> None:
        self._advance(1)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None
