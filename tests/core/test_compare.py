"""`synthlift compare`: its command line, its recommendation in the three kinds the user needs, and one real
run end to end (tiny data, two cheap methods), resumed."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from synthlift.__main__ import main as synthlift_main
from synthlift.compare import TRACKS, parse, recommendation
from synthlift.core.verdicts import DecisionRule

RULE = DecisionRule(margin=0.01, pilot_seeds=2, max_seeds=3)
RERUN = "synthlift compare dataset=text/file dataset.source=my.csv"


def _row(method: str, lift: float, verdict: str, seeds_needed: str = "—", n: int = 5) -> dict:
    return {
        "method": method,
        "ratio": 1.0,
        "n": n,
        "lift": lift,
        "ci_low": lift - 0.005,
        "ci_high": lift + 0.005,
        "verdict": verdict,
        "seeds_needed": seeds_needed,
    }


def test_recommends_the_best_method_that_helps():
    table = pd.DataFrame(
        [_row("mixup", 0.006, "helps"), _row("smote", 0.013, "helps"), _row("cvae", 0.0, "equivalent")]
    )
    text = recommendation(table, RULE, RERUN)
    assert text.startswith("use smote at 1×: +1.30 [+0.80, +1.80] points over real-only.")
    assert "Also helps: mixup (+0.60 [+0.10, +1.10])" in text


def test_says_synthetic_data_does_not_help_when_every_method_is_equivalent():
    table = pd.DataFrame([_row("smote", 0.002, "equivalent"), _row("cvae", -0.001, "equivalent")])
    assert recommendation(table, RULE, RERUN) == (
        "synthetic data does not help here: every method is within ±1 point of real-only."
    )


def test_says_what_to_run_when_undecided():
    table = pd.DataFrame(
        [
            _row("smote", 0.004, "inconclusive", "12"),
            _row("cvae", 0.001, "inconclusive", "20"),
            _row("mixup", 0.0, "equivalent"),
            _row("ddpm", -0.03, "hurts"),
        ]
    )
    text = recommendation(table, RULE, RERUN)
    assert f"inconclusive for smote and cvae: run 15 more seeds with `{RERUN} --max-seeds 20`" in text
    assert "within ±1 point of real-only: mixup" in text and "hurts: ddpm (-3.00 [-3.50, -2.50])" in text


def test_the_command_line_refuses_what_compare_chooses_itself(capsys):
    args, overrides, rule = parse(["dataset=text/file", "dataset.source=a.csv", "--max-seeds", "9", "--margin", "2"])
    assert overrides == ["dataset=text/file", "dataset.source=a.csv"]
    assert (rule.max_seeds, rule.margin) == (9, 0.02) and "smote" in args.methods
    with pytest.raises(SystemExit):
        parse(["gan=text/smote"])
    assert "compare chooses the methods and seeds itself" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--pilot-seeds", "9", "--max-seeds", "4"])
    assert "--pilot-seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["notanoverride"])
    assert "notanoverride" in capsys.readouterr().err


def test_an_image_dataset_compares_the_ways_of_using_synthetic_images(capsys):
    args, overrides, _ = parse(["dataset=image/folder", "dataset.root=/data/mine"])
    assert args.track is TRACKS["image"] and args.methods == ["mix", "synthetic_pretrain", "replace"]
    assert parse(["dataset=text/file", "dataset.source=a.csv"])[0].track is TRACKS["text"]
    with pytest.raises(SystemExit):
        parse(["dataset=image/shapes", "augment=mix"])  # the image track's methods are its augment options
    assert "augment=mix: compare chooses the methods" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["dataset=image/shapes", "--methods", "mix,smote"])
    assert "no augment option smote" in capsys.readouterr().err


def test_recommendation_without_a_ratio_names_the_method_alone():
    table = pd.DataFrame([_row("synthetic_pretrain", 0.02, "helps") | {"ratio": float("nan")}])
    assert recommendation(table, RULE, RERUN).startswith("use synthetic_pretrain: +2.00 [+1.50, +2.50] points")


IMAGE_SMOKE = [  # the image track's smoke settings (conf/experiment/image/image_smoke.yaml), as overrides
    "num_synthetic=32",
    "dataset.num_labeled=8",
    "gan.max_steps=30",
    "gan.batch_size=16",
    "inversion.pair_steps=20",
    "inversion.pair_batch_size=16",
    "tricks.lpips_finetune_steps=3",
    "labeler.num_members=2",
    "labeler.epochs=2",
    "labeler.cv_folds=2",
    "labeler.cv_members=1",
    "downstream.max_steps=20",
    "downstream.batch_size=8",
]


@pytest.mark.slow
def test_compare_end_to_end_on_images(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SYNTHLIFT_OUTPUT_DIR", str(tmp_path / "out"))
    argv = ["compare", "dataset=image/shapes", *IMAGE_SMOKE, "--methods", "mix", "--pilot-seeds", "2"]
    assert synthlift_main([*argv, "--max-seeds", "2"]) == 0
    report = (tmp_path / "out" / "compare" / "shapes" / "report.md").read_text()
    assert "| mix | 2 |" in report and "mIoU(with synthetic) − mIoU(real only)" in report
    assert "real only (mIoU, %)" in report


@pytest.mark.slow
def test_compare_end_to_end_on_a_csv_then_resumes(tmp_path: Path, monkeypatch, capsys):
    rows = [("great product, works well and i love it", 1), ("terrible, broke after a day and i hate it", 0)]
    texts = [(f"{text} number {i}", label) for i in range(60) for text, label in rows]
    source = tmp_path / "reviews.csv"
    pd.DataFrame(texts, columns=["text", "label"]).to_csv(source, index=False)
    monkeypatch.setenv("SYNTHLIFT_OUTPUT_DIR", str(tmp_path / "out"))
    argv = ["compare", "dataset=text/file", f"dataset.source={source}", "dataset.train_per_class=8"]
    argv += ["embedder=tfidf_svd", "--methods", "smote,gaussian_jitter", "--pilot-seeds", "2", "--max-seeds", "3"]
    assert synthlift_main(argv) == 0
    out = tmp_path / "out" / "compare" / "reviews"
    report = (out / "report.md").read_text()
    assert "**Recommendation: " in report and "| smote |" in report and "| gaussian_jitter |" in report
    assert "Seeds until decided: a pilot of 2 seeds per method" in report
    assert (out / "forest.png").read_bytes().startswith(b"\x89PNG")
    first = capsys.readouterr().out
    assert "compare · pilot · 4/4 runs" in first and "Recommendation:" in first
    assert max(map(len, first.splitlines())) <= 80
    results = sorted((out / "runs").rglob("results.json"))
    assert 4 <= len(results) <= 6
    stamps = [path.stat().st_mtime for path in results]
    assert synthlift_main(argv) == 0  # resumed: nothing retrains
    assert [path.stat().st_mtime for path in results] == stamps
    table_line = next(line for line in report.splitlines() if line.startswith("| smote |"))
    assert not math.isnan(float(table_line.split("|")[3]))  # the real-only accuracy was measured
