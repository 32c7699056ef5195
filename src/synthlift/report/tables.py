"""What every generated paper table shares: running its sweeps as a user would, and the machine line.

A table module (`report/gupta2019.py`, `report/handsoff.py`, `report/leaderboard.py`) runs its sweeps with
`run_stage` — each a normal `python -m synthlift.run -m` that resumes, so a rerun with nothing changed
trains nothing — then renders markdown from the sweeps' results.json files, never from typed numbers.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from synthlift.core.paths import PROJECT_ROOT
from synthlift.core.results import package_versions


def run_stage(experiment: str, overrides: Sequence[str] = (), track: str = "text") -> int:
    """One sweep of `experiment=<track>/<experiment>` under the track's root config, as a user would start
    it (it resumes: finished jobs are skipped). Returns its exit code."""
    command = [sys.executable, "-m", "synthlift.run", "-m", "--config-name", track, f"experiment={track}/{experiment}"]
    command += list(overrides)
    print("$ " + " ".join(command[1:]), flush=True)
    return subprocess.run(command, cwd=PROJECT_ROOT, check=False).returncode


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
    if not torch.cuda.is_available():
        return "no GPU"
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return "GPU: " + ", ".join(names)


def machine_summary() -> str:
    """CPU model, cores, GPU (if any) and the versions of the packages that shape the numbers."""
    versions = package_versions()
    packages = ", ".join(f"{name} {versions[name]}" for name in sorted(versions))
    return f"{cpu_model()}, {os.cpu_count()} cores, {gpu_summary()}; {packages}"
