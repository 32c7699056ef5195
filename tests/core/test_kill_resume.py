"""`kill -9`, Ctrl-C or SIGTERM, then resume: a job killed while training, or while writing its results.json,
leaves no record that reads as finished and no partial artefact in the way; one stopped by Ctrl-C or SIGTERM
also records that it was interrupted (never a result) and exits with the signal's status. Rerunning the
sweep computes it once, with curves and a log that belong to the new attempt only (the stopped attempt's are
kept aside in `unfinished-*/` and `run.<time>.log`)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from omegaconf import OmegaConf

from synthlift.core.interrupts import JobInterrupted
from synthlift.core.results import RESULTS_FILE, UNFINISHED_PREFIX, UNFINISHED_RESULTS
from tests.core.test_run_records import strict_json
from tests.text.test_run_text import run_cli

# A smoke job whose GAN trains long enough to be killed mid-way, curves written as it goes: its first curves are
# flushed a few percent into training, and the test kills it then.
LONG_JOB = ["-m", "experiment=text/smoke", "name=killed", "tricks=text/none", "gan.max_epochs=1000", "logger=csv"]


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting {timeout_s:.0f} s for {what}")
        time.sleep(0.2)


def start_long_job(workdir, cache_dir) -> subprocess.Popen:
    """LONG_JOB in its own process group (so a signal reaches it and its workers, as from a terminal)."""
    command = [sys.executable, "-m", "synthlift.run", *LONG_JOB, f"paths.cache_dir={cache_dir}"]
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("SYNTHLIFT_OUTPUT_DIR", None)
    return subprocess.Popen(
        command, cwd=workdir, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.slow
def test_a_job_killed_during_training_resumes_to_one_finished_result(tmp_path, shared_cache_dir):
    victim = start_long_job(tmp_path, shared_cache_dir)
    try:  # training has written curves: kill the whole process group, as the OOM killer or `kill -9` would
        wait_for(lambda: any(tmp_path.rglob("csv/metrics.csv")), 300, "the GAN's first training curves")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)
    [job_dir] = [path.parents[1] for path in tmp_path.rglob("csv/metrics.csv")]
    assert not (job_dir / RESULTS_FILE).exists(), "a killed job must not leave a record"
    killed_curve = (job_dir / "csv/metrics.csv").read_text()

    rerun = run_cli(*LONG_JOB, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 ran ok, 0 failed" in rerun.stdout + rerun.stderr
    assert strict_json(job_dir / RESULTS_FILE)["status"] == "ok"
    assert len(list(tmp_path.rglob(RESULTS_FILE))) == 1
    [kept] = list(job_dir.glob(f"{UNFINISHED_PREFIX}*"))
    assert (kept / "csv/metrics.csv").read_text() == killed_curve, "the killed attempt's curves kept apart"
    new_curve = (job_dir / "csv/metrics.csv").read_text()
    assert new_curve.count("epoch") == 1 and not new_curve.startswith(killed_curve), "curves of one attempt only"
    assert not list(job_dir.rglob("*.tmp"))


KILLED_WRITER = textwrap.dedent(
    """
    import os, pathlib, signal, sys
    from synthlift.core.results import write_results
    half_written = pathlib.Path.write_text
    def die_half_way(self, text, *args, **kwargs):  # half the JSON on disk, then SIGKILL before the rename
        half_written(self, text[: len(text) // 2], *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    pathlib.Path.write_text = die_half_way
    write_results(sys.argv[1], {"status": "ok", "metrics": {"lift": 0.5}, "config_fingerprint": "new"})
    """
)


def finished_pipeline(cfg, run_dir, loggers):
    return {"metrics": {"acc_real_only": 0.5, "acc_augmented": 0.6, "lift": 0.1}, "lift_pairs": {"lift": []}}


@pytest.mark.parametrize("earlier", ["none", "failed"])
def test_a_job_killed_while_writing_results_json_reruns_cleanly(tmp_path, earlier):

    from synthlift.run import execute

    run_dir = tmp_path / "job"
    run_dir.mkdir()
    if earlier == "failed":  # the folder already holds a failed record: the killed write must not corrupt it
        (run_dir / RESULTS_FILE).write_text(json.dumps({"status": "failed", "error": {"message": "earlier"}}))
    before = (run_dir / RESULTS_FILE).read_bytes() if earlier == "failed" else None
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(run_dir)], check=False, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    [orphan] = list(run_dir.glob(".*.tmp"))  # the half-written temporary file, never renamed into place
    assert before is None and not (run_dir / RESULTS_FILE).exists() or (run_dir / RESULTS_FILE).read_bytes() == before

    record = execute(pipeline_job("finished_pipeline", tmp_path / "cache"), run_dir, [])
    assert record["status"] == "ok" and strict_json(run_dir / RESULTS_FILE)["metrics"]["lift"] == pytest.approx(0.1)
    assert not orphan.exists() and not list(run_dir.rglob("*.tmp"))
    assert not list(run_dir.rglob(UNFINISHED_RESULTS)), "a failed record with nothing beside it is just replaced"


def interrupted_pipeline(cfg, run_dir, loggers):
    """A stage that has written part of its output when Ctrl-C or a scheduler's SIGTERM arrives."""
    (run_dir / "synthetic_shard.npz").write_bytes(b"half a synthetic set")
    os.kill(os.getpid(), cfg.stop_signal)
    time.sleep(30)  # never reached: the signal unwinds the stack first
    raise AssertionError(f"signal {cfg.stop_signal} did not stop the job")


def pipeline_job(pipeline: str, cache_dir, **keys):

    target = {"_target_": f"{__name__}.{pipeline}", "_partial_": True}
    return OmegaConf.create(
        {"name": "t", "seed": 0, "paths": {"cache_dir": str(cache_dir)}, "pipeline": target, **keys}
    )


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=lambda stop: stop.name)
def test_a_stopped_job_records_that_it_was_interrupted_and_sets_its_partial_output_aside(tmp_path, stop):
    from synthlift.run import execute

    run_dir = tmp_path / "job"
    run_dir.mkdir()
    handlers_before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(JobInterrupted) as stopped:
        execute(pipeline_job("interrupted_pipeline", tmp_path / "cache", stop_signal=int(stop)), run_dir, [])
    assert stopped.value.exit_code == 128 + stop
    assert {signum: signal.getsignal(signum) for signum in handlers_before} == handlers_before

    record = strict_json(run_dir / RESULTS_FILE)
    assert record["status"] == "interrupted" and record["error"]["signal"] == stop.name, record
    assert "not a result" in record["error"]["message"] and "metrics" not in record
    [aside] = list(run_dir.glob(f"{UNFINISHED_PREFIX}*"))
    assert [path.name for path in aside.iterdir()] == ["synthetic_shard.npz"]
    assert {path.name for path in run_dir.iterdir()} == {RESULTS_FILE, ".job.lock", aside.name}

    resumed = execute(pipeline_job("finished_pipeline", tmp_path / "cache"), run_dir, [])
    assert resumed["status"] == "ok", "an interrupted job runs again when its sweep is resumed"


@pytest.mark.slow
def test_ctrl_c_on_a_sweep_exits_130_with_an_interrupted_record_and_its_curves_set_aside(tmp_path, shared_cache_dir):
    victim = start_long_job(tmp_path, shared_cache_dir)
    try:  # training has written curves: Ctrl-C, which the terminal sends to the whole process group
        wait_for(lambda: any(tmp_path.rglob("csv/metrics.csv")), 300, "the GAN's first training curves")
        os.killpg(victim.pid, signal.SIGINT)
        assert victim.wait(timeout=120) == 130
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
    [job_dir] = [path.parent for path in tmp_path.rglob(RESULTS_FILE)]
    assert strict_json(job_dir / RESULTS_FILE)["status"] == "interrupted"
    [aside] = list(job_dir.glob(f"{UNFINISHED_PREFIX}*"))
    assert (aside / "csv/metrics.csv").exists() and not (job_dir / "csv").exists()
    assert "Interrupted (SIGINT)" in (job_dir / "run.log").read_text()


def test_each_attempt_of_a_job_starts_a_fresh_log_and_keeps_the_previous_one(tmp_path):
    """Hydra's job log is opened by the handler `conf/_run.yaml` names: a second attempt in the same folder
    writes a new run.log and keeps the first one's as run.<time>.log."""
    from hydra.utils import get_class

    from tests.core.test_configs import compose_root

    handler = compose_root("text", hydra=True).hydra.job_logging.handlers.file
    handler_class = get_class(handler["class"])
    log = tmp_path / "run.log"
    for attempt in ("first attempt failed", "second attempt ran"):
        opened = handler_class(str(log))
        opened.emit(logging.LogRecord("synthlift.run", logging.INFO, __file__, 1, attempt, None, None))
        opened.close()
    [kept] = list(tmp_path.glob("run.*.log"))
    assert kept.read_text() == "first attempt failed\n" and log.read_text() == "second attempt ran\n"
