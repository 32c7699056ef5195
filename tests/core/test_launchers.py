"""Sweeps run the same through Hydra's launchers: a job launched by submitit (as on SLURM, here its local
executor) gives the metrics the basic launcher gives, and keeps the sweep's folders and exit status."""

from __future__ import annotations

import json

import pytest

from tests.text.test_run_text import run_cli

SMOKE = ["-m", "experiment=text/smoke", "logger=none", "seed=0,1"]


@pytest.mark.slow
def test_submitit_local_launcher_matches_the_basic_launcher(tmp_path, shared_cache_dir):
    results = {}
    for launcher in ("basic", "submitit_local"):
        workdir = tmp_path / launcher
        workdir.mkdir()
        args = [*SMOKE, f"name={launcher}", f"hydra/launcher={launcher}"]
        if launcher == "submitit_local":
            args.append("hydra.launcher.timeout_min=10")
        proc = run_cli(*args, workdir=workdir, cache_dir=shared_cache_dir)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "2 ran ok, 0 failed" in proc.stdout + proc.stderr
        records = [json.loads(p.read_text()) for p in sorted((workdir / "outputs/multirun").rglob("results.json"))]
        results[launcher] = {record["seed"]: record["metrics"] for record in records}
    assert results["submitit_local"] == results["basic"] and sorted(results["basic"]) == [0, 1]
