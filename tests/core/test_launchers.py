"""Sweeps run the same through Hydra's launchers: a job launched by submitit (as on SLURM, here its local
executor) or by Ray (a real Ray cluster on loopback, as `ray start --head` makes on a head node) gives the
metrics the basic launcher gives, and keeps the sweep's folders and exit status."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.text.test_run_text import run_cli

SMOKE = ["-m", "experiment=text/smoke", "logger=none", "seed=0,1"]
RAY = Path(sys.executable).with_name("ray")


def sweep_metrics(workdir: Path, cache_dir: Path, launcher: str, *extra: str) -> tuple[dict[int, dict], str]:
    """Run the two-seed smoke sweep with `launcher`: {seed: metrics} of its results.json files, and its output."""
    workdir.mkdir()
    proc = run_cli(
        *SMOKE, f"name={launcher}", f"hydra/launcher={launcher}", *extra, workdir=workdir, cache_dir=cache_dir
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 ran ok, 0 failed" in proc.stdout + proc.stderr
    records = [json.loads(p.read_text()) for p in sorted((workdir / "outputs/multirun").rglob("results.json"))]
    return {record["seed"]: record["metrics"] for record in records}, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def basic_metrics(tmp_path_factory, shared_cache_dir) -> dict[int, dict]:
    metrics, _ = sweep_metrics(tmp_path_factory.mktemp("launchers") / "basic", shared_cache_dir, "basic")
    assert sorted(metrics) == [0, 1]
    return metrics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def local_ray_cluster(monkeypatch) -> Iterator[str]:
    """A Ray head node on loopback (its own port and short temp dir: Ray's socket paths must stay short), as
    RAY_ADDRESS for the sweep to join; stopped afterwards.

    The cluster uses token authentication with a token of its own, given to the head and the sweep alike:
    `ray start --head` turns tokens on by itself whenever ~/.ray/auth_token exists (any earlier in-process
    `ray.init()` writes one), while a driver given an explicit address does not, so without this the test
    would pass or fail with the machine's history."""
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    address = f"127.0.0.1:{free_port()}"
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    for name, value in auth.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = [str(RAY), "start", "--head", f"--port={address.split(':')[1]}", "--node-ip-address=127.0.0.1"]
    start += ["--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    subprocess.run(start, check=True, env=env, capture_output=True, timeout=180)
    monkeypatch.setenv("RAY_ADDRESS", address)
    try:
        yield address
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_submitit_local_launcher_matches_the_basic_launcher(tmp_path, shared_cache_dir, basic_metrics):
    metrics, _ = sweep_metrics(
        tmp_path / "submitit", shared_cache_dir, "submitit_local", "hydra.launcher.timeout_min=10"
    )
    assert metrics == basic_metrics


@pytest.mark.slow
@pytest.mark.skipif(not RAY.exists(), reason="the ray CLI is not installed beside this Python")
def test_ray_launcher_on_a_local_cluster_matches_the_basic_launcher(
    tmp_path, shared_cache_dir, basic_metrics, local_ray_cluster
):
    metrics, output = sweep_metrics(tmp_path / "ray", shared_cache_dir, "ray_cluster")
    assert metrics == basic_metrics
    # The jobs ran in the cluster's workers, not in the driver: Ray prefixes what they print with the task.
    assert "(_run_job pid=" in output
