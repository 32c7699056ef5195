"""Where a Hydra multirun stands: one line per job, `sweep job 3/10 · elapsed 1m12s · ETA 2m48s`.

A Hydra callback, registered in conf/_run.yaml under `hydra.callbacks`. N is counted at the start of
the multirun from the sweep overrides, the way Hydra's BasicSweeper expands them; the ETA is the mean
duration of the finished jobs times the jobs left. Lines are printed with `rich` for a person at a
terminal and logged plainly otherwise (synthlift.core.progress.progress_enabled).

It never stops a sweep: any error inside it is logged and swallowed. At the end it says how many jobs ran
ok, failed or were already finished, and a sweep where every job that ran failed exits with status 1.
With the joblib launcher the jobs run in worker processes, each with its own copy of this callback
taken when the jobs were dispatched: N and the sweep's start are known there, the other jobs' durations
are not, so those lines carry no ETA (and no N where it could not be counted); how the jobs ended is
read off their results.json files.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from synthlift.core.progress import progress_enabled
from synthlift.core.results import RESULTS_FILE, read_results

log = logging.getLogger("synthlift.sweep")
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
T = TypeVar("T")
MTIME_SLACK_S = 1.0  # a file's mtime comes from the kernel's coarse clock: it may read a little before time.time()


def count_sweep_jobs(overrides: Sequence[str], config_loader: Any = None) -> int:
    """How many jobs Hydra's BasicSweeper launches for these overrides (`hydra.sweeper.params` first,
    then the command line's): the product of the number of values of every key, where a key given
    twice keeps its last values. `tricks=a,b seed=range(5)` is 10 jobs. A `glob(...)` sweep needs the
    config loader to list the group's options."""
    values: dict[str, int] = {}
    for override in OverridesParser.create(config_loader=config_loader).parse_overrides(list(overrides)):
        if not override.is_sweep_override():
            values[override.get_key_element()] = 1
        elif override.is_discrete_sweep():
            values[override.get_key_element()] = sum(1 for _ in override.sweep_string_iterator())
        else:
            raise ValueError(f"{override.input_line!r} is not a sweep that the BasicSweeper can enumerate")
    return math.prod(values.values())


def sweep_overrides(config: DictConfig) -> list[str]:
    """The overrides a BasicSweeper expands for this multirun config: its `params`, then the task's."""
    params = config.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=True) if params else {}
    return [f"{key}={value}" for key, value in params.items()] + list(config.hydra.overrides.task)


def _config_loader() -> Any:
    """The running Hydra's config loader (for `glob(...)` sweeps), or None outside a Hydra app."""
    from hydra.core.global_hydra import GlobalHydra

    hydra = GlobalHydra.instance()
    return hydra.config_loader() if hydra.is_initialized() else None


