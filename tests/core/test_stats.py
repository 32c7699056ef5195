"""The lift statistics: hand-checked numbers and degenerate cases (the verdicts on them: test_verdicts.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from synthlift.core.stats import summarize_paired
from synthlift.core.verdicts import DecisionRule, decide


def test_hand_computed_example_matches_t_interval_and_scipy():
    treated, baseline = [11.0, 12.0, 13.0], [10.0, 10.0, 10.0]  # diffs 1, 2, 3
    summary = summarize_paired(treated, baseline)
    half = scipy_stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert summary.n == 3
    assert summary.mean == pytest.approx(2.0)
    assert summary.std == pytest.approx(1.0)
    assert summary.ci_low == pytest.approx(2.0 - half)
    assert summary.ci_high == pytest.approx(2.0 + half)
    assert summary.p_value == pytest.approx(scipy_stats.ttest_rel(treated, baseline).pvalue)
    assert summary.p_value == pytest.approx(scipy_stats.ttest_1samp([1, 2, 3], 0).pvalue)


def test_confidence_level_widens_interval():
    rng = np.random.default_rng(0)
    treated, baseline = rng.normal(0.8, 0.02, 6), rng.normal(0.78, 0.02, 6)
    narrow, wide = summarize_paired(treated, baseline, 0.8), summarize_paired(treated, baseline, 0.99)
    assert wide.ci_low < narrow.ci_low < narrow.mean < narrow.ci_high < wide.ci_high
    assert wide.p_value == narrow.p_value


def test_single_seed_has_only_a_mean():
    summary = summarize_paired([0.9], [0.8])
    assert summary.n == 1
    assert summary.mean == pytest.approx(0.1)
    assert all(math.isnan(v) for v in (summary.std, summary.ci_low, summary.ci_high, summary.p_value))
    assert decide([[0.1]], DecisionRule())[0].verdict == "too few seeds"


def test_no_seeds_is_all_nan():
    summary = summarize_paired([], [])
    assert summary.n == 0 and math.isnan(summary.mean)
    assert decide([[]], DecisionRule())[0].verdict == "not measured"


def test_identical_differences_give_zero_width_interval_and_undefined_p():
    # 0.9 - 0.8 and 0.8 - 0.7 differ in the last float bit: still "identical".
    summary = summarize_paired([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert summary.std == 0.0
    assert summary.ci_low == summary.ci_high == summary.mean == pytest.approx(0.1)
    assert math.isnan(summary.p_value)
    assert decide([[0.1, 0.1, 0.1]], DecisionRule())[0].verdict == "helps"  # a constant non-zero lift is certain


def test_no_change_at_all_is_equivalent():
    summary = summarize_paired([0.5, 0.6], [0.5, 0.6])
    assert (summary.mean, summary.std, summary.ci_low, summary.ci_high) == (0.0, 0.0, 0.0, 0.0)
    assert decide([[0.0, 0.0]], DecisionRule())[0].verdict == "equivalent"


def test_consistent_gains_and_losses_get_verdicts():
    gains = np.subtract([0.81, 0.83, 0.82, 0.84], [0.78, 0.79, 0.80, 0.80])
    losses = np.subtract([0.74, 0.75, 0.73, 0.75], [0.78, 0.79, 0.80, 0.80])
    assert [d.verdict for d in decide([gains, losses], DecisionRule(correction="none"))] == ["helps", "hurts"]


@pytest.mark.parametrize(
    ("treated", "baseline", "confidence"),
    [
        ([1.0, 2.0], [1.0], 0.95),
        ([[1.0]], [[1.0]], 0.95),
        ([1.0, math.nan], [1.0, 2.0], 0.95),
        ([1.0], [1.0], 1.5),
    ],
)
def test_invalid_input_raises(treated, baseline, confidence):
    with pytest.raises(ValueError):
        summarize_paired(treated, baseline, confidence)
