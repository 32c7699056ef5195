"""Which quality metric predicts lift? The Spearman rank correlation of every quality metric with the primary
lift across the configurations of a sweep.

A quality metric is worth computing before the expensive downstream training only if it ranks generators
the way their lift does; a rank correlation asks exactly that and does not assume the relation is linear.

Rules:
- Quality metrics (`quality_metric_names`) are found by exclusion, since results.json does not say which
  stage wrote a key: every key of the runs' `metrics` except the lifts of `lift_pairs`, their operands, every
  other key of the two compared arms (`f1_augmented`, `real_only_weight_decay`: suffixed or prefixed by an
  arm, the part in which a lift's operands differ) and `TRAINING_DIAGNOSTICS`, which describe how a generator
  was trained rather than what it produced.
- One point per configuration: its mean metric over the seeds that measured it against its mean primary
  lift (the report's `<lift>_mean`); n is the number of configurations that have both. Seeds of one
  configuration are not independent evidence about that configuration, so counting runs would inflate n and
  shrink the p-value; a single-configuration sweep therefore has no correlation (n = 1), by design.
- A metric with fewer than `MIN_POINTS` points, or constant ones, has no meaningful rank correlation: it is
  listed as skipped with the reason, never dropped silently.
- p is two-sided, from all n! pairings (exact) up to `EXACT_UP_TO` points, where scipy's t approximation is
  too rough (it gives p = 0 for four perfectly ranked points, whose exact p is 1/12), and from that
  approximation above. Testing many metrics at once is corrected for: each p is also given Holm-adjusted over
  the section's metrics (statsmodels' `multipletests`), and only an adjusted p below 0.05 is called a predictor.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from synthlift.report.collect import Run, metric
from synthlift.report.lifts import p_cell

MIN_POINTS = 4
EXACT_UP_TO = 8  # 8! = 40320 pairings: a tenth of a second; 9! takes seconds
# Keys that generators report about their own training (text/cgan's selected epoch and the validation
# accuracy it was selected on, which is a lift measured on validation; the numeric generators' losses).
TRAINING_DIAGNOSTICS = frozenset({"selected_epoch", "val_acc_selected", "train_loss_start", "train_loss_end"})
_CONSTANT_RTOL = 1e-12  # spreads below this, relative to the values' scale, are float rounding, not a ranking


@dataclass(frozen=True)
class Correlation:
    metric: str
    n: int
    rho: float
    p_value: float
    p_adjusted: float = math.nan  # Holm over the section's metrics


@dataclass(frozen=True)
class Predictors:
    """The correlations of the metrics with `lift`, strongest first, and why the others have none."""

    lift: str
    unit: str  # what one point is, for the text: "configurations"
    ranked: tuple[Correlation, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)  # metric -> reason
    selection: str = ""  # which metrics were considered, for the text


def _arms(lift_pairs: Mapping[str, Sequence[str]]) -> set[str]:
    """The parts in which each lift's two operands differ: `acc_augmented`, `acc_real_only` -> augmented,
    real_only (the shared prefix cut at its last underscore)."""
    arms = set()
    for operands in lift_pairs.values():
        shared = os.path.commonprefix(list(operands))
        cut = shared.rfind("_") + 1
        arms |= {operand[cut:] for operand in operands if operand[cut:]}
    return arms


def quality_metric_names(records: Iterable[dict[str, Any]], lift_pairs: Mapping[str, Sequence[str]]) -> list[str]:
    """The keys of the records' metrics that are quality metrics (see the module's rules), in first-seen order."""
    excluded = set(lift_pairs) | {operand for operands in lift_pairs.values() for operand in operands}
    arms = _arms(lift_pairs)
    names = dict.fromkeys(name for record in records for name in record.get("metrics") or {})
    return [
        name
        for name in names
        if name not in excluded
        and name not in TRAINING_DIAGNOSTICS
        and not any(name.endswith(f"_{arm}") or name.startswith(f"{arm}_") for arm in arms)
    ]


def _constant(values: np.ndarray) -> bool:
    return bool(np.ptp(values) <= _CONSTANT_RTOL * max(1.0, float(np.abs(values).max())))


def _p_value(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) > EXACT_UP_TO:
        return float(stats.spearmanr(x, y).pvalue)
    exact = stats.PermutationMethod(n_resamples=math.factorial(len(x)))
    return float(stats.pearsonr(stats.rankdata(x), stats.rankdata(y), method=exact).pvalue)


def rank_predictors(
    table: pd.DataFrame, lift: str, metrics: Iterable[str], unit: str, selection: str = ""
) -> Predictors:
    """Spearman's rho of each metric column of `table` (one row per point, NaN = not measured) with `lift`."""
    ranked, skipped = [], {}
    for name in metrics:
        both = table[[name, lift]].apply(pd.to_numeric, errors="coerce").dropna()
        values, lifts, n = both[name].to_numpy(float), both[lift].to_numpy(float), len(both)
        if n < MIN_POINTS:
            skipped[name] = f"{unit} measuring it and {lift}: {n}, fewer than the {MIN_POINTS} a rank correlation needs"
        elif _constant(values):
            skipped[name] = f"constant ({values[0]:.4g}) across the {n} {unit}, nothing to rank"
        elif _constant(lifts):
            skipped[name] = f"{lift} is constant ({lifts[0]:.4g}) across the {n} {unit} measuring it, nothing to rank"
        else:
            rho = float(stats.spearmanr(values, lifts).statistic)
            ranked.append(Correlation(name, n, rho, _p_value(values, lifts)))
    if ranked:
        adjusted = multipletests([c.p_value for c in ranked], method="holm")[1]
        ranked = [Correlation(c.metric, c.n, c.rho, c.p_value, float(a)) for c, a in zip(ranked, adjusted, strict=True)]
    ranked.sort(key=lambda c: (-abs(c.rho), c.metric))
    return Predictors(lift, unit, tuple(ranked), skipped, selection)


