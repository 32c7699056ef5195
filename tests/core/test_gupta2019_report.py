"""The gupta2019 table is computed from sweep folders: rows in the paper's order, lifts paired by seed and judged
as one family (raw and Holm-adjusted p, verdicts that decide), the published numbers beside ours, a sentence per
row that says whether we reproduce them, and a forest plot beside the markdown."""

from __future__ import annotations

import math

import pytest

from synthlift.core.results import write_results
from synthlift.core.verdicts import EQUIVALENT, HELPS, HURTS, INCONCLUSIVE, TOO_FEW_SEEDS
from synthlift.report import gupta2019
from synthlift.report.gupta2019 import PUBLISHED, describe, render, reproduction, summarise
from synthlift.report.tables import text_runs

LIFTS = {  # tricks option -> per-seed lift in points (MR, 50/class, minilm, tuned)
    "none": [0.4, -0.4, 0.2, -0.1],  # tight around 0: equivalent within ±1 point, as the paper found
    "paper": [1.5, 2.0, 1.2, 1.8],  # helps, its CI covers the paper's +1.6
    "cc_pretrain": [0.9, -0.6, 0.3, -0.2],  # spread: inconclusive after Holm over the table
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


def test_the_table_pairs_seeds_judges_every_row_as_one_family_and_compares_with_the_paper(tmp_path):
    runs, failures = text_runs([fake_sweep(tmp_path), tmp_path / "gupta2019_sizes"], describe)
    assert len(runs) == 12 and failures == ["gupta2019_headline/tricks=paper,seed=9: no such file x.csv"]
    summary = summarise(runs).set_index("tricks")
    assert summary.loc["paper", "lift"] == pytest.approx(0.01625) and summary.loc["paper", "n"] == 4
    assert (summary["p_adjusted"] >= summary["p_value"]).all(), "Holm over the table's rows never lowers a p"
    assert summary.loc["paper", "p_adjusted"] > summary.loc["paper", "p_value"]
    assert summary["verdict"].to_dict() == {"none": EQUIVALENT, "paper": HELPS, "cc_pretrain": INCONCLUSIVE}
    assert summary.loc["paper", "reproduced"] == "reproduced: helps, CI covers +1.6"
    assert summary.loc["none", "reproduced"] == "reproduced: no improvement (equivalent to 0 within ±1 point)"
    needs = summary.loc["cc_pretrain", "seeds_needed"]
    assert int(needs) > 4
    assert summary.loc["cc_pretrain", "published"] == "—"
    assert summary.loc["cc_pretrain", "reproduced"] == "not reported in the paper"
    text = render(summary.reset_index(), runs, failures, wall_s=None, figure="gupta2019.png")
    assert "| MR, 50/class, minilm, protocol=tuned | 4 | 66.00 | +0.03 [" in text
    assert "within ±δ = 1 point" in text and "Holm (family-wise error rate) over every row of this table" in text
    assert "(3 rows): 1 helps, 1 equivalent, 1 inconclusive." in text
    assert "unknown (recorded before provenance)" in text, "the runs' code version is listed"
    assert "![Forest plot of every row, one panel per setting](gupta2019.png)" in text
    assert f"| inconclusive (needs {needs} seeds) | — | not reported in the paper |" in text
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith(("| vanilla", "| +", "| all but"))]
    assert rows == [
        "| vanilla conditional GAN",
        "| + tweet pretraining",
        "| + one-sided label smoothing = all five tricks (with early stopping)",
    ], "the paper's order, whatever the order of the runs"
    assert "## Failed runs" in text and "no such file x.csv" in text


def test_main_renders_the_table_and_its_forest_plot(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHLIFT_OUTPUT_DIR", str(tmp_path / "outputs"))
    fake_sweep(tmp_path / "outputs" / "multirun")
    output = tmp_path / "experiments" / "gupta2019.md"
    output.parent.mkdir()
    assert gupta2019.main(["--render-only", "--output", str(output)]) == 0
    assert (tmp_path / "experiments" / "gupta2019.png").stat().st_size > 0
    assert "](gupta2019.png)" in output.read_text()


def row(verdict: str, lift: float = 0.01, ci_low: float = -0.002, ci_high: float = 0.02, seeds: str = "12"):
    return {"verdict": verdict, "lift": lift, "ci_low": ci_low, "ci_high": ci_high, "seeds_needed": seeds}


@pytest.mark.parametrize(
    ("judged", "expected"),
    [
        (row(HELPS, 0.016, 0.01, 0.022), "reproduced: helps, CI covers +1.6"),
        (row(HELPS, 0.009, 0.004, 0.014), "partly: helps, but the CI excludes +1.6"),
        (row(HURTS, -0.01, -0.02, -0.004), "contradicted: it hurts (CI below 0)"),
        (row(EQUIVALENT, 0.001, -0.004, 0.006), "not reproduced: equivalent to no lift (within ±1 point)"),
        (row(INCONCLUSIVE), "undecided: inconclusive (needs 12 seeds) (the CI covers +1.6)"),
        (row(INCONCLUSIVE, 0.005, -0.002, 0.012), "undecided: inconclusive (needs 12 seeds)"),
        (row(TOO_FEW_SEEDS, 0.01, math.nan, math.nan, "—"), "undecided: too few seeds"),
    ],
)
def test_each_outcome_against_the_published_lift_has_its_sentence(judged, expected):
    assert reproduction(judged, PUBLISHED[("mr", "paper")]) == expected


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (HELPS, "not reproduced: here the vanilla GAN helps (CI above 0)"),
        (EQUIVALENT, "reproduced: no improvement (equivalent to 0 within ±1 point)"),
        (HURTS, "reproduced: no improvement (it hurts: CI below 0)"),
        (INCONCLUSIVE, "undecided: inconclusive (needs 12 seeds)"),
    ],
)
def test_the_vanilla_gans_no_improvement_is_reproduced_by_equivalence_not_by_a_wide_ci(verdict, expected):
    assert reproduction(row(verdict), PUBLISHED[("cr", "none")]) == expected
