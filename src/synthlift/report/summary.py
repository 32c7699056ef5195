"""Per-configuration statistics of a sweep: runs that share their settings except the seed form one
configuration, whose per-seed lifts are judged together with the sweep's other configurations (a paired t CI,
raw and adjusted p-values and a verdict: synthlift.report.lifts); across configurations, which quality metric
ranks them as their lift does (synthlift.report.predictors)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthlift.core.results import archived_results
from synthlift.core.verdicts import DecisionRule
from synthlift.report.collect import FailedRun, Run, error_text, group_key, load_runs, metric, settings, unmeasured
from synthlift.report.lifts import JUDGED_COLUMNS, judge
from synthlift.report.predictors import Predictors, sweep_predictors
from synthlift.report.provenance import code_label

LIFT_FIELDS = ("baseline", "treated", *JUDGED_COLUMNS)


def lift_column(lift: str, name: str) -> str:
    """The report's column of a lift's field: `lift_mean`, `lift_ci_low`, `lift_f1_verdict`..."""
    return f"{lift}_{'mean' if name == 'lift' else name}"


@dataclass(frozen=True)
class NotMeasured:
    """A metric that ok runs of one configuration hold as null, for one reason."""

    metric: str
    reason: str
    seeds: tuple[Any, ...]


@dataclass
class Report:
    """One row per configuration in `groups`; for lift L its columns are `L_baseline`, `L_treated` (mean
    metrics over the paired seeds) and `L_<column>` for each judged column of synthlift.report.lifts (`L_mean`
    for the lift itself, `L_ci_low`, `L_p_adjusted`, `L_verdict`, ...), metrics as fractions. Each lift's
    configurations are judged as one family under `rule`."""

    sweep_dir: Path
    rule: DecisionRule
    lift_pairs: dict[str, tuple[str, str]]  # lift -> (treated metric, baseline metric), primary first
    groups: pd.DataFrame
    failed: list[FailedRun]
    common: list[str] = field(default_factory=list)  # overrides shared by every run of the sweep
    warnings: list[str] = field(default_factory=list)
    not_measured: dict[str, list[NotMeasured]] = field(default_factory=dict)  # config -> null metrics
    predictors: Predictors | None = None  # quality metrics vs the primary lift across configurations
    archived: list[Path] = field(default_factory=list)  # results of earlier configs, kept beside the runs
    code_versions: list[str] = field(default_factory=list)  # code label of every ok run (report/provenance.py)

    @property
    def primary_lift(self) -> str | None:
        return next(iter(self.lift_pairs), None)

    def lift_row(self, row: pd.Series, lift: str) -> dict[str, Any]:
        """One configuration's judged columns of `lift`, without the `L_` prefix."""
        return {name: row[lift_column(lift, name)] for name in LIFT_FIELDS}


def _seed_order(seed: Any) -> tuple[bool, Any]:
    return (not isinstance(seed, int), seed if isinstance(seed, int) else str(seed))


def _paired_lifts(runs: list[Run], lift: str, pair: tuple[str, str], warnings: list[str]) -> tuple[np.ndarray, ...]:
    """Per-seed (treated, baseline) of one lift over the runs that measured both of its metrics; a run whose
    stored lift disagrees with its two metrics is named in `warnings`."""
    measured = [(run_dir, r, metric(r, pair[0]), metric(r, pair[1])) for run_dir, r in runs]
    measured = [m for m in measured if math.isfinite(m[2]) and math.isfinite(m[3])]
    for run_dir, record, t, b in measured:  # the run's own lift must agree with its two metrics
        stored = metric(record, lift)
        if math.isfinite(stored) and not math.isclose(stored, t - b, abs_tol=1e-9):
            warnings.append(f"{run_dir}: metrics[{lift!r}] = {stored} but {pair[0]} − {pair[1]} = {t - b}")
    return np.array([m[2] for m in measured]), np.array([m[3] for m in measured])


