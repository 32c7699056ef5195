"""The sweep progress callback: counting a sweep's jobs as Hydra's BasicSweeper does, the lines it
prints, and that nothing in it can stop a sweep."""

from __future__ import annotations

import logging
import os
import pickle

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from omegaconf import OmegaConf

from synthlift.core import sweep_progress
from synthlift.core.results import write_results
from synthlift.core.sweep_progress import (
    BASIC_SWEEPER,
    SweepProgress,
    count_sweep_jobs,
    format_duration,
    sweep_overrides,
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["tricks=a,b", "seed=range(5)"], 10),
        (["tricks=a,b", "seed=range(5)", "name=grid", "gan.lr=1e-3"], 10),  # plain overrides are one value
        (["seed=range(0,10,3)", "+x=choice(1,2,3)"], 12),
        (["seed=range(5)", "seed=0,1"], 2),  # a key given twice keeps its last values (params, then CLI)
        (["x=[1,2]", "y=1"], 1),  # a list value is one value, not a sweep
        ([], 1),
    ],
)
def test_counts_the_cartesian_product_of_sweep_values(overrides, expected):
    assert count_sweep_jobs(overrides) == expected


def test_sweeps_the_basic_sweeper_cannot_enumerate_are_refused():
    with pytest.raises(ValueError, match="not a sweep that the BasicSweeper can enumerate"):
        count_sweep_jobs(["lr=interval(0.1,1.0)"])
    with pytest.raises(HydraException):
        count_sweep_jobs(["seed=0,1,"])


def _config(task=("tricks=a,b",), params=None, num=0, mode="MULTIRUN", sweeper=BASIC_SWEEPER, sweep_dir="missing"):
    hydra = {
        "mode": mode,
        "sweep": {"dir": str(sweep_dir)},
        "overrides": {"task": list(task)},
        "sweeper": {"_target_": sweeper, "params": params},
        "job": {"num": num},
    }
    return OmegaConf.create({"seed": 0, "hydra": hydra})


def test_sweep_overrides_are_the_sweeper_params_then_the_command_line():
    config = _config(task=["seed=0,1", "name=x"], params={"tricks": "a,b", "seed": "range(5)"})
    assert sweep_overrides(config) == ["tricks=a,b", "seed=range(5)", "seed=0,1", "name=x"]
    assert count_sweep_jobs(sweep_overrides(config)) == 4


@pytest.fixture()
def clock(monkeypatch):
    """time.time() as the test sets it."""
    now = [1000.0]
    monkeypatch.setattr(sweep_progress.time, "time", lambda: now[0])
    return now


def _results(sweep_dir, statuses, mtime=None):
    """One job folder per status, each with its results.json (modified at `mtime` if given)."""
    for num, status in enumerate(statuses):
        path = write_results(sweep_dir / f"job{num}", {"status": status})
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def test_lines_give_job_k_of_n_elapsed_and_eta(monkeypatch, caplog, clock, tmp_path):
    monkeypatch.setenv("SYNTHLIFT_PROGRESS", "0")  # plain logging, as in CI or a log file
    caplog.set_level(logging.INFO, logger="synthlift.sweep")
    callback = SweepProgress()
    callback.on_multirun_start(config=_config(task=["tricks=a,b"], params={"seed": "range(5)"}))
    assert callback.total == 10
    for num, duration in enumerate([30.0, 50.0]):
        callback.on_job_start(config=_config(num=num), task_function=None)
        clock[0] += duration
        callback.on_job_end(config=_config(num=num), job_return=JobReturn(status=JobStatus.COMPLETED))
    callback.on_job_start(config=_config(num=2), task_function=None)
    failed = JobReturn(status=JobStatus.FAILED)
    clock[0] += 4000
    callback.on_job_end(config=_config(num=2), job_return=failed)
    _results(tmp_path, ["ok", "ok", "failed"])
    callback.on_multirun_end(config=_config(sweep_dir=tmp_path))  # some jobs ran ok: no exit status
    assert caplog.messages == [
        "sweep of 10 jobs",
        "sweep job 1/10 · elapsed 0s",
        "sweep job 1/10 · elapsed 30s · ETA 4m30s · done in 30s",
        "sweep job 2/10 · elapsed 30s · ETA 4m30s",  # the mean of 30s times the 9 jobs left, this one included
        "sweep job 2/10 · elapsed 1m20s · ETA 5m20s · done in 50s",
        "sweep job 3/10 · elapsed 1m20s · ETA 5m20s",
        "sweep job 3/10 · elapsed 1h08m · ETA 2h38m · failed after 1h06m",
        "sweep finished in 1h08m (10 jobs): 2 ran ok, 1 failed, 7 already finished",
        "failed jobs (their results.json says why): job2",
    ]