def sweep_predictors(
    groups: Mapping[str, list[Run]], lift_pairs: Mapping[str, Sequence[str]], lift_means: Mapping[str, float]
) -> Predictors:
    """The sweep report's section: per-configuration means of every quality metric against the mean primary
    lift (`lift_means`: config -> mean over its seeds; the primary lift is the first of `lift_pairs`)."""
    lift = next(iter(lift_pairs))
    names = quality_metric_names((record for runs in groups.values() for _, record in runs), lift_pairs)
    rows = []
    for config, runs in groups.items():
        per_run = pd.DataFrame([{name: metric(record, name) for name in names} for _, record in runs], columns=names)
        rows.append({lift: lift_means[config], **per_run.mean().to_dict()})  # NaN (not measured) is skipped
    selection = (
        "Each configuration is one point: its metric and its lift, each averaged over the seeds that measured it. "
        "Quality metrics are all the runs' metrics except the lifts, their operands, the compared arms' other keys "
        f"(`*_{'`, `*_'.join(sorted(_arms(lift_pairs)))}` and the same prefixed) and generator-training "
        f"diagnostics ({', '.join(f'`{name}`' for name in sorted(TRAINING_DIAGNOSTICS))})."
    )
    table = pd.DataFrame(rows, columns=[lift, *names])
    return rank_predictors(table, lift, names, "configurations", selection)


def skipped_by_reason(predictors: Predictors) -> list[tuple[list[str], str]]:
    """The skipped metrics grouped by reason (a one-configuration sweep skips every metric for one reason)."""
    names: dict[str, list[str]] = {}
    for name, why in predictors.skipped.items():
        names.setdefault(why, []).append(name)
    return [(group, why) for why, group in names.items()]


def _predicts(correlation: Correlation) -> str:
    if not correlation.p_adjusted < 0.05:
        return "no evidence"
    return "yes, higher is better" if correlation.rho > 0 else "yes, lower is better"


def table_rows(predictors: Predictors) -> tuple[list[str], list[list[str]]]:
    """Headers and display rows, shared by the console and the markdown output."""
    headers = ["metric", "n", f"Spearman rho with {predictors.lift}", "p", "p (Holm)", "predicts?"]
    rows = [
        [c.metric, str(c.n), f"{c.rho:+.2f}", p_cell(c.p_value), p_cell(c.p_adjusted), _predicts(c)]
        for c in predictors.ranked
    ]
    return headers, rows


def markdown_lines(predictors: Predictors) -> list[str]:
    """The section's body in markdown: what was computed, the table, the skipped metrics."""
    lines = [
        f"Spearman rank correlation of each quality metric with `{predictors.lift}` across {predictors.unit} "
        f"(n = {predictors.unit} that measured both), strongest first. p is two-sided (exact from all "
        f"pairings up to n = {EXACT_UP_TO}, t approximation above); p (Holm) adjusts it for testing "
        f"{len(predictors.ranked)} metrics at once, and a metric predicts lift only when that is below 0.05.",
        "",
    ]
    if predictors.selection:
        lines += [predictors.selection, ""]
    headers, rows = table_rows(predictors)
    if rows:
        lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        lines.append("No quality metric could be correlated.")
    if predictors.skipped:
        lines += ["", "No correlation:", ""]
        lines += [
            f"- {', '.join(f'`{name}`' for name in names)}: {why}" for names, why in skipped_by_reason(predictors)
        ]
    return lines


def lift_predictors(table: pd.DataFrame, metrics: Iterable[str], lift: str = "lift") -> list[str]:
    """`markdown_lines` for a table that already holds one row per configuration (the leaderboard's)."""
    return markdown_lines(rank_predictors(table, lift, metrics, "configurations"))
