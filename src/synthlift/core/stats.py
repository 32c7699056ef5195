"""Paired statistics of a lift (treated − baseline, paired by seed), so "it helps" comes with a CI; the verdicts
built on them (helps, hurts, equivalent, inconclusive) are synthlift.core.verdicts.

Each seed trains the treated and the baseline model on the same data split and initialisation,
so the per-seed differences cancel most seed-to-seed noise: a paired t-test on them is far more
sensitive than comparing two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# Differences closer than this (relative to the metric's scale) count as identical: accuracies
# on a test set of N items differ by multiples of 1/N, far above it, while float rounding of
# `treated - baseline` is far below it and would otherwise give a spurious p ≈ 0.
_IDENTICAL_RTOL = 1e-12


@dataclass(frozen=True)
class LiftSummary:
    """Mean per-seed lift with its Student-t confidence interval and two-sided paired p-value."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    p_value: float


def summarize_paired(treated: Sequence[float], baseline: Sequence[float], confidence: float = 0.95) -> LiftSummary:
    """Summarise `treated[i] - baseline[i]` over seeds i.

    With n < 2 seeds only the mean is defined (std, CI and p are NaN). When every difference is
    identical (up to float rounding) the spread is zero: std is 0, the CI collapses to
    [mean, mean] and the t statistic is undefined, so p is NaN rather than a misleading 0 or 1.
    """
    treated_arr = np.asarray(treated, dtype=float)
    baseline_arr = np.asarray(baseline, dtype=float)
    if treated_arr.ndim != 1 or treated_arr.shape != baseline_arr.shape:
        raise ValueError(
            f"treated and baseline must be 1-d and paired by seed, got shapes "
            f"{treated_arr.shape} and {baseline_arr.shape}"
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not (np.isfinite(treated_arr).all() and np.isfinite(baseline_arr).all()):
        raise ValueError("treated and baseline must be finite: drop seeds with a missing metric first")
    diffs = treated_arr - baseline_arr
    n = diffs.size
    mean = float(diffs.mean()) if n else math.nan
    if n < 2:
        return LiftSummary(n, mean, math.nan, math.nan, math.nan, math.nan)
    scale = max(1.0, float(np.abs(treated_arr).max()), float(np.abs(baseline_arr).max()))
    if np.ptp(diffs) <= _IDENTICAL_RTOL * scale:
        return LiftSummary(n, mean, 0.0, mean, mean, math.nan)
    std = float(diffs.std(ddof=1))
    half_width = float(stats.t.ppf((1 + confidence) / 2, df=n - 1)) * std / math.sqrt(n)
    p_value = float(stats.ttest_rel(treated_arr, baseline_arr).pvalue)
    return LiftSummary(n, mean, std, mean - half_width, mean + half_width, p_value)
