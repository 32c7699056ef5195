"""Verdicts that decide: helps, hurts, equivalent within ±δ, or inconclusive with the seeds that would decide.

A CI that straddles 0 does not tell a researcher whether synthetic data does nothing or whether the study was
too small to see it. So every lift of a table gets two tests on its per-seed paired differences:

- a two-sided paired t-test of "no lift" (scipy), whose rejection gives *helps* or *hurts* by the sign;
- two one-sided tests of "the lift is at least δ away from 0" (statsmodels' `ttost_paired`), whose rejection
  gives *equivalent*: within ±δ, a declared margin (1 point by default) that every table states.

A table makes many comparisons, so both families of p-values (2 per row) are adjusted together with statsmodels'
`multipletests` — Holm for the family-wise error rate (default) or Benjamini–Hochberg for the false discovery
rate — and verdicts use the adjusted figures. A row that neither test settles is *inconclusive*, and gets the
number of seeds that a power calculation at δ, at its observed spread (never its mean), says would decide it.

"Seeds until decided" (`plan_more_seeds`) is a two-look design whose error rates stay honest: a pilot of a few
seeds is judged at α/2; rows it leaves undecided get the seed count the pilot's spread asks for (capped), and the
final look judges all their seeds at α/2. By Bonferroni over the two looks, the chance of any false claim stays
at most α. `tests/core/test_verdicts.py` checks the error rates by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower, normal_power
from statsmodels.stats.weightstats import ttost_paired

from synthlift.core.stats import LiftSummary, summarize_paired

HELPS = "helps"
HURTS = "hurts"
EQUIVALENT = "equivalent"
INCONCLUSIVE = "inconclusive"
TOO_FEW_SEEDS = "too few seeds"
NOT_MEASURED = "not measured"  # the configuration has no such metric (e.g. keypoints on a mask-only dataset)
VERDICTS = (HELPS, HURTS, EQUIVALENT, INCONCLUSIVE, TOO_FEW_SEEDS, NOT_MEASURED)

_SEEDS_CAP = 1000  # beyond this many seeds a lift is not worth deciding; shown as ">1000"
CORRECTIONS = {  # our name -> (statsmodels' method, what it controls, for the sentence every table prints)
    "holm": ("holm", "Holm (family-wise error rate)"),
    "bh": ("fdr_bh", "Benjamini–Hochberg (false discovery rate)"),
    "none": (None, "no adjustment"),
}


@dataclass(frozen=True)
class DecisionRule:
    """What a verdict means: the equivalence margin δ (in the metric's units: 0.01 is 1 point of a fraction),
    the level α, the multiplicity correction over a table's rows, the power a seed count must reach, and the
    seeds of the pilot and the cap of "seeds until decided"."""

    margin: float = 0.01
    alpha: float = 0.05
    correction: str = "holm"
    power: float = 0.8
    pilot_seeds: int = 5
    max_seeds: int = 30

    def __post_init__(self) -> None:
        if not (math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"margin (δ) must be a positive number, got {self.margin}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {sorted(CORRECTIONS)}, got {self.correction!r}")
        if not 0 < self.power < 1:
            raise ValueError(f"power must be in (0, 1), got {self.power}")
        if not 2 <= self.pilot_seeds <= self.max_seeds:
            raise ValueError(
                f"need 2 <= pilot_seeds <= max_seeds, got pilot_seeds={self.pilot_seeds}, max_seeds={self.max_seeds}"
            )

    def describe(self, family: str, size: int, scale: float = 100.0, unit: str = "points", looks: int = 1) -> str:
        """The sentence a table prints so its verdicts can be read: margin, level, correction and family."""
        level = f"α = {self.alpha:g}" + (f" split over {looks} looks (α/{looks} each)" if looks > 1 else "")
        margin = self.margin * scale
        unit = unit.removesuffix("s") if margin == 1 else unit
        return (
            f"Verdicts: *helps*/*hurts* when the paired t-test rejects no lift, *equivalent* when two one-sided "
            f"tests put the lift within ±δ = {margin:g} {unit}, else *inconclusive* (with the seeds a "
            f"power calculation at δ and the observed spread says would decide it, at power {self.power:g}); "
            f"{level}; p-values adjusted by {CORRECTIONS[self.correction][1]} over {family} "
            f"({size} rows × 2 tests)."
        )


@dataclass(frozen=True)
class Decision:
    """One row's verdict with the figures behind it; p-values raw and adjusted over the table's family."""

    summary: LiftSummary
    p_equivalence: float
    p_adjusted: float
    p_equivalence_adjusted: float
    verdict: str
    seeds_needed: int | None  # inconclusive rows: total seeds that would decide (_SEEDS_CAP + 1: more than that)

    @property
    def seeds_label(self) -> str:
        if self.seeds_needed is None:
            return "—"
        return f">{self.seeds_needed - 1}" if self.seeds_needed > _SEEDS_CAP else str(self.seeds_needed)


def _difference_p(summary: LiftSummary) -> float:
    """The paired t-test's p; for lifts without spread (every seed the same) the t statistic is infinite or
    undefined: a constant non-zero lift is certain (0), a constant zero is no evidence of a lift (1)."""
    if summary.n < 2 or math.isfinite(summary.p_value):
        return summary.p_value
    return 0.0 if summary.mean != 0 else 1.0


def _equivalence_p(diffs: np.ndarray, margin: float, summary: LiftSummary) -> float:
    """TOST's p (statsmodels' `ttost_paired` against ±margin); for lifts without spread, 0 when the constant
    lift lies inside the margin and 1 when it does not."""
    if summary.n < 2:
        return math.nan
    if summary.std == 0:
        return 0.0 if abs(summary.mean) < margin else 1.0
    return float(ttost_paired(diffs, np.zeros_like(diffs), -margin, margin)[0])


def seeds_needed(std: float, margin: float, alpha: float, power: float, cap: int = _SEEDS_CAP) -> int | None:
    """The smallest seed count at which, for per-seed lifts of spread `std`, a two-sided paired t-test at
    level `alpha` detects a true lift of ±δ with probability `power`, and the two one-sided tests declare a
    true lift of 0 equivalent within ±δ with probability at least `power` (each one-sided test then needs power
    1 − (1 − power)/2). Power is statsmodels' `TTestPower` (its normal limit where
    the noncentral t underflows), searched by bisection over the seed count (its own
    root finder fails to converge for large effects). None when the spread is unknown or zero; cap + 1 when
    more than `cap` seeds would be needed."""
    if not (math.isfinite(std) and std > 0):
        return None
    effect, solver = margin / std, TTestPower()

    def power_at(n: int, alternative: str) -> float:
        value = float(solver.power(effect_size=effect, nobs=n, alpha=alpha, alternative=alternative))
        if math.isnan(value):  # the noncentral t's far tail underflows where power is ~1: use the normal limit
            value = float(normal_power(effect, n, alpha, alternative=alternative))
        return value

    def enough(n: int) -> bool:
        return power_at(n, "two-sided") >= power and power_at(n, "larger") >= 1 - (1 - power) / 2

    if not enough(cap):
        return cap + 1
    low, high = 2, cap  # enough(high) holds; find the smallest such n
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle + 1, high)
    return low


def per_test_alpha(rule: DecisionRule, size: int, looks: int = 1) -> float:
    """The level one row's tests must reach for a power calculation: α / looks, divided by the family's
    2 × size hypotheses under Holm or Benjamini–Hochberg (their strictest step), so the seeds it asks for
    decide the row whatever the other rows do."""
    alpha = rule.alpha / looks
    return alpha if rule.correction == "none" else alpha / (2 * max(size, 1))


def decide(differences: Sequence[Sequence[float]], rule: DecisionRule, looks: int = 1) -> list[Decision]:
    """Verdicts for a family of rows, each given as its per-seed paired lifts (treated − baseline).

    Rows with fewer than two seeds are *too few seeds* (none: *not measured*) and stay out of the family. Lifts
    without spread are decided by their constant value (`_difference_p`, `_equivalence_p`)."""
    arrays = [np.asarray(row, dtype=float) for row in differences]
    summaries = [summarize_paired(row, np.zeros_like(row), confidence=1 - rule.alpha) for row in arrays]
    p_difference = [_difference_p(s) for s in summaries]
    p_equivalence = [_equivalence_p(row, rule.margin, s) for row, s in zip(arrays, summaries, strict=True)]
    tested = [i for i, s in enumerate(summaries) if s.n >= 2]
    raw = np.array([p_difference[i] for i in tested] + [p_equivalence[i] for i in tested])
    alpha = rule.alpha / looks
    adjusted = raw.copy()
    method = CORRECTIONS[rule.correction][0]
    if method is not None and raw.size:
        adjusted = multipletests(raw, alpha=alpha, method=method)[1]
    p_adjusted = dict(zip(tested, adjusted[: len(tested)], strict=True))
    p_equivalence_adjusted = dict(zip(tested, adjusted[len(tested) :], strict=True))
    level = per_test_alpha(rule, len(tested) or len(arrays), looks)
    decisions = []
    for i, summary in enumerate(summaries):
        p_diff, p_eq = p_adjusted.get(i, math.nan), p_equivalence_adjusted.get(i, math.nan)
        if summary.n == 0:
            outcome = NOT_MEASURED
        elif summary.n < 2:
            outcome = TOO_FEW_SEEDS
        elif p_diff < alpha:
            outcome = HELPS if summary.mean > 0 else HURTS
        elif p_eq < alpha:
            outcome = EQUIVALENT
        else:
            outcome = INCONCLUSIVE
        needed = seeds_needed(summary.std, rule.margin, level, rule.power) if outcome == INCONCLUSIVE else None
        decisions.append(Decision(summary, p_equivalence[i], p_diff, p_eq, outcome, needed))
    return decisions


def plan_more_seeds(pilot: Sequence[Decision], rule: DecisionRule) -> list[int]:
    """ "Seeds until decided", look 1 → look 2: the total seed count each row should reach. A row the pilot
    decided (at α/2, `decide(..., looks=2)`) keeps its seeds; an undecided one gets the power calculation's count
    from the pilot's spread — never its mean, so the count itself carries no information about the lift —
    between its pilot size and `max_seeds`. Raising `max_seeds` later and resuming is the same design with a
    larger cap, not a third look: the pilot, and so every count, stays the same."""
    totals = []
    for decision in pilot:
        n = decision.summary.n
        if decision.verdict != INCONCLUSIVE:
            totals.append(n)
        elif decision.seeds_needed is None:  # no spread in the pilot: more seeds are the only way to see one
            totals.append(rule.max_seeds)
        else:
            totals.append(int(min(max(decision.seeds_needed, n), rule.max_seeds)))
    return totals


def decide_two_looks(pilot: Sequence[Decision], final: Sequence[Sequence[float]], rule: DecisionRule) -> list[Decision]:
    """The verdicts of "seeds until decided", given the pilot's decisions (look 1: `decide(..., looks=2)`, the
    same that `plan_more_seeds` read) and all lifts of each row: a row decided by its pilot (α/2 over the family)
    keeps that verdict; the others are judged on all their lifts, pilot included (look 2, α/2 over the whole
    family again, so a decided row still takes its place in the adjustment). An inconclusive row keeps the
    seed count its pilot asked for: what a rerun with a larger `max_seeds` would run."""
    merged = []
    for at_pilot, at_end in zip(pilot, decide(final, rule, looks=2), strict=True):
        if at_pilot.verdict in (HELPS, HURTS, EQUIVALENT):
            merged.append(at_pilot)
        elif at_end.verdict == INCONCLUSIVE:
            merged.append(
                Decision(
                    at_end.summary,
                    at_end.p_equivalence,
                    at_end.p_adjusted,
                    at_end.p_equivalence_adjusted,
                    INCONCLUSIVE,
                    at_pilot.seeds_needed,
                )
            )
        else:
            merged.append(at_end)
    return merged
