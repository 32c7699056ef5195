"""The sweep report on fake multirun output: grouping, statistics, failed runs and the files written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthlift.core.stats import summarize_paired
from synthlift.core.verdicts import DecisionRule
from synthlift.report import build_report, group_key, main

TEXT_LIFTS = {"lift": ["acc_augmented", "acc_real_only"], "lift_f1": ["f1_augmented", "f1_real_only"]}
# config -> per-seed (acc_augmented, acc_real_only): "tricks=all" clearly helps, "tricks=none" is noise.
ACCURACIES = {
    "tricks=all": [(0.825, 0.80), (0.84, 0.81), (0.838, 0.81)],
    "tricks=none": [(0.81, 0.80), (0.80, 0.81), (0.815, 0.81)],
}


def _write(sweep: Path, run_dir: str, record: dict | str) -> None:
    path = sweep / run_dir / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record))


def _text_record(seed: int, override: str, augmented: float, real: float) -> dict:
    metrics = {"acc_augmented": augmented, "acc_real_only": real, "lift": augmented - real}
    metrics |= {"f1_augmented": augmented - 0.05, "f1_real_only": real - 0.05, "lift_f1": augmented - real}
    overrides = [f"seed={seed}", override]
    return {
        "status": "ok",
        "error": None,
        "seed": seed,
        "overrides": overrides,
        "metrics": metrics,
        "lift_pairs": TEXT_LIFTS,
    }


@pytest.fixture()
def sweep(tmp_path: Path) -> Path:
    for override, pairs in ACCURACIES.items():
        for seed, (augmented, real) in enumerate(pairs):
            _write(tmp_path, f"seed={seed},{override}", _text_record(seed, override, augmented, real))
    error = {"type": "GANDivergedError", "message": "generator loss became NaN at step 120"}
    failed = {
        "status": "failed",
        "error": error,
        "seed": 3,
        "overrides": ["seed=3", "tricks=none"],
        "metrics": {},
    }
    _write(tmp_path, "seed=3,tricks=none", failed)
    _write(tmp_path, "seed=4,tricks=all", '{"status": "ok", "metr')  # killed mid-write by hand
    return tmp_path


def test_groups_by_overrides_without_seed(sweep: Path):
    report = build_report(sweep)
    groups = report.groups.set_index("config")
    assert list(groups.index) == ["tricks=all", "tricks=none"]
    assert groups["n"].tolist() == [3, 3]
    assert groups["n_failed"].tolist() == [0, 1]
    assert groups["seeds"].tolist() == ["0, 1, 2", "0, 1, 2"]
    assert list(report.lift_pairs) == ["lift", "lift_f1"]


def test_lift_statistics_are_the_paired_summary(sweep: Path):
    groups = build_report(sweep, DecisionRule(alpha=0.1)).groups.set_index("config")
    for config, pairs in ACCURACIES.items():
        augmented, real = np.array(pairs).T
        row = groups.loc[config]
        assert row["lift_treated"] == pytest.approx(augmented.mean(), abs=1e-15)
        assert row["lift_baseline"] == pytest.approx(real.mean(), abs=1e-15)
        assert abs(row["lift_mean"] - (augmented.mean() - real.mean())) < 1e-12
        expected = summarize_paired(augmented, real, confidence=0.9)
        for name in ("n", "mean", "std", "ci_low", "ci_high", "p_value"):
            assert row[f"lift_{name}"] == pytest.approx(getattr(expected, name), rel=1e-12)
    assert groups.loc["tricks=all", "lift_verdict"] == "helps"
    assert groups.loc["tricks=none", "lift_verdict"] == "inconclusive"
    assert int(groups.loc["tricks=none", "lift_seeds_needed"]) > 3  # what the user should run next
    # Holm over 2 configurations x 2 tests: the adjusted p is at least the raw one
    assert (groups["lift_p_adjusted"] >= groups["lift_p_value"]).all()


def test_failed_and_corrupt_runs_are_listed(sweep: Path):
    failed = {str(run.run_dir): run.error for run in build_report(sweep).failed}
    assert failed["seed=3,tricks=none"] == "GANDivergedError: generator loss became NaN at step 120"
    assert "JSONDecodeError" in failed["seed=4,tricks=all"]


def test_main_writes_markdown_csv_and_plot(sweep: Path, capsys):
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "Failed runs: 2" in out and "GANDivergedError" in out
    assert "warning: the code of these runs" in out  # records without `code` cannot be traced to a commit
    assert max(len(line) for line in out.splitlines() if "│" in line or "lift" in line) <= 80

    markdown = (sweep / "report.md").read_text()
    assert "percentage points" in markdown
    assert (
        "- **tricks=all**: lift = acc_augmented − acc_real_only: "
        "synthetic data helps: +2.8 pts (95% CI [2.1, 3.4]) over 3 seeds" in markdown
    )
    assert (
        "- **tricks=none**: lift = acc_augmented − acc_real_only: inconclusive: +0.2 pts (95% CI [-2.4, 2.8]) over "
        "3 seeds; about 17 seeds would decide it" in markdown
    )
    assert "p-values adjusted by Holm (family-wise error rate) over the sweep's 2 configurations" in markdown
    assert "## lift_f1 = f1_augmented − f1_real_only" in markdown
    row = "| tricks=all | 3 | 0 | 0, 1, 2 | 80.67 | 83.43 | +2.77 [+2.14, +3.39] | 0.003 | 0.011 | 1.000 | helps |"
    assert row in markdown
    assert "## Failed runs (2)" in markdown
    assert "- `seed=3,tricks=none`: GANDivergedError: generator loss became NaN at step 120" in markdown
    assert "- `seed=4,tricks=all`: unreadable results.json: JSONDecodeError" in markdown

    written = pd.read_csv(sweep / "report.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(written, build_report(sweep).groups, check_exact=True)

    png = (sweep / "forest.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert not list(sweep.glob(".*.tmp")), "atomic writes left temporary files behind"


def test_image_track_reports_every_lift_pair_with_union(tmp_path: Path):
    lifts = {
        "lift_miou_synthetic": ["miou_synthetic", "miou_real_only"],
        "lift_miou_both": ["miou_both", "miou_real_only"],
    }
    for seed in range(3):
        metrics = {"miou_real_only": 0.60 + 0.01 * seed, "miou_synthetic": 0.58 + 0.012 * seed}
        record_lifts = dict(lifts)
        if seed < 2:  # the third seed predates the "both" arm
            metrics["miou_both"] = 0.63 + 0.01 * seed
        else:
            del record_lifts["lift_miou_both"]
        record = {
            "status": "ok",
            "seed": seed,
            "overrides": [f"seed={seed}"],
            "metrics": metrics,
            "lift_pairs": record_lifts,
        }
        _write(tmp_path, f"seed={seed}", record)

    report = build_report(tmp_path)
    assert list(report.lift_pairs) == ["lift_miou_synthetic", "lift_miou_both"]
    (row,) = report.groups.to_dict("records")
    assert row["config"] == "(defaults)" and row["n"] == 3
    assert row["lift_miou_synthetic_n"] == 3 and row["lift_miou_both_n"] == 2
    assert row["lift_miou_both_mean"] == pytest.approx(0.03)
    assert row["lift_miou_both_baseline"] == pytest.approx(0.605)  # over the two seeds that have "both"
    assert main([str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "## lift_miou_synthetic = miou_synthetic − miou_real_only" in markdown
    assert "## lift_miou_both = miou_both − miou_real_only" in markdown
    assert "- **(defaults)**: lift_miou_synthetic = " in markdown


def test_single_seed_and_all_failed_groups_still_report(tmp_path: Path):
    _write(tmp_path, "a/seed=0,gan=dcgan", _text_record(0, "gan=dcgan", 0.8, 0.7))
    crashed = {"status": "failed", "error": {"type": "RuntimeError", "message": "CUDA out of memory"}}
    _write(tmp_path, "a/seed=0,gan=big", crashed | {"seed": 0, "overrides": ["seed=0", "gan=big"]})
    report = build_report(tmp_path)
    groups = report.groups.set_index("config")
    assert groups.loc["gan=dcgan", "lift_verdict"] == "too few seeds"
    assert math.isnan(groups.loc["gan=dcgan", "lift_ci_low"])
    assert groups.loc["gan=big", "n"] == 0 and groups.loc["gan=big", "n_failed"] == 1
    assert main([str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "too few seeds to tell: +10.0 pts from a single seed" in markdown
    assert "- **gan=big**: lift = acc_augmented − acc_real_only: no successful runs measured this lift" in markdown
    assert "- `a/seed=0,gan=big`: RuntimeError: CUDA out of memory" in markdown


def test_sweep_of_only_corrupt_files_lists_them(tmp_path: Path):
    _write(tmp_path, "seed=0", "")
    assert main([str(tmp_path)]) == 1  # written, but nothing finished: the exit status says so
    markdown = (tmp_path / "report.md").read_text()
    assert "0 configurations, 0 ok runs, 1 failed runs" in markdown
    assert "- `seed=0`: unreadable results.json: JSONDecodeError" in markdown
    assert not (tmp_path / "forest.png").exists()


def test_stored_lift_that_disagrees_with_its_metrics_is_warned(tmp_path: Path):
    record = _text_record(0, "x=1", 0.8, 0.7)
    record["metrics"]["lift"] = 0.5
    _write(tmp_path, "seed=0,x=1", record)
    (warning,) = build_report(tmp_path).warnings
    assert warning.startswith("seed=0,x=1: metrics['lift'] = 0.5")


def test_group_key_drops_only_the_seed():
    assert group_key(["seed=1", "tricks=all", "gan=dcgan"]) == "gan=dcgan, tricks=all"
    assert group_key(["++seed=1"]) == group_key(None) == "(defaults)"
    assert group_key(["seeds_file=a"]) == "seeds_file=a"


def test_missing_or_empty_directory_exits_2(tmp_path: Path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "no results.json found" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()


def test_bad_confidence_is_a_usage_error(tmp_path: Path):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), "--confidence", "95"])
    assert exc.value.code == 2


def test_null_metrics_are_not_measured_and_listed_with_their_reason(tmp_path: Path, capsys):
    for seed, (augmented, real) in enumerate(ACCURACIES["tricks=all"]):
        record = _text_record(seed, "tricks=all", augmented, real)
        record["metrics"]["diversity_ratio"] = None
        record["unmeasured"] = {"diversity_ratio": "one example per class"}
        if seed == 2:  # this seed's baseline could not be measured: its lift is left out, not counted as 0
            record["metrics"] |= {"acc_real_only": None, "lift": None}
            record["unmeasured"] |= {"acc_real_only": "not finite (nan)", "lift": "not finite (nan)"}
        _write(tmp_path, f"seed={seed},tricks=all", record)
        _write(
            tmp_path, f"seed={seed},tricks=none", _text_record(seed, "tricks=none", *ACCURACIES["tricks=none"][seed])
        )

    report = build_report(tmp_path)
    row = report.groups.set_index("config").loc["tricks=all"]
    assert list(report.not_measured) == ["tricks=all"]
    assert row["n"] == 3 and row["lift_n"] == 2 and row["lift_f1_n"] == 3
    assert row["lift_baseline"] == pytest.approx(np.mean([real for _, real in ACCURACIES["tricks=all"][:2]]))
    assert not report.warnings and not report.failed
    assert main([str(tmp_path)]) == 0
    assert "not measured" in capsys.readouterr().out
    markdown = (tmp_path / "report.md").read_text()
    assert "## Not measured" in markdown
    assert "- **tricks=all**: `diversity_ratio`: one example per class (seeds 0, 1, 2)" in markdown
    assert "- **tricks=all**: `acc_real_only`: not finite (nan) (seed 2)" in markdown
    assert "- **tricks=all**: `lift`: not finite (nan) (seed 2)" in markdown


def test_quality_metrics_are_ranked_by_rank_correlation_with_lift_across_configurations(tmp_path: Path, capsys):
    # Five configurations, lift rising from +0 to +4 points; two seeds each. `precision` rises with lift (its
    # seeds scatter around the configuration's value; one seed did not measure it), `c2st_acc` falls,
    # `density` is constant and `coverage` was measured by two configurations only.
    for config in range(5):
        override = f"gan=g{config}"
        for seed in range(2):
            record = _text_record(seed, override, 0.80 + 0.01 * config + 0.001 * seed, 0.80 + 0.001 * seed)
            spread = 0.004 if seed else -0.004  # less than the step between configurations
            record["metrics"] |= {
                "precision": None if (config, seed) == (2, 1) else 0.5 + 0.01 * config + spread,
                "c2st_acc": 0.9 - 0.05 * config,
                "density": 1.0,
                "coverage": 0.7 if config < 2 else None,
                "augmented_steps": 100.0 * config,  # a protocol choice of an arm, not a quality metric
                "selected_epoch": float(config),  # a generator-training diagnostic
            }
            _write(tmp_path, f"seed={seed},{override}", record)

    predictors = build_report(tmp_path).predictors
    assert predictors.lift == "lift" and predictors.unit == "configurations"
    assert [(c.metric, c.n) for c in predictors.ranked] == [("c2st_acc", 5), ("precision", 5)]
    assert [c.rho for c in predictors.ranked] == pytest.approx([-1.0, 1.0])
    for correlation in predictors.ranked:
        assert correlation.p_value == pytest.approx(2 / math.factorial(5))  # exact: 2 of the 5! pairings are as extreme
    assert set(predictors.skipped) == {"density", "coverage"}
    assert predictors.skipped["density"].startswith("constant (1) across the 5 configurations")
    assert "configurations measuring it and lift: 2, fewer than the 4" in predictors.skipped["coverage"]

    assert main([str(tmp_path)]) == 0
    assert "no correlation: " in capsys.readouterr().out
    markdown = (tmp_path / "report.md").read_text()
    assert "## Which quality metric predicts lift?" in markdown
    assert "| metric | n | Spearman rho with lift | p |" in markdown
    assert "| c2st_acc | 5 | -1.00 | 0.017 | 0.033 | yes, lower is better |" in markdown
    assert "| precision | 5 | +1.00 | 0.017 | 0.033 | yes, higher is better |" in markdown
    assert "- `density`: constant (1) across the 5 configurations, nothing to rank" in markdown
    assert "`augmented_steps`" not in markdown and "| selected_epoch" not in markdown


def test_a_single_configuration_has_no_lift_predictors(sweep: Path):
    for seed in range(5):
        record = _text_record(seed, "gan=only", 0.8 + 0.01 * seed, 0.8)
        record["metrics"] |= {"precision": 0.5 + 0.01 * seed, "coverage": 0.4}
        _write(sweep / "single", f"seed={seed}", record)
    predictors = build_report(sweep / "single").predictors
    assert not predictors.ranked  # seeds of one configuration are not counted as separate points
    assert predictors.skipped == dict.fromkeys(
        ("precision", "coverage"), "configurations measuring it and lift: 1, fewer than the 4 a rank correlation needs"
    )


def test_archived_results_are_mentioned_not_counted(tmp_path: Path):
    for seed in (0, 1):
        _write(tmp_path, f"seed={seed}", _text_record(seed, "x=1", 0.8, 0.7))
    _write(tmp_path, "seed=0/stale-2026-01-01T00-00-00", "")
    (tmp_path / "seed=0/stale-2026-01-01T00-00-00/results.json").rename(
        tmp_path / "seed=0/stale-2026-01-01T00-00-00/results.stale.json"
    )
    report = build_report(tmp_path)
    assert int(report.groups["n"].sum()) == 2 and not report.failed
    assert main([str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "## Archived results (1)" in markdown and "- `seed=0/stale-2026-01-01T00-00-00`" in markdown
