"""The job's log file (`run.log` in its folder), one per attempt.

Hydra's file handler appends, so a job that failed, was interrupted or was killed and then ran again kept
every attempt's lines in one file, the old error just above the new success. Each attempt now starts a
fresh file; the previous attempt's log is kept beside it, named by when it was last written
(`run.2026-12-07T07-40-12.log`), as the `*.log` of a job folder are never moved or read as results.
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path


def keep_previous_log(path: Path) -> Path | None:
    """Rename a non-empty `path` to `<stem>.<its mtime>.log` (`-2`, `-3`... when taken); returns the new name."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    written = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(path.stat().st_mtime))
    for number in itertools.count(1):
        kept = path.with_name(f"{path.stem}.{written}{f'-{number}' if number > 1 else ''}{path.suffix}")
        if not kept.exists():
            path.rename(kept)
            return kept
    raise AssertionError("unreachable")


class FreshAttemptFileHandler(logging.FileHandler):
    """`logging.FileHandler` that starts each attempt of a job in a new file (see the module docstring);
    named in `conf/_run.yaml` as Hydra's job-logging file handler."""

    def __init__(self, filename: str, encoding: str | None = "utf-8", delay: bool = False):
        keep_previous_log(Path(filename))
        super().__init__(filename, mode="w", encoding=encoding, delay=delay)
