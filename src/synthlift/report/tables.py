"""What every generated paper table shares: running its sweeps as a user would, and the machine line.

A table module (`report/gupta2019.py`, `report/handsoff.py`, `report/leaderboard.py`, `report/label_budget.py`,
`report/tuning.py`) runs its sweeps with `run_stage` — each a normal `python -m synthlift.run -m` that resumes,
so a rerun with nothing changed trains nothing — reads their runs with `text_runs` (or its own reader for the
image track), judges them with `report/lifts.py`, and renders markdown and figures from the sweeps'
results.json files, never from typed numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from synthlift.core.paths import PROJECT_ROOT
from synthlift.core.results import RESULTS_FILE, package_versions
from synthlift.report.collect import load_runs, metric
from synthlift.report.provenance import code_label


def run_stage(experiment: str, overrides: Sequence[str] = (), track: str = "text", threads: int | None = None) -> int:
    """One sweep of `experiment=<track>/<experiment>` under the track's root config, as a user would start
    it (it resumes: finished jobs are skipped). Returns its exit code. `threads` caps its torch threads
    (OMP_NUM_THREADS, unless the caller's environment sets it) when several stages share the machine."""
    command = [sys.executable, "-m", "synthlift.run", "-m", "--config-name", track, f"experiment={track}/{experiment}"]
    command += list(overrides)
    env = dict(os.environ)
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    print("$ " + " ".join(command[1:]), flush=True)
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=False).returncode


def cpu_model() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):  # /proc/cpuinfo names the model on Linux
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return cpu


def gpu_summary() -> str:
    import torch  # only here: the tables' other work needs no torch, and importing it costs seconds

    if not torch.cuda.is_available():
        return "no GPU"
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return "GPU: " + ", ".join(names)


def machine_summary() -> str:
    """CPU model, cores, GPU (if any) and the versions of the packages that shape the numbers."""
    versions = package_versions()
    packages = ", ".join(f"{name} {versions[name]}" for name in sorted(versions))
    return f"{cpu_model()}, {os.cpu_count()} cores, {gpu_summary()}; {packages}"


def table_parser(prog: str, doc: str, output_name: str) -> argparse.ArgumentParser:
    """The command line every table shares: `--render-only` and `--output experiments/<output_name>`."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--render-only", action="store_true", help="only rewrite the table from existing sweeps")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "experiments" / output_name)
    return parser


# A gap this long with no run going is a sweep stopped and resumed later, not time the table cost.
PAUSE = pd.Timedelta(minutes=10)


def run_span(runs: pd.DataFrame, note: str = "") -> str:
    """When the sweeps ran, from the runs' own timestamps: a table's real wall time, even when resumed
    invocations produced it ("" when the runs predate timestamps). `note` is added inside the parentheses.
    Pauses longer than PAUSE with no run going (a sweep resumed in a later sitting) are said and subtracted,
    so the wall time a reader budgets for is the time the runs took, not the time between sittings."""
    first, last = runs["started"].min(), runs["finished"].max()
    if pd.isna(first) or pd.isna(last):
        return ""
    pauses, covered_until = [], first
    for started, finished in runs[["started", "finished"]].dropna().sort_values("started").itertuples(index=False):
        if started - covered_until > PAUSE:
            pauses.append(started - covered_until)
        covered_until = max(covered_until, finished)
    span = f"the first run started {first:%Y-%m-%d %H:%M} and the last finished {last:%Y-%m-%d %H:%M} UTC "
    wall_min = (last - first).total_seconds() / 60
    if not pauses:
        return span + f"({wall_min:.0f} min wall{note})"
    paused_min = sum(pause.total_seconds() for pause in pauses) / 60
    return span + (
        f"({wall_min - paused_min:.0f} min wall{note}, not counting {len(pauses)} pause(s) of "
        f"{paused_min:.0f} min with no run going between sittings)"
    )


def failures_section(failures: Sequence[str]) -> list[str]:
    """Markdown lines listing the failed runs (none when there are none): a table never hides a failure."""
    return ["", "## Failed runs", "", *(f"- {failure}" for failure in failures)] if failures else []


def text_runs(
    sweep_dirs: Sequence[Path], describe: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> tuple[pd.DataFrame, list[str]]:
    """One row per finished text run of the sweeps: `describe(record)`'s columns (None leaves the run out of
    this table) and the paired accuracies, compute time and start/finish every table shows; and the failures,
    each as `sweep/run dir: error`. Missing sweeps, and sweeps whose first job has not finished, are skipped (a
    table renders what has run so far)."""
    rows, failures = [], []
    for sweep_dir in dict.fromkeys(sweep_dirs):
        if not sweep_dir.is_dir() or next(sweep_dir.rglob(RESULTS_FILE), None) is None:
            continue
        records, unreadable = load_runs(sweep_dir)
        failures += [f"{sweep_dir.name}/{run.run_dir}: {run.error}" for run in unreadable]
        for run_dir, record in records:
            if record.get("status") != "ok":
                failures.append(f"{sweep_dir.name}/{run_dir}: {(record.get('error') or {}).get('message')}")
                continue
            columns = describe(record)
            if columns is None:
                continue
            rows.append(
                {
                    **columns,
                    "seed": record.get("seed"),
                    "acc_real_only": metric(record, "acc_real_only"),
                    "acc_augmented": metric(record, "acc_augmented"),
                    "compute_s": float(sum((record.get("timings") or {}).values())),
                    "started": pd.Timestamp(record["started_at"]),
                    "finished": pd.Timestamp(record["finished_at"]),
                    "code": code_label(record),
                }
            )
    return pd.DataFrame(rows), failures
