"""`hydra/sweeper=optuna_validation`: Optuna tunes against a validation lift only, its study survives the
process (sqlite on the installed SQLAlchemy), and a rerun continues the study instead of starting over."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from hydra_plugins.synthlift_optuna_sweeper.optuna_validation_sweeper import OptunaValidationSweeper, search_space
from tests.core.test_configs import TINY_TEXT
from tests.text.test_run_text import run_cli

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


class FailingLauncher:
    """Every job fails (returns no number), as a setting that always diverges would."""

    def __init__(self):
        self.batches = []

    def launch(self, batch, initial_job_idx):
        self.batches.append(batch)
        return [SimpleNamespace(return_value=None) for _ in batch]


def test_a_study_whose_every_trial_fails_still_ends(tmp_path):
    sweeper = OptunaValidationSweeper(objective="val_lift", **{**SWEEPER, "n_trials": 3, "n_jobs": 2})
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    sweeper.launcher = FailingLauncher()
    sweeper.validate_batch_is_legal = lambda batch: None
    sweeper.sweep(["name=t"])
    assert [len(batch) for batch in sweeper.launcher.batches] == [2, 1]
    assert all("objective=val_lift" in overrides for batch in sweeper.launcher.batches for overrides in batch)
    assert "trials: 3" in (tmp_path / "optimization_results.yaml").read_text()
    assert "best_value" not in (tmp_path / "optimization_results.yaml").read_text()
