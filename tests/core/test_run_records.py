"""What a run records must be true: results.json is strict JSON, every launched job leaves a record, and a
key added with a typo is refused (found by trying the tool as a hostile user). A finite blow-up recorded as
a failure: tests/text/test_run_text.py::test_a_diverging_job_is_recorded_and_the_sweep_goes_on. Two
launches of one job compute it once."""

from __future__ import annotations

import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from synthlift.core.config import check_added_keys
from synthlift.core.errors import ConfigError
from synthlift.core.results import Unmeasured, strict_metrics, write_results
from synthlift.run import check_track_options, execute
from tests.text.test_run_text import only_results, run_cli

SMOKE = ["experiment=text/smoke", "logger=none"]


def strict_json(path) -> dict:
    """Parse as strict JSON: NaN, Infinity and -Infinity are refused."""

    def refuse(constant: str):
        raise ValueError(f"{path} holds the non-JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.slow
def test_a_metric_that_cannot_be_computed_is_null_with_its_reason(tmp_path, shared_cache_dir):
    """One training example per class has no within-class distance: null and why, never NaN."""
    args = [*SMOKE, "dataset.train_per_class=1", "tricks=text/none"]
    proc = run_cli(*args, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = list(tmp_path.rglob("results.json"))
    record = strict_json(path)
    assert record["status"] == "ok"
    assert record["metrics"]["diversity_ratio"] is None and record["metrics"]["diversity_real"] is None
    assert "no class has two examples" in record["unmeasured"]["diversity_ratio"]
    assert math.isfinite(record["metrics"]["lift"])


@pytest.mark.slow
def test_every_launched_job_leaves_a_record_even_when_its_config_does_not_resolve(tmp_path, shared_cache_dir):
    """Config errors once happened before the job's try: a traceback, no results.json, 'Failed runs (0)'."""
    sweep = ["-m", *SMOKE, "name=broken", "dataset.source=${paths.nope},${oops:}", "+typo.key=1"]
    proc = run_cli(*sweep, workdir=tmp_path, cache_dir=shared_cache_dir)
    # The sweep goes on past a failed job, and exits non-zero because every job failed.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ": 0 ran ok, 2 failed" in proc.stdout + proc.stderr
    records = [strict_json(p) for p in tmp_path.rglob("results.json")]
    assert len(records) == 2 and all(r["status"] == "failed" for r in records)
    assert all(r["error"]["type"] == "ConfigError" and "does not resolve" in r["error"]["message"] for r in records)
    report = run_cli(str(tmp_path / "outputs" / "multirun" / "broken"), workdir=tmp_path, cache_dir=shared_cache_dir,
                     module="synthlift.report")  # fmt: skip
    assert report.returncode == 1 and "no finished run" in report.stderr  # the report is written, not a success
    assert "Failed runs (2)" in (tmp_path / "outputs/multirun/broken/report.md").read_text()


@pytest.mark.slow
def test_a_key_added_with_a_typo_is_refused_with_the_known_keys(tmp_path, shared_cache_dir):
    proc = run_cli(*SMOKE, "+gan.lr_generatr=1", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 1
    record, _ = only_results(tmp_path)
    assert record["status"] == "failed" and record["error"]["type"] == "ConfigError"
    assert "gan.lr_generatr is not a known key" in record["error"]["message"]
    assert "lr_generator" in record["error"]["message"]


def test_added_keys_are_checked_against_the_component_that_would_read_them(compose_config):
    cfg = compose_config("text")
    check_added_keys(cfg, ["+gan.lr_generator=1", "++seed=3", "+experiment=text/smoke", "+dataset.hf.split=train"])
    with pytest.raises(ConfigError, match=r"seeds is not a known key at the top level; the known keys are .*seed"):
        check_added_keys(cfg, ["+seeds=3"])
    with pytest.raises(ConfigError, match=r"augment.rato is not a known key: augment \(synthlift.augment.mix.Mix\)"):
        check_added_keys(cfg, ["+augment.rato=2"])


def test_an_option_of_the_other_track_is_named_as_such():
    check_track_options("text", {"dataset": "text/mr", "embedder": "minilm", "hydra/launcher": "basic"})
    with pytest.raises(ConfigError, match=r"dataset=text/mr is an option of the text track.*--config-name text"):
        check_track_options("image", {"dataset": "text/mr"})


def test_results_are_strict_json_with_reasons_for_every_null(tmp_path):
    metrics = {"a": 0.5, "b": float("nan"), "c": float("inf"), "d": Unmeasured("one class only")}
    values, reasons = strict_metrics(metrics)
    assert values == {"a": 0.5, "b": None, "c": None, "d": None}
    assert reasons == {"b": "not finite (nan)", "c": "not finite (inf)", "d": "one class only"}
    write_results(tmp_path, {"status": "ok", "metrics": metrics, "timings": {"gan_s": float("nan")}})
    record = strict_json(tmp_path / "results.json")
    assert record["metrics"]["d"] is None and record["unmeasured"]["d"] == "one class only"
    assert record["timings"]["gan_s"] is None


pipeline_calls: list[Path] = []


def slow_pipeline(cfg, run_dir: Path, loggers) -> dict:
    """A pipeline that takes long enough for a second launch of its job to arrive while it runs."""
    pipeline_calls.append(run_dir)
    time.sleep(1.0)
    metrics = {"acc_real_only": 0.5, "acc_augmented": 0.6, "lift": 0.1}
    return {"metrics": metrics, "lift_pairs": {"lift": ["acc_augmented", "acc_real_only"]}}


def test_two_launches_of_one_job_at_once_compute_it_once(tmp_path, caplog):
    """Two sweeps started together (or a relaunch while the first runs) share every job folder."""
    pipeline = {"_target_": f"{__name__}.slow_pipeline", "_partial_": True}
    cfg = OmegaConf.create(
        {"name": "t", "seed": 0, "paths": {"cache_dir": str(tmp_path / "cache")}, "pipeline": pipeline}
    )
    run_dir = tmp_path / "job"
    caplog.set_level(logging.INFO, logger="synthlift.run")
    pipeline_calls.clear()
    with ThreadPoolExecutor(2) as pool:  # two open file descriptions: their locks exclude each other
        first = pool.submit(execute, cfg, run_dir, [])
        time.sleep(0.2)
        second = pool.submit(execute, cfg, run_dir, [])
        records = [first.result(), second.result()]
    assert pipeline_calls == [run_dir]
    assert records[0] == records[1] and records[0]["status"] == "ok"
    assert any("Job running in another process (pid " in message for message in caplog.messages)
    assert any("Already finished" in message for message in caplog.messages)


def _record_pipeline(cfg, run_dir, loggers) -> dict:
    metrics = {"acc_real_only": 0.5, "acc_augmented": 0.6, "lift": 0.1}
    return {"metrics": metrics, "lift_pairs": {"lift": ["acc_augmented", "acc_real_only"]}}


def _job(tmp_path: Path, **extra):
    pipeline = {"_target_": f"{__name__}._record_pipeline", "_partial_": True}
    return OmegaConf.create(
        {"name": "t", "seed": 0, "paths": {"cache_dir": str(tmp_path / "cache")}, "pipeline": pipeline, **extra}
    )


def test_a_config_whose_keys_mix_types_gets_a_fingerprint_and_a_record(tmp_path):
    """A label map read from YAML as `{1: 0, neg: 1}` mixes int and str keys: json.dumps(sort_keys=True) raised
    TypeError inside the fingerprint, before any record existed (issue 22, class 3)."""
    record = execute(_job(tmp_path, dataset={"label_map": {1: 0, "neg": 1}}), tmp_path / "mixed", [])
    assert record["status"] == "ok" and record["config_fingerprint"]
    other = execute(_job(tmp_path, dataset={"label_map": {"1": 0, "neg": 1}}), tmp_path / "strings", [])
    assert other["config_fingerprint"] != record["config_fingerprint"]  # 1 and "1" are different labels


def test_an_unexpected_error_before_the_job_starts_still_leaves_a_failed_record(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("digest exploded")

    monkeypatch.setattr("synthlift.run.input_digests", broken)
    record = execute(_job(tmp_path), tmp_path / "job", [])
    stored = strict_json(tmp_path / "job" / "results.json")
    assert record["status"] == stored["status"] == "failed"
    assert stored["error"]["type"] == "RuntimeError" and "digest exploded" in stored["error"]["message"]
    assert "traceback" in stored["error"]  # a bug, not a bad input: kept for the fix
