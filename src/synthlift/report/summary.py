"""Per-configuration statistics of a sweep: runs that share their settings except the seed form one
configuration, whose per-seed lifts get a paired t CI (synthlift.core.stats); across configurations, which
quality metric ranks them as their lift does (synthlift.report.predictors)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthlift.core.results import archived_results
from synthlift.core.stats import LiftSummary, summarize_paired, verdict
from synthlift.report.collect import FailedRun, Run, error_text, group_key, load_runs, metric, settings, unmeasured
from synthlift.report.predictors import Predictors, sweep_predictors

_LIFT_FIELDS = ("n", "baseline", "treated", "mean", "std", "ci_low", "ci_high", "p_value", "verdict")


@dataclass(frozen=True)
class NotMeasured:
    """A metric that ok runs of one configuration hold as null, for one reason."""

    metric: str
    reason: str
    seeds: tuple[Any, ...]


@dataclass
class Report:
    """One row per configuration in `groups`; for lift L its columns are `L_n`, `L_baseline`,
    `L_treated` (mean metrics over the paired seeds), `L_mean`, `L_std`, `L_ci_low`, `L_ci_high`,
    `L_p_value`, `L_verdict`, all as fractions."""

    sweep_dir: Path
    confidence: float
    lift_pairs: dict[str, tuple[str, str]]  # lift -> (treated metric, baseline metric), primary first
    groups: pd.DataFrame
    failed: list[FailedRun]
    common: list[str] = field(default_factory=list)  # overrides shared by every run of the sweep
    warnings: list[str] = field(default_factory=list)
    not_measured: dict[str, list[NotMeasured]] = field(default_factory=dict)  # config -> null metrics
    predictors: Predictors | None = None  # quality metrics vs the primary lift across configurations
    archived: list[Path] = field(default_factory=list)  # results of earlier configs, kept beside the runs

    @property
    def primary_lift(self) -> str | None:
        return next(iter(self.lift_pairs), None)

    def summary(self, row: pd.Series, lift: str) -> LiftSummary:
        return LiftSummary(**{name: row[f"{lift}_{name}"] for name in LiftSummary.__dataclass_fields__})


def _seed_order(seed: Any) -> tuple[bool, Any]:
    return (not isinstance(seed, int), seed if isinstance(seed, int) else str(seed))


def _lift_columns(
    runs: list[Run],
    lift: str,
    pair: tuple[str, str],
    confidence: float,
    warnings: list[str],
) -> dict[str, Any]:
    """Stats of one lift over the runs that measured both of its metrics."""
    measured = [(run_dir, r, metric(r, pair[0]), metric(r, pair[1])) for run_dir, r in runs]
    measured = [m for m in measured if math.isfinite(m[2]) and math.isfinite(m[3])]
    for run_dir, record, t, b in measured:  # the run's own lift must agree with its two metrics
        stored = metric(record, lift)
        if math.isfinite(stored) and not math.isclose(stored, t - b, abs_tol=1e-9):
            warnings.append(f"{run_dir}: metrics[{lift!r}] = {stored} but {pair[0]} − {pair[1]} = {t - b}")
    treated = np.array([m[2] for m in measured])
    baseline = np.array([m[3] for m in measured])
    summary = summarize_paired(treated, baseline, confidence)
    means = [float(v.mean()) if v.size else math.nan for v in (treated, baseline)]
    if summary.n and not math.isclose(summary.mean, means[0] - means[1], rel_tol=0, abs_tol=1e-9):
        raise RuntimeError(f"mean {lift} {summary.mean} != mean treated − mean baseline {means[0] - means[1]}")
    columns = {**vars(summary), "treated": means[0], "baseline": means[1], "verdict": verdict(summary)}
    return {f"{lift}_{name}": columns[name] for name in _LIFT_FIELDS}


def _not_measured(runs: list[Run]) -> list[NotMeasured]:
    """The null metrics of a configuration's ok runs, one entry per (metric, reason) with its seeds."""
    seeds: dict[tuple[str, str], list[Any]] = {}
    for _, record in runs:
        for name, reason in unmeasured(record).items():
            seeds.setdefault((name, reason), []).append(record.get("seed"))
    return [NotMeasured(name, reason, tuple(sorted(s, key=_seed_order))) for (name, reason), s in seeds.items()]


def build_report(sweep_dir: str | Path, confidence: float = 0.95) -> Report:
    """Group a sweep's runs by configuration and summarise every lift of every group."""
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
    for config in sorted(groups):
        runs = groups[config]["ok"]
        seeds = sorted((record.get("seed") for _, record in runs), key=_seed_order)
        row = {"config": config, "n": len(runs), "n_failed": groups[config]["n_failed"]}
        row["seeds"] = ", ".join(map(str, seeds))
        for lift, pair in lift_pairs.items():
            row.update(_lift_columns(runs, lift, pair, confidence, warnings))
        rows.append(row)
        if nulls := _not_measured(runs):
            not_measured[config] = nulls
    failed.sort(key=lambda run: str(run.run_dir))
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["config", "n", "n_failed", "seeds"])
    predictors = None
    if lift_pairs:
        lift_means = {row["config"]: row[f"{next(iter(lift_pairs))}_mean"] for row in rows}
        predictors = sweep_predictors({config: group["ok"] for config, group in groups.items()}, lift_pairs, lift_means)
    archived = [path.relative_to(sweep_dir) for path in archived_results(sweep_dir)]
    return Report(
        sweep_dir, confidence, lift_pairs, table, failed, sorted(common), warnings, not_measured, predictors, archived
    )
