"""`hydra/sweeper=optuna_validation`: Optuna tunes against a validation lift only, its study survives the
process (sqlite on the installed SQLAlchemy), and a rerun continues the study instead of starting over."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

from hydra_plugins.synthlift_optuna_sweeper.optuna_validation_sweeper import (
    OptunaValidationSweeper,
    recorded_validation_metrics,
    search_space,
)
from synthlift.core.paths import PROJECT_ROOT
from tests.text.test_run_text import run_cli

# The sweeper's refusals (`NoBestSettingError`) are CompactHydraExceptions: the CLI prints the message alone
# and exits with status 1. Matched by that base class, because Hydra's plugin scan (run by `compose`)
# executes the plugin's module again, so the class imported here need not be the one the sweeper raises.
REFUSED = CompactHydraException

SPACE = {"gan.lr_generator": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}}
SWEEPER = dict(direction="maximize", n_trials=2, n_jobs=1, study_name="s", storage=None, sampler_seed=0, params=SPACE)


def test_an_objective_measured_on_the_test_set_is_refused():
    with pytest.raises(ValueError, match=r"hydra.sweeper.objective=lift is not a validation metric"):
        OptunaValidationSweeper(objective="lift", **SWEEPER)
    assert OptunaValidationSweeper(objective="val_lift", **SWEEPER).objective == "val_lift"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "uniform", "low": 0, "high": 1}, r"params.k.type='uniform' is invalid: expected one of float"),
        ({"type": "float", "low": 1, "high": 1}, r"params.k: low=1 and high=1 must be numbers with low < high"),
        ({"type": "float", "low": 0, "high": 1, "log": True}, r"params.k.low=0 must be > 0 on a log scale"),
        ({"type": "categorical", "choices": []}, r"params.k.choices must list at least one value"),
    ],
)
def test_a_bad_search_space_names_its_key(spec, message):
    with pytest.raises(ValueError, match=message):
        search_space({"k": spec})


def test_search_space_builds_optuna_distributions():
    space = search_space({**SPACE, "gan.hidden_dim": {"type": "categorical", "choices": [128, 256]}})
    assert space["gan.lr_generator"].log and space["gan.lr_generator"].high == 1e-3
    assert space["gan.hidden_dim"].choices == (128, 256)


@pytest.mark.slow
def test_the_study_tunes_on_validation_and_a_rerun_continues_it(tmp_path, shared_cache_dir):
    # Imported here: this module is also a job's pipeline module (below), and test_configs composes configs
    # when imported, which a running Hydra app refuses.
    from tests.core.test_configs import TINY_TEXT

    tune = ["-m", "experiment=text/tune_gan", "hydra.launcher.n_jobs=1", *TINY_TEXT]
    first = run_cli(*tune, "hydra.sweeper.n_trials=2", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    sweep_dir = tmp_path / "outputs/multirun/tune_gan"
    records = [json.loads(p.read_text()) for p in sweep_dir.rglob("results.json")]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    # Every job returned its validation lift to Optuna, and that is what the study ranked.
    assert all("objective=val_lift" in r["overrides"] for r in records)
    best = (sweep_dir / "optimization_results.yaml").read_text()
    best_value = max(r["metrics"]["val_lift"] for r in records)
    assert "objective: val_lift" in best and f"best_value: {best_value}" in best
    assert (tmp_path / "outputs/optuna/tune_gan.db").is_file()

    again = run_cli(*tune, "hydra.sweeper.n_trials=3", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(list(sweep_dir.rglob("results.json"))) == 3, "the stored study held 2 trials: one more ran"
    assert "trials: 3" in (sweep_dir / "optimization_results.yaml").read_text()


class FixedLauncher:
    """Every job returns `value` (None: a job that failed or did not record the objective), no job runs."""

    def __init__(self, value=None):
        self.value, self.batches = value, []

    def launch(self, batch, initial_job_idx):
        self.batches.append(batch)
        return [SimpleNamespace(return_value=self.value) for _ in batch]


def sweeper_on(config, sweep_dir, launcher, objective="val_lift", **settings):
    """The sweeper as Hydra sets it up for `config`, its jobs launched by `launcher`."""
    sweeper = OptunaValidationSweeper(objective=objective, **{**SWEEPER, **settings})
    OmegaConf.set_struct(config, False)
    config.hydra = {"sweep": {"dir": str(sweep_dir)}}
    sweeper.config, sweeper.launcher = config, launcher
    sweeper.validate_batch_is_legal = lambda batch: None
    return sweeper


def test_each_pipeline_lists_the_validation_metrics_its_config_records(compose_config):
    text_names = {"val_lift", "val_acc_augmented", "val_acc_real_only"}
    assert set(recorded_validation_metrics(compose_config("text"))) == text_names | {"val_acc_selected"}
    assert set(recorded_validation_metrics(compose_config("text", "tricks=text/none"))) == text_names
    assert recorded_validation_metrics(compose_config("image")) == [], "no validation set, no val_ metric"
    image = recorded_validation_metrics(compose_config("image", "+dataset.validation_size=50"))
    assert {"val_lift_miou", "val_miou_augmented", "val_miou_real_only", "val_iou_*_augmented"} <= set(image)
    assert not any("transfer" in name for name in image)
    transfer = recorded_validation_metrics(compose_config("image", "experiment=image/transfer_tuning"))
    assert {"val_miou_transfer", "val_lift_over_transfer_miou"} <= set(transfer)


@pytest.mark.parametrize(
    ("root", "overrides", "objective", "expected"),
    [
        ("text", [], "val_lfit", r"expected one of val_lift, val_acc_augmented, val_acc_real_only"),
        ("text", ["tricks=text/none"], "val_acc_selected", r"expected one of val_lift, "),
        ("image", [], "val_lift_miou", r"expected none: .* needs dataset.validation_size > 0"),
        ("image", ["+dataset.validation_size=50"], "val_lift_over_transfer_miou", r"expected one of val_lift_miou"),
    ],
)
def test_an_objective_no_job_records_is_refused_before_any_trial(
    compose_config, tmp_path, root, overrides, objective, expected
):
    launcher = FixedLauncher(0.1)
    sweeper = sweeper_on(compose_config(root, *overrides), tmp_path, launcher, objective=objective)
    with pytest.raises(REFUSED, match=rf"hydra.sweeper.objective={objective} is not a metric .*{expected}"):
        sweeper.sweep(["name=t"])
    assert launcher.batches == [], "refused before the first trial"


@pytest.mark.parametrize(
    ("root", "overrides", "objective"),
    [
        ("text", [], "val_acc_real_only"),
        ("image", ["+dataset.validation_size=50"], "val_iou_horse_augmented"),  # a class known from the data
    ],
)
def test_an_objective_the_pipeline_can_record_is_tuned_on(compose_config, tmp_path, root, overrides, objective):
    launcher = FixedLauncher(0.1)
    sweeper_on(compose_config(root, *overrides), tmp_path, launcher, objective=objective, n_trials=1).sweep(["name=t"])
    [[job]] = launcher.batches
    assert job[:2] == ["name=t", f"objective={objective}"]
    assert "best_value: 0.1" in (tmp_path / "optimization_results.yaml").read_text()


def test_a_study_whose_every_trial_fails_ends_with_an_error(tmp_path):
    launcher = FixedLauncher()
    sweeper = sweeper_on(OmegaConf.create(), tmp_path, launcher, n_trials=3, n_jobs=2)
    with pytest.raises(REFUSED, match=r"none of the 3 trials of the in-memory study returned a finite val_lift"):
        sweeper.sweep(["name=t"])
    assert [len(batch) for batch in launcher.batches] == [2, 1], "failed trials count: the sweep still ends"
    assert all("objective=val_lift" in overrides for batch in launcher.batches for overrides in batch)
    assert "trials: 3" in (tmp_path / "optimization_results.yaml").read_text()
    assert "best_value" not in (tmp_path / "optimization_results.yaml").read_text()


def test_rerunning_a_stored_study_whose_every_trial_failed_says_how_to_start_a_fresh_one(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    first = sweeper_on(OmegaConf.create(), tmp_path, FixedLauncher(), storage=storage)
    with pytest.raises(REFUSED, match=r"\(2 launched now; hydra.sweeper.n_trials=2\)"):
        first.sweep(["name=t"])
    again = FixedLauncher(0.1)
    with pytest.raises(REFUSED) as refused:
        sweeper_on(OmegaConf.create(), tmp_path, again, storage=storage).sweep(["name=t"])
    assert again.batches == [], "failed trials are not run again"
    assert "none of the 2 trials of study 's' in sqlite:///" in str(refused.value)
    assert "none launched now: the study already held them all" in str(refused.value)
    assert "start a fresh study with hydra.sweeper.study_name=<a new name>" in str(refused.value)
    fresh = FixedLauncher(0.1)
    sweeper_on(OmegaConf.create(), tmp_path, fresh, storage=storage, study_name="s2").sweep(["name=t"])
    assert len(fresh.batches) == 2 and "best_value: 0.1" in (tmp_path / "optimization_results.yaml").read_text()


def pipeline_without_validation_metrics(cfg, run_dir, loggers) -> dict:
    """A run that finishes (`ok`) having measured the test lift only, and whose module lists no
    `validation_metric_names`: only its trials can show that it never returns `val_lift`."""
    return {"metrics": {"lift": 0.1}, "lift_pairs": {"lift": ["acc_augmented", "acc_real_only"]}}


@pytest.mark.slow
def test_a_sweep_with_no_best_setting_exits_1_and_so_does_its_rerun(tmp_path, shared_cache_dir, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the jobs import this module's pipeline
    sweep = [
        "-m", "hydra/sweeper=optuna_validation", "hydra/launcher=basic", "name=nothing", "logger=none",
        f"pipeline._target_={__name__}.pipeline_without_validation_metrics", "hydra.sweeper.n_trials=2",
        "+hydra.sweeper.params.seed={type: int, low: 0, high: 9}",
    ]  # fmt: skip
    first = run_cli(*sweep, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "No best setting: none of the 2 trials of study 'nothing'" in first.stderr
    assert "(2 launched now; hydra.sweeper.n_trials=2)" in first.stderr
    assert len(list(tmp_path.rglob("results.json"))) == 2

    again = run_cli(*sweep, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "none launched now: the study already held them all" in again.stderr
    assert "start a fresh study with hydra.sweeper.study_name=<a new name>" in again.stderr
    assert len(list(tmp_path.rglob("results.json"))) == 2, "the failed trials were not run again"
