"""The leaderboard is computed from sweep folders: paired lifts per (setting, method), the winner per setting,
the best GAN against the best cheap baseline in words, and the generators the later stages run."""

from __future__ import annotations

import pytest

from synthlift.core.results import write_results
from synthlift.report.leaderboard import best_generators, describe, render, summarise
from synthlift.report.tables import text_runs

GENERATORS = {  # option -> (class, per-seed lift in points)
    "cgan": ("synthlift.generators.text.cgan.ConditionalGAN", [1.0, 2.0, 1.5]),
    "smote": ("synthlift.generators.text.smote.SMOTE", [2.4, 2.6, 2.5]),
    "cvae": ("synthlift.generators.text.cvae.ConditionalVAE", [-1.0, -2.0, 0.5]),
    "mixup": ("synthlift.generators.text.mixup.Mixup", [0.0, 0.5, -0.2]),
}


def fake_sweep(root, name: str = "leaderboard"):
    sweep = root / name
    for option, (target, lifts) in GENERATORS.items():
        for seed, lift in enumerate(lifts):
            run_dir = sweep / f"gan={option},seed={seed}"
            run_dir.mkdir(parents=True)
            write_results(
                run_dir,
                {
                    "status": "ok",
                    "seed": seed,
                    "overrides": [f"gan=text/{option}", f"seed={seed}", "experiment=text/leaderboard"],
                    "config": {
                        "dataset": {"name": "mr", "train_per_class": 50},
                        "gan": {"_target_": target},
                        "augment": {"_target_": "synthlift.augment.mix.Mix"},
                        "synthetic_per_real": 1.0,
                    },
                    "metrics": {"acc_real_only": 0.6, "acc_augmented": 0.6 + lift / 100, "coverage": 0.5 + lift / 10},
                    "timings": {"gan_s": 2.0, "augmented_s": 1.0},
                    "started_at": "2026-11-22T07:00:00+00:00",
                    "finished_at": "2026-11-22T07:00:03+00:00",
                },
            )
    return sweep


def test_the_leaderboard_summarises_paired_lifts_and_says_who_wins(tmp_path):
    runs, failures = text_runs([fake_sweep(tmp_path), tmp_path / "not_run_yet"], describe)
    assert len(runs) == 12 and failures == []
    assert set(runs["strategy"]) == {"mix"}, "the experiment's default strategy is named by its option"
    summary = summarise(runs).set_index("generator")
    assert summary.loc["smote", "lift"] == pytest.approx(0.025) and summary.loc["smote", "verdict"] == "helps"
    assert summary.loc["cgan", "family"] == "GAN" and summary.loc["smote", "family"] == "cheap baseline"
    assert summary.loc["cvae", "compute_s"] == pytest.approx(3.0)
    assert best_generators(summary.reset_index(), count=2) == ["smote", "cgan"]
    text = render(summary.reset_index(), runs, failures, wall_s=None)
    assert "best is smote at +2.50 [+2.25, +2.75] points: helps. Its 4 rows: 1 helps, 3 inconclusive." in text
    assert "p-values adjusted by Holm (family-wise error rate) over the whole board (4 rows × 2 tests)" in text
    assert summary.loc["smote", "p_adjusted"] == pytest.approx(min(1.0, 8 * summary["p_value"].min()))
    assert "The best GAN (cgan, +1.50) does not beat the best cheap baseline (smote, +2.50) on the mean" in text
    assert "| coverage | 4 | +1.00 |" in text, "the quality metric that ranks configurations like their lift"
