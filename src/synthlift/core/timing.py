"""Wall-clock time per pipeline stage, reported in results.json."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class StageTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[f"{stage}_s"] = round(self.seconds.get(f"{stage}_s", 0.0) + time.perf_counter() - start, 3)
