"""Sweep wall time on the Ray launcher with 1, 2, 4 and 8 jobs (`hydra/launcher=ray_cluster`, a local Ray
instance started by the sweep, one CPU per job). Each job is the text smoke run; a first one-job sweep fills
the shared cache, so the measured sweeps time the jobs, not the embeddings. Expectation: wall time flat up to
as many jobs as cores, then growing linearly (jobs per core); `speedup` is jobs x (1-job wall) / wall.
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


def sweep(jobs: int, workdir: Path, cache_dir: Path) -> float:
    """Seconds for one sweep of `jobs` smoke runs on the Ray launcher (Ray's own start-up included)."""
    command = [sys.executable, "-m", "synthlift.run", "-m", "experiment=text/smoke", "logger=none"]
    command += [f"seed=range({jobs})", f"name=ray_{jobs}", "hydra/launcher=ray_cluster", f"paths.cache_dir={cache_dir}"]
    env = {**os.environ, "SYNTHLIFT_OUTPUT_DIR": str(workdir), "WANDB_MODE": "offline", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or f"{jobs} ran ok, 0 failed" not in proc.stdout + proc.stderr:
        raise RuntimeError(f"the {jobs}-job Ray sweep failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def run(quick: bool) -> list[dict]:
    counts = JOB_COUNTS[:2] if quick else JOB_COUNTS
    with tempfile.TemporaryDirectory() as tmp:
        workdir, cache_dir = Path(tmp) / "outputs", Path(tmp) / "cache"
        sweep(1, workdir / "warm-up", cache_dir)
        walls = {jobs: sweep(jobs, workdir, cache_dir) for jobs in counts}
    return [
        {
            "stage": f"Ray sweep of {jobs} smoke jobs ({os.cpu_count()} cores)",
            "n": jobs,
            "seconds": walls[jobs],
            "rate": f"{jobs * walls[1] / walls[jobs]:.2f}x speedup",
        }
        for jobs in counts
    ]