def _judged_lift(
    configs: list[str], runs_by_config: dict[str, list[Run]], lift: str, pair: tuple[str, str], rule, warnings
) -> dict[str, dict[str, Any]]:
    """config -> `L_*` columns of one lift, every configuration judged in one family."""
    keys, differences = [], []
    for config in configs:
        treated, baseline = _paired_lifts(runs_by_config[config], lift, pair, warnings)
        means = [float(v.mean()) if v.size else math.nan for v in (treated, baseline)]
        keys.append({"config": config, "treated": means[0], "baseline": means[1]})
        differences.append(treated - baseline)
    if not keys:
        return {}
    table = judge(keys, differences, rule)
    return {row["config"]: {lift_column(lift, name): row[name] for name in LIFT_FIELDS} for _, row in table.iterrows()}


def _not_measured(runs: list[Run]) -> list[NotMeasured]:
    """The null metrics of a configuration's ok runs, one entry per (metric, reason) with its seeds."""
    seeds: dict[tuple[str, str], list[Any]] = {}
    for _, record in runs:
        for name, reason in unmeasured(record).items():
            seeds.setdefault((name, reason), []).append(record.get("seed"))
    return [NotMeasured(name, reason, tuple(sorted(s, key=_seed_order))) for (name, reason), s in seeds.items()]


def build_report(sweep_dir: str | Path, rule: DecisionRule | None = None) -> Report:
    """Group a sweep's runs by configuration and judge every lift of every group (default rule: δ = 1 point,
    α = 0.05, Holm over the sweep's configurations)."""
    rule = rule or DecisionRule()
    sweep_dir = Path(sweep_dir)
    records, failed = load_runs(sweep_dir)
    groups: dict[str, dict[str, Any]] = {}
    lift_pairs: dict[str, tuple[str, str]] = {}
    warnings: list[str] = []
    common = set.intersection(*(settings(record) for _, record in records)) if records else set()
    for run_dir, record in records:
        group = groups.setdefault(group_key(settings(record), common), {"ok": [], "n_failed": 0})
        if record.get("status") != "ok":
            group["n_failed"] += 1
            failed.append(FailedRun(run_dir, error_text(record)))
            continue
        group["ok"].append((run_dir, record))
        for lift, pair in (record.get("lift_pairs") or {}).items():
            if lift_pairs.setdefault(lift, tuple(pair)) != tuple(pair):
                warnings.append(f"{run_dir}: {lift} = {pair} differs from an earlier run's; the earlier is used")
    rows, not_measured = [], {}
    configs = sorted(groups)
    runs_by_config = {config: groups[config]["ok"] for config in configs}
    judged = {
        lift: _judged_lift(configs, runs_by_config, lift, pair, rule, warnings) for lift, pair in lift_pairs.items()
    }
    for config in configs:
        runs = runs_by_config[config]
        seeds = sorted((record.get("seed") for _, record in runs), key=_seed_order)
        row = {"config": config, "n": len(runs), "n_failed": groups[config]["n_failed"]}
        row["seeds"] = ", ".join(map(str, seeds))
        for lift in lift_pairs:
            row.update(judged[lift][config])
        rows.append(row)
        if nulls := _not_measured(runs):
            not_measured[config] = nulls
    failed.sort(key=lambda run: str(run.run_dir))
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["config", "n", "n_failed", "seeds"])
    predictors = None
    if lift_pairs:
        lift_means = {row["config"]: row[lift_column(next(iter(lift_pairs)), "lift")] for row in rows}
        predictors = sweep_predictors({config: group["ok"] for config, group in groups.items()}, lift_pairs, lift_means)
    archived = [path.relative_to(sweep_dir) for path in archived_results(sweep_dir)]
    code_versions = [code_label(record) for runs in runs_by_config.values() for _, record in runs]
    return Report(
        sweep_dir,
        rule,
        lift_pairs,
        table,
        failed,
        sorted(common),
        warnings,
        not_measured,
        predictors,
        archived,
        code_versions,
    )