def format_duration(seconds: float) -> str:
    """`45s`, `1m12s`, `2h05m`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _never_raises(hook: Callable[..., T]) -> Callable[..., T | None]:
    """A display must not end a sweep: errors are logged and swallowed (the hook then returns None)."""

    @functools.wraps(hook)
    def guarded(self: SweepProgress, *args: Any, **kwargs: Any) -> T | None:
        try:
            return hook(self, *args, **kwargs)
        except Exception as exc:
            log.warning("sweep progress display failed in %s (ignored): %s: %s", hook.__name__, type(exc).__name__, exc)
            return None

    return guarded


@dataclass(frozen=True)
class SweepOutcome:
    ok: int
    failed: int
    failed_dirs: list[str]


def sweep_outcome(sweep_dir: Path, since: float) -> SweepOutcome:
    """How the jobs that wrote their results.json in `sweep_dir` after `since` (wall-clock seconds) ended:
    the jobs this multirun ran, whichever process ran them. Jobs it skipped as already finished left their
    file untouched; an unreadable file counts as failed."""
    ok, failed = 0, []
    for path in sorted(sweep_dir.rglob(RESULTS_FILE)):
        if path.stat().st_mtime < since - MTIME_SLACK_S:
            continue
        try:
            status = read_results(path).get("status")
        except (OSError, ValueError, AttributeError):
            status = None
        if status == "ok":
            ok += 1
        else:
            failed.append(str(path.parent.relative_to(sweep_dir)))
    return SweepOutcome(ok, len(failed), failed)


def _jobs(n: int) -> str:
    return f"{n} job{'s' * (n != 1)}"


def _is_multirun(config: DictConfig) -> bool:
    mode = OmegaConf.select(config, "hydra.mode", default=None)
    return getattr(mode, "name", mode) == "MULTIRUN"


class SweepProgress(Callback):
    """Prints `sweep job k/N · elapsed … · ETA …` as every job of a multirun starts and ends."""

    def __init__(self) -> None:
        self.total: int | None = None  # jobs in the sweep, None where they could not be counted
        self.started_at: float | None = None  # wall-clock time.time(): comparable across worker processes
        self.durations: list[float] = []  # of the jobs that finished in the sweep's own process
        self._job_started: dict[int, float] = {}
        self._sweep_pid: int | None = None  # a launcher's worker process has another pid, and no ETA

    @_never_raises
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started_at, self._sweep_pid = time.time(), os.getpid()
        self.total = None
        sweeper = OmegaConf.select(config, "hydra.sweeper._target_", default=None)
        if sweeper != BASIC_SWEEPER:  # another sweeper decides its jobs itself (e.g. optuna's trials)
            return
        try:
            self.total = count_sweep_jobs(sweep_overrides(config), _config_loader())
        except Exception as exc:
            log.debug("could not count the sweep's jobs: %s", exc)
            return
        self._emit(f"sweep of {_jobs(self.total)}")

    @_never_raises
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not _is_multirun(config):
            return
        num = int(config.hydra.job.num)
        self._job_started[num] = time.time()
        self._emit(self._line(num, len(self.durations)))

    @_never_raises
    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if not _is_multirun(config):
            return
        num = int(config.hydra.job.num)
        started = self._job_started.pop(num, None)
        if started is None:
            return
        duration = time.time() - started
        if self._sweep_pid == os.getpid():  # a worker's own jobs are not the sweep's finished jobs
            self.durations.append(duration)
        status = getattr(getattr(job_return, "status", None), "name", "COMPLETED")
        done = "failed after" if status == "FAILED" else "done in"
        self._emit(f"{self._line(num, len(self.durations))} · {done} {format_duration(duration)}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """The closing line, with how the jobs ended; a sweep whose every job that ran failed exits with
        status 1, so a script or a scheduler that runs it sees the failure (Hydra itself exits 0)."""
        outcome = self._closing_line(config)
        if outcome is not None and outcome.failed and not outcome.ok:
            raise SystemExit(1)

    @_never_raises
    def _closing_line(self, config: DictConfig) -> SweepOutcome | None:
        if self.started_at is None:
            return None
        outcome = sweep_outcome(Path(config.hydra.sweep.dir), self.started_at)
        jobs = f" ({_jobs(self.total)})" if self.total else ""
        counts = f"{outcome.ok} ran ok, {outcome.failed} failed"
        if self.total and self.total > outcome.ok + outcome.failed:
            counts += f", {self.total - outcome.ok - outcome.failed} already finished"
        self._emit(f"sweep finished in {format_duration(time.time() - self.started_at)}{jobs}: {counts}")
        if outcome.failed:
            log.error("failed jobs (their results.json says why): %s", ", ".join(outcome.failed_dirs))
        return outcome

    def _line(self, num: int, finished: int) -> str:
        """`sweep job k/N · elapsed … · ETA …`, leaving out what this process cannot know."""
        parts = [f"sweep job {num + 1}" + (f"/{self.total}" if self.total else "")]
        if self.started_at is not None:
            parts.append(f"elapsed {format_duration(time.time() - self.started_at)}")
        if self.total and self.durations and finished < self.total:
            parts.append(f"ETA {format_duration(statistics.fmean(self.durations) * (self.total - finished))}")
        return " · ".join(parts)

    @staticmethod
    def _emit(line: str) -> None:
        if progress_enabled():
            from rich.console import Console

            Console(stderr=True, highlight=False).print(line, style="bold cyan", markup=False)
        else:
            log.info(line)
