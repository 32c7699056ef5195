"""`hydra/sweeper=optuna_validation`: Optuna proposes settings, the configured launcher runs them as jobs.

The maintained hydra-optuna-sweeper plugin requires optuna < 3, which does not work with SQLAlchemy 2; this
sweeper uses the installed Optuna (ask/tell) and its RDB storage on the installed SQLAlchemy (sqlite by
default), so a study survives the process and a rerun continues it. It tunes against a *validation* metric
only: every job gets `objective=<metric>` and returns that metric, and an objective measured on the test
set is refused, so the test lift stays an honest estimate of the tuned setting.

A sweep never ends "successfully" with nothing: an objective the configured pipeline does not record is
refused before the first trial, and a sweep that ends with no finished trial (every one failed or returned
no number, in this run or a stored study's earlier ones) exits with status 1, saying how to start over.
"""

from __future__ import annotations

import fnmatch
import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
VALIDATION_PREFIX = "val_"
DISTRIBUTIONS = ("float", "int", "categorical")


class NoBestSettingError(CompactHydraException):
    """A sweep that cannot end with a best setting: its objective is recorded by no job, or no trial of its
    study finished. A CompactHydraException, so Hydra prints the message alone (no traceback) and exits with
    status 1, as it does for the refusals raised while the sweeper is built."""


