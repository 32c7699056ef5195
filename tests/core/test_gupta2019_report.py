"""The gupta2019 table is computed from sweep folders: rows in the paper's order, lifts paired by seed,
the published numbers beside ours, and a sentence per row that says whether we reproduce them."""

from __future__ import annotations

import math

import pytest

from synthlift.core.results import write_results
from synthlift.core.stats import LiftSummary
from synthlift.report.gupta2019 import PUBLISHED, describe, render, reproduction, summarise
from synthlift.report.tables import text_runs

LIFTS = {  # tricks option -> per-seed lift in points (MR, 50/class, minilm, tuned)
    "none": [0.5, -0.5, 0.2, -0.1],
    "paper": [1.5, 2.0, 1.2, 1.8],
    "cc_pretrain": [0.3, 0.1, 0.4, 0.0],
}


def fake_sweep(root, name: str = "gupta2019_headline"):
    sweep = root / name
    for tricks, lifts in LIFTS.items():
        for seed, lift in enumerate(lifts):
            run_dir = sweep / f"tricks={tricks},seed={seed}"
            run_dir.mkdir(parents=True)
            write_results(
                run_dir,
                {
                    "status": "ok",
                    "seed": seed,
                    "overrides": [f"tricks=text/{tricks}", "embedder=minilm", "protocol=tuned", f"seed={seed}"],
                    "config": {"dataset": {"name": "mr", "train_per_class": 50}},
                    "metrics": {"acc_real_only": 0.66, "acc_augmented": 0.66 + lift / 100},
                    "timings": {"gan_s": 10.0},
                    "started_at": "2026-12-04T18:00:00+00:00",
                    "finished_at": "2026-12-04T18:00:10+00:00",
                },
            )
    failed = sweep / "tricks=paper,seed=9"
    failed.mkdir()
    write_results(failed, {"status": "failed", "error": {"type": "DataError", "message": "no such file x.csv"}})
    return sweep


def test_the_table_pairs_seeds_and_compares_with_the_paper(tmp_path):
    runs, failures = text_runs([fake_sweep(tmp_path), tmp_path / "gupta2019_sizes"], describe)
    assert len(runs) == 12 and failures == ["gupta2019_headline/tricks=paper,seed=9: no such file x.csv"]
    summary = summarise(runs).set_index("tricks")
    assert summary.loc["paper", "lift"] == pytest.approx(0.01625) and summary.loc["paper", "n"] == 4
    assert summary.loc["paper", "reproduced"] == "reproduced: helps, CI covers +1.6"
    assert summary.loc["none", "reproduced"] == "reproduced: no improvement (CI covers 0)"
    assert summary.loc["cc_pretrain", "published"] == "—"
    text = render(summary.reset_index(), runs, failures, wall_s=None)
    assert "| MR, 50/class, minilm, protocol=tuned | 4 | 66.00 | +0.03 [" in text
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith(("| vanilla", "| +", "| all but"))]
    assert rows == [
        "| vanilla conditional GAN",
        "| + tweet pretraining",
        "| + one-sided label smoothing = all five tricks (with early stopping)",
    ], "the paper's order, whatever the order of the runs"
    assert "## Failed runs" in text and "no such file x.csv" in text


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (LiftSummary(10, 0.009, 0.01, 0.004, 0.014, 0.01), "partly: helps, but the CI excludes +1.6"),
        (LiftSummary(10, 0.005, 0.01, -0.002, 0.012, 0.2), "not reproduced: no significant lift"),
        (
            LiftSummary(10, 0.005, 0.01, -0.002, 0.020, 0.2),
            "not reproduced: no significant lift (the CI covers both 0 and +1.6)",
        ),
        (LiftSummary(10, -0.01, 0.01, -0.02, -0.004, 0.01), "contradicted: it hurts (CI below 0)"),
        (LiftSummary(1, 0.01, math.nan, math.nan, math.nan, math.nan), "undecided: too few seeds"),
    ],
)
def test_each_outcome_against_the_published_lift_has_its_sentence(summary, expected):
    assert reproduction(summary, PUBLISHED[("mr", "paper")]) == expected


def test_a_vanilla_gan_that_helps_contradicts_no_improvement():
    helps = LiftSummary(10, 0.01, 0.01, 0.004, 0.016, 0.01)
    assert reproduction(helps, PUBLISHED[("cr", "none")]) == "not reproduced: here the vanilla GAN helps (CI above 0)"
