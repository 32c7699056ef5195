"""Sweep wall time on the Ray launcher with 1, 2, 4 and 8 jobs (`hydra/launcher=ray_cluster`, a local Ray
instance started by the sweep, one CPU per job), against the basic launcher running the largest sweep's jobs
one after another. Each job is the text smoke run with a compute-bound GAN (early stopping off, a fixed
number of epochs), so the walls time the jobs and not only Ray's start-up; a first one-job sweep fills the
shared cache. Expectation: Ray's wall flat up to as many jobs as cores, then growing linearly (jobs per
core), and the largest Ray sweep faster than the basic launcher by about the number of cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthlift.core.paths import PROJECT_ROOT

JOB_COUNTS = (1, 2, 4, 8)
COMPUTE_BOUND = [
    "tricks.early_stopping.enabled=false",
    "gan.max_epochs=3000",
]  # a job: about 22 s on the basic launcher


def sweep(jobs: int, launcher: str, workdir: Path, cache_dir: Path) -> float:
    """Seconds for one sweep of `jobs` compute-bound smoke runs on `launcher` (Ray's own start-up included)."""
    command = [sys.executable, "-m", "synthlift.run", "-m", "experiment=text/smoke", "logger=none", *COMPUTE_BOUND]
    command += [f"seed=range({jobs})", f"name={launcher}_{jobs}", f"hydra/launcher={launcher}"]
    command += [f"paths.cache_dir={cache_dir}"]
    env = {**os.environ, "SYNTHLIFT_OUTPUT_DIR": str(workdir), "WANDB_MODE": "offline", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or f"{jobs} ran ok, 0 failed" not in proc.stdout + proc.stderr:
        raise RuntimeError(f"the {jobs}-job {launcher} sweep failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def run(quick: bool) -> list[dict]:
    counts = JOB_COUNTS[:2] if quick else JOB_COUNTS
    with tempfile.TemporaryDirectory() as tmp:
        workdir, cache_dir = Path(tmp) / "outputs", Path(tmp) / "cache"
        sweep(1, "basic", workdir / "warm-up", cache_dir)
        basic_wall = sweep(counts[-1], "basic", workdir, cache_dir)
        ray_walls = {jobs: sweep(jobs, "ray_cluster", workdir, cache_dir) for jobs in counts}
    rows = [
        {
            "stage": f"basic launcher, {counts[-1]} compute-bound smoke jobs in turn",
            "n": counts[-1],
            "seconds": basic_wall,
            "rate": f"{counts[-1] * 60 / basic_wall:.2f} jobs/min",
        }
    ]
    rows += [
        {
            "stage": f"Ray sweep of {jobs} compute-bound smoke jobs ({os.cpu_count()} cores)",
            "n": jobs,
            "seconds": wall,
            "rate": f"{jobs * 60 / wall:.2f} jobs/min",
        }
        for jobs, wall in ray_walls.items()
    ]
    rows.append(
        {
            "stage": f"Ray vs basic launcher, {counts[-1]} jobs",
            "n": counts[-1],
            "seconds": ray_walls[counts[-1]],
            "rate": f"{basic_wall / ray_walls[counts[-1]]:.2f}x speedup",
        }
    )
    return rows