def search_space(params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`{key: {type: float|int, low, high, log} | {type: categorical, choices}}` -> Optuna distributions,
    each checked with a message that names `hydra.sweeper.params.<key>`."""
    import optuna.distributions as dist

    space = {}
    for key, spec in params.items():
        where = f"hydra.sweeper.params.{key}"
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        if kind not in DISTRIBUTIONS:
            raise ValueError(f"{where}.type={kind!r} is invalid: expected one of {', '.join(DISTRIBUTIONS)}")
        if kind == "categorical":
            choices = list(spec.get("choices") or [])
            if not choices:
                raise ValueError(f"{where}.choices must list at least one value")
            space[key] = dist.CategoricalDistribution(choices)
            continue
        low, high, log_scale = spec.get("low"), spec.get("high"), bool(spec.get("log", False))
        if low is None or high is None or not low < high:
            raise ValueError(f"{where}: low={low!r} and high={high!r} must be numbers with low < high")
        if log_scale and low <= 0:
            raise ValueError(f"{where}.low={low!r} must be > 0 on a log scale")
        make = dist.FloatDistribution if kind == "float" else dist.IntDistribution
        space[key] = make(low, high, log=log_scale)
    return space


def recorded_validation_metrics(config: DictConfig) -> list[str] | None:
    """The validation metrics a job of `config` can return: `validation_metric_names(config)` of the module
    that defines its `pipeline._target_` (each pipeline module lists them; a `*` stands for a name known
    only from the data, e.g. a class). None for a pipeline whose module lists none: it cannot be checked
    before it runs."""
    target = OmegaConf.select(config, "pipeline._target_", default=None)
    names = getattr(inspect.getmodule(get_method(target)), "validation_metric_names", None) if target else None
    return None if names is None else list(names(config))


class OptunaValidationSweeper(Sweeper):
    def __init__(
        self,
        objective: str,
        direction: str,
        n_trials: int,
        n_jobs: int,
        study_name: str,
        storage: str | None,
        sampler_seed: int,
        params: Mapping[str, Mapping[str, Any]],
    ):
        if not str(objective).startswith(VALIDATION_PREFIX):
            raise ValueError(
                f"hydra.sweeper.objective={objective} is not a validation metric: tuning on the test set would make "
                f"its lift optimistic; use a `{VALIDATION_PREFIX}` metric (val_lift for text, val_lift_miou for images)"
            )
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"hydra.sweeper.direction={direction} is invalid: expected maximize or minimize")
        if int(n_trials) < 1 or int(n_jobs) < 1:
            raise ValueError(f"hydra.sweeper.n_trials={n_trials} and n_jobs={n_jobs} must be >= 1")
        self.objective, self.direction = objective, direction
        self.n_trials, self.n_jobs = int(n_trials), int(n_jobs)
        self.study_name, self.storage, self.sampler_seed = study_name, storage, int(sampler_seed)
        self.space = search_space(OmegaConf.to_container(params) if isinstance(params, DictConfig) else params)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[Any]:
        """Ask `n_jobs` settings at a time, launch them, tell Optuna what each returned; a job that failed or
        returned no finite number is a failed trial. Stops when the study holds `n_trials` trials, failed ones
        included, so a setting that always fails cannot loop forever.

        A stored study's failed trials are not run again: a failed trial is Optuna's verdict on its setting (a
        setting that diverges fails again, and rerunning it at every invocation would loop across them), and
        when the failure had a cause since fixed (the code, the data, the objective), the old trials are not
        comparable with new ones anyway. So a study that holds `n_trials` trials and no finished one makes a
        rerun launch nothing and exit with status 1 (`_refuse_a_study_without_a_best_setting`), pointing to a
        fresh `study_name`."""
        import optuna

        assert self.config is not None and self.launcher is not None
        self._refuse_an_objective_no_job_records()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if self.storage and self.storage.startswith("sqlite:///"):
            Path(self.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(
            study_name=self.study_name, storage=self.storage, direction=self.direction, load_if_exists=True
        )
        # Seeded for a reproducible study, offset by the trials it already holds: a continued study must not
        # draw its first points again (they would be finished jobs, and wasted trials).
        study.sampler = optuna.samplers.TPESampler(seed=self.sampler_seed + len(study.trials))
        returns, job_index = [], 0
        while (remaining := self.n_trials - len(study.trials)) > 0:
            trials = [study.ask(self.space) for _ in range(min(self.n_jobs, remaining))]
            batch = [self._overrides(arguments, trial.params) for trial in trials]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=job_index)
            job_index += len(batch)
            for trial, result in zip(trials, results, strict=True):
                value = _finite(result)
                if value is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    log.warning("Trial %d failed or returned no %s: %s", trial.number, self.objective, trial.params)
                else:
                    study.tell(trial, value)
            returns.append(results)
        self._write_best(study, sweep_dir)
        if not _finished(study):
            self._refuse_a_study_without_a_best_setting(study, launched=job_index)
        return returns

    def _refuse_an_objective_no_job_records(self) -> None:
        """Before any trial: every job would train, then return nothing for an objective its pipeline does
        not record (`recorded_validation_metrics`), and the study would end with no best setting."""
        names = recorded_validation_metrics(self.config)
        pipeline = OmegaConf.select(self.config, "pipeline._target_", default=None)
        if names is None:
            log.warning(
                "pipeline=%s lists no validation_metric_names: hydra.sweeper.objective=%s is checked by the trials",
                pipeline,
                self.objective,
            )
            return
        if any(fnmatch.fnmatchcase(self.objective, name) for name in names):
            return
        expected = (
            f"one of {', '.join(names)}"
            if names
            else "none: this config records no validation metric (an image run needs dataset.validation_size > 0)"
        )
        raise NoBestSettingError(
            f"hydra.sweeper.objective={self.objective} is not a metric that pipeline={pipeline} records with this "
            f"config, so no trial could return it; expected {expected}"
        )

    def _refuse_a_study_without_a_best_setting(self, study: Any, launched: int) -> None:
        """A sweep that found no best setting has not succeeded, however its jobs ended (a job that finishes
        without the objective is `ok` in its results.json): say why, and how to start over."""
        now = f"{launched} launched now" if launched else "none launched now: the study already held them all"
        if self.storage:
            where = f"study {self.study_name!r} in {self.storage}"
            restart = (
                "Its failed trials are not run again: after fixing the cause, start a fresh study with "
                "hydra.sweeper.study_name=<a new name> (or delete this one from hydra.sweeper.storage), or raise "
                "hydra.sweeper.n_trials to try other settings in it"
            )
        else:
            where, restart = "the in-memory study", "Fix the cause and rerun"
        raise NoBestSettingError(
            f"No best setting: none of the {len(study.trials)} trials of {where} returned a finite "
            f"{self.objective} ({now}; hydra.sweeper.n_trials={self.n_trials}). The jobs' results.json and logs "
            f"under {self.config.hydra.sweep.dir} say why. {restart}."
        )

    def _overrides(self, arguments: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        return [*arguments, f"objective={self.objective}", *(f"{key}={value}" for key, value in params.items())]

    def _write_best(self, study: Any, sweep_dir: Path) -> None:
        """`optimization_results.yaml` beside the jobs: the best setting on validation, and the study's size."""
        finished = _finished(study)
        best = {"objective": self.objective, "direction": self.direction, "trials": len(study.trials)}
        if finished:
            best |= {"best_value": study.best_value, "best_params": study.best_params}
        OmegaConf.save(OmegaConf.create(best), sweep_dir / "optimization_results.yaml")
        log.info("Best on %s: %s", self.objective, best)


def _finished(study: Any) -> list[Any]:
    import optuna

    return [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]


def _finite(result: Any) -> float | None:
    try:
        value = result.return_value
    except Exception:  # the job raised: Hydra re-raises it on access
        return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None