def test_a_sweep_whose_jobs_all_failed_exits_non_zero(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("SYNTHLIFT_PROGRESS", "0")
    caplog.set_level(logging.INFO, logger="synthlift.sweep")
    callback = SweepProgress()
    callback.on_multirun_start(config=_config(task=["seed=0,1,2,3"]))
    _results(tmp_path / "earlier", ["ok"], mtime=callback.started_at - 3600)  # an earlier launch's: skipped now
    _results(tmp_path, ["failed", "failed"])
    (tmp_path / "job2").mkdir()
    (tmp_path / "job2" / "results.json").write_text("{ cut off")  # unreadable: counted as failed
    with pytest.raises(SystemExit) as stop:
        callback.on_multirun_end(config=_config(sweep_dir=tmp_path))
    assert stop.value.code == 1
    assert caplog.messages[-2].endswith("(4 jobs): 0 ran ok, 3 failed, 1 already finished")


def test_no_eta_once_every_job_finished(monkeypatch, caplog, clock, tmp_path):
    monkeypatch.setenv("SYNTHLIFT_PROGRESS", "0")
    caplog.set_level(logging.INFO, logger="synthlift.sweep")
    callback = SweepProgress()
    callback.on_multirun_start(config=_config(task=["seed=0"]))
    callback.on_job_start(config=_config(num=0), task_function=None)
    clock[0] += 3
    callback.on_job_end(config=_config(num=0), job_return=JobReturn())
    _results(tmp_path, ["ok"])
    callback.on_multirun_end(config=_config(sweep_dir=tmp_path))
    assert caplog.messages[-2:] == [
        "sweep job 1/1 · elapsed 3s · done in 3s",
        "sweep finished in 3s (1 job): 1 ran ok, 0 failed",
    ]


def test_rich_on_a_terminal(monkeypatch, capsys, clock):
    monkeypatch.setenv("SYNTHLIFT_PROGRESS", "1")
    callback = SweepProgress()
    callback.on_multirun_start(config=_config(task=["tricks=a,b,c"]))
    callback.on_job_start(config=_config(num=1), task_function=None)
    assert "sweep job 2/3 · elapsed 0s" in capsys.readouterr().err


def test_a_worker_copy_knows_n_but_no_eta_and_without_n_prints_job_k(monkeypatch, caplog, clock):
    """The joblib launcher pickles the callback into its workers after on_multirun_start."""
    monkeypatch.setenv("SYNTHLIFT_PROGRESS", "0")
    caplog.set_level(logging.INFO, logger="synthlift.sweep")
    callback = SweepProgress()
    callback.on_multirun_start(config=_config(task=["tricks=a,b", "seed=0,1"]))
    worker = pickle.loads(pickle.dumps(callback))
    monkeypatch.setattr(sweep_progress.os, "getpid", lambda: -1)  # the worker's process
    clock[0] += 5
    worker.on_job_start(config=_config(num=3), task_function=None)
    clock[0] += 10
    worker.on_job_end(config=_config(num=3), job_return=JobReturn())
    worker.on_job_start(config=_config(num=2), task_function=None)  # its next job: still no ETA
    unknown = SweepProgress()
    unknown.on_multirun_start(config=_config(sweeper="hydra_plugins.hydra_optuna_sweeper.OptunaSweeper"))
    pickle.loads(pickle.dumps(unknown)).on_job_start(config=_config(num=6), task_function=None)
    assert caplog.messages[-4:] == [
        "sweep job 4/4 · elapsed 5s",
        "sweep job 4/4 · elapsed 15s · done in 10s",
        "sweep job 3/4 · elapsed 15s",
        "sweep job 7 · elapsed 0s",
    ]


def test_single_runs_print_nothing(monkeypatch, caplog):
    monkeypatch.setenv("SYNTHLIFT_PROGRESS", "0")
    caplog.set_level(logging.DEBUG, logger="synthlift.sweep")
    callback = SweepProgress()
    callback.on_job_start(config=_config(mode="RUN"), task_function=None)
    callback.on_job_end(config=_config(mode="RUN"), job_return=JobReturn())
    assert caplog.messages == []


@pytest.mark.parametrize(
    "config",
    [
        OmegaConf.create({}),
        OmegaConf.create({"hydra": {"mode": "MULTIRUN"}}),  # no job number, no overrides
        _config(task=["seed=0,1,"]),  # an override that does not parse
        _config(task=["x=glob(*)"]),  # a glob needs the config loader, which a fake config has not
        _config(num="not a number"),
    ],
)
def test_never_raises_on_a_broken_config(monkeypatch, config):
    monkeypatch.setenv("SYNTHLIFT_PROGRESS", "0")
    callback = SweepProgress()
    callback.on_multirun_start(config=config)
    callback.on_job_start(config=config, task_function=None)
    callback.on_job_end(config=config, job_return=None)
    callback.on_multirun_end(config=config)


def test_display_errors_are_logged_and_swallowed(monkeypatch, caplog):
    def broken(line):
        raise OSError("stderr closed")

    monkeypatch.setattr(SweepProgress, "_emit", staticmethod(broken))
    callback = SweepProgress()
    callback.on_multirun_start(config=_config())
    assert "sweep progress display failed in on_multirun_start (ignored): OSError: stderr closed" in caplog.text


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (59.6, "1m00s"), (72, "1m12s"), (7500, "2h05m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_registered_in_the_root_config_and_counts_a_real_experiment():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from synthlift.core.paths import PROJECT_ROOT, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        config = compose("text", overrides=["experiment=text/paper_mr"], return_hydra_config=True)
    assert isinstance(instantiate(config.hydra.callbacks.sweep_progress), SweepProgress)
    # tricks: none, paper × protocol: paper, tuned × seed: range(5)
    assert count_sweep_jobs(sweep_overrides(config)) == 20
