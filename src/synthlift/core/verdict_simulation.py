"""How often the verdicts are wrong, by simulation: per-seed lifts drawn with a known true lift and spread, judged
exactly as a table or `synthlift compare` judges them. A statistical procedure is only as good as its error
rates, so the test suite checks them (`tests/core/test_verdicts.py`) and `python -m
synthlift.core.verdict_simulation` prints them for the documentation.

Lifts are normal: a paired accuracy difference over a test set of hundreds of texts is an average of many
per-example differences, and seed-to-seed noise adds to it.
"""

from __future__ import annotations

import argparse
import gc
from collections import Counter
from dataclasses import dataclass

import numpy as np

from synthlift.core.verdicts import DecisionRule, decide, decide_two_looks, plan_more_seeds


@dataclass(frozen=True)
class Rates:
    """Share of rows given each verdict, and the mean seeds used per row."""

    verdicts: dict[str, float]
    mean_seeds: float
    rows: int

    def rate(self, *verdicts: str) -> float:
        return sum(self.verdicts.get(v, 0.0) for v in verdicts)


def simulate(
    true_lifts: list[float], std: float, rule: DecisionRule, repeats: int, seed: int = 0, two_looks: bool = True
) -> Rates:
    """`repeats` studies of a family of rows with the given true lifts: each a pilot of `rule.pilot_seeds`, then
    (with `two_looks`) the seeds `plan_more_seeds` asks for, judged by `decide_two_looks`; else the pilot alone
    judged by `decide`."""
    rng = np.random.default_rng(seed)
    counts: Counter[str] = Counter()
    seeds_used = 0
    gc.freeze()  # statsmodels' Holm calls gc.collect() on every call: with the heap frozen that costs ~nothing
    try:
        for _ in range(repeats):
            seeds_used += _one_study(true_lifts, std, rule, rng, two_looks, counts)
    finally:
        gc.unfreeze()
    rows = repeats * len(true_lifts)
    return Rates({verdict: count / rows for verdict, count in counts.items()}, seeds_used / rows, rows)


def _one_study(
    true_lifts: list[float], std: float, rule: DecisionRule, rng: np.random.Generator, two_looks: bool, counts: Counter
) -> int:
    """Judge one simulated study, count its verdicts into `counts`, return the seeds it used."""
    draws = [rng.normal(lift, std, rule.max_seeds) for lift in true_lifts]  # seeds a study may use, in order
    pilot = [row[: rule.pilot_seeds] for row in draws]
    if two_looks:
        totals = plan_more_seeds(decide(pilot, rule, looks=2), rule)
        final = [row[:total] for row, total in zip(draws, totals, strict=True)]
        decisions = decide_two_looks(pilot, final, rule)
    else:
        decisions = decide(pilot, rule)
    counts.update(d.verdict for d in decisions)
    return sum(d.summary.n for d in decisions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Error rates of the verdicts on lifts of known true mean.")
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--std", type=float, default=0.015, help="spread of per-seed lifts (fraction)")
    parser.add_argument("--rows", type=int, default=1, help="rows in the family (multiplicity)")
    args = parser.parse_args(argv)
    rule = DecisionRule()
    delta = rule.margin
    print(f"δ = {delta * 100:g} pts, per-seed spread {args.std * 100:g} pts, {args.rows} row(s), {args.repeats} runs")
    for label, lift in (("true lift 0", 0.0), ("true lift δ", delta), ("true lift 2δ", 2 * delta)):
        for two_looks in (False, True):
            rates = simulate([lift] * args.rows, args.std, rule, args.repeats, two_looks=two_looks)
            design = "pilot then planned seeds" if two_looks else f"{rule.pilot_seeds} seeds, one look"
            shares = ", ".join(f"{v} {share:.3f}" for v, share in sorted(rates.verdicts.items()))
            print(f"{label:>13} | {design:<26} | {shares} | mean seeds {rates.mean_seeds:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
