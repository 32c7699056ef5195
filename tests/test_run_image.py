"""End-to-end runs of the HandsOff image track through the real CLI, on tiny settings (`image_smoke`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthlift.errors import ConfigError
from synthlift.validation import validate_image_config

pytestmark = pytest.mark.slow
SMALL_SHAPES = ["dataset.num_unlabeled=200", "dataset.num_labeled_pool=60", "dataset.test_size=40"]


def run(*args: str, workdir: Path, cache_dir: Path, module: str = "synthlift.run") -> subprocess.CompletedProcess:
    options = [a for a in args if a.startswith("-")]  # Hydra's argparse wants options before overrides
    cmd = [sys.executable, "-m", module, *options]
    if module == "synthlift.run":
        cmd += ["--config-name", "handsoff", "experiment=image_smoke", f"paths.cache_dir={cache_dir}"]
    cmd += [a for a in args if not a.startswith("-")]
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    env.pop("SYNTHLIFT_OUTPUT_DIR", None)
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=900, cwd=workdir
    )


def single_result(root: Path) -> tuple[dict, Path]:
    [path] = list(root.rglob("results.json"))
    return json.loads(path.read_text()), path.parent


def assert_complete(record: dict, tasks: tuple[str, ...]) -> None:
    assert record["status"] == "ok", record["error"]
    metrics = record["metrics"]
    for variant in ("real_only", "synthetic", "both"):
        assert 0.0 <= metrics[f"miou_{variant}"] <= 1.0
        if "keypoints" in tasks:
            assert 0.0 <= metrics[f"pck_{variant}"] <= 1.0
        if "depth" in tasks:
            assert metrics[f"depth_rmse_{variant}"] >= 0 and metrics[f"depth_absrel_{variant}"] >= 0
    for name, (treated, baseline) in record["lift_pairs"].items():
        assert metrics[name] == pytest.approx(metrics[treated] - metrics[baseline], abs=1e-12)
    assert next(iter(record["lift_pairs"])) == "lift_miou_both"
    for name in ("inversion_mse", "inversion_perceptual", "labeler_cv_pixel_acc", "labeler_cv_miou"):
        assert np.isfinite(metrics[name])


def test_tiny_run_on_shapes_has_every_task_metric_and_believable_outputs(tmp_path, shared_cache_dir):
    proc = run(*SMALL_SHAPES, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record, run_dir = single_result(tmp_path)
    assert_complete(record, ("seg", "keypoints", "depth"))
    assert record["config"]["dataset"]["name"] == "shapes"
    sizes = record["sizes"]
    assert (sizes["labeled"], sizes["test"], sizes["unlabeled"]) == (8, 40, 200)
    assert sizes["synthetic_kept"] == sizes["synthetic_generated"] - round(0.1 * 32) == 29  # uncertainty filter
    shard = np.load(run_dir / "synthetic_shard.npz")
    assert shard["images"].shape == (29, 32, 32, 3) and shard["masks"].shape == (29, 32, 32)
    assert shard["keypoints"].shape == (29, 3, 3) and shard["depth"].shape == (29, 32, 32)
    assert list(shard["class_names"]) == ["background", "circle", "square", "triangle"]
    assert shard["masks"].max() < 4 and np.all(np.diff(np.sort(shard["uncertainty"])) >= 0)
    assert (run_dir / "synthetic_grid.png").read_bytes()[:4] == b"\x89PNG"


def test_tiny_run_on_horse_from_the_shared_data(tmp_path, shared_cache_dir, data_dir):
    proc = run("dataset=horse", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record, _ = single_result(tmp_path)
    assert_complete(record, ("seg",))
    assert record["config"]["dataset"]["root"] == str(data_dir / "images" / "weizmann_horse")
    assert (record["sizes"]["test"], record["sizes"]["unlabeled"]) == (50, 227)
    assert "pck_real_only" not in record["metrics"] and "iou_horse_both" in record["metrics"]


def test_tiny_run_on_faces_reports_the_merged_classes_too(tmp_path, shared_cache_dir):
    proc = run("dataset=celebamask", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record, _ = single_result(tmp_path)
    assert_complete(record, ("seg", "keypoints"))
    assert all(0 <= record["metrics"][f"miou_merged_{v}"] <= 1 for v in ("real_only", "synthetic", "both"))


def test_two_seed_multirun_reuses_the_cached_gan_and_reports(tmp_path, shared_cache_dir):
    proc = run("-m", "name=image_grid", "seed=0,1", *SMALL_SHAPES, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = proc.stdout + proc.stderr
    assert log.count("Reusing cached image GAN") >= 1 and log.count("Reusing cached inversion encoder") >= 1
    sweep_dir = tmp_path / "outputs" / "multirun" / "image_grid"
    records = [json.loads(p.read_text()) for p in sorted(sweep_dir.rglob("results.json"))]
    assert [r["seed"] for r in records] == [0, 1] and all(r["status"] == "ok" for r in records)
    report = run(str(sweep_dir), workdir=tmp_path, cache_dir=shared_cache_dir, module="synthlift.report")
    assert report.returncode == 0, report.stdout + report.stderr
    table = pd.read_csv(sweep_dir / "report.csv")
    assert len(table) == 1 and table["n"].tolist() == [2]
    both = np.mean([r["metrics"]["miou_both"] for r in records])
    real = np.mean([r["metrics"]["miou_real_only"] for r in records])
    assert table["lift_miou_both_mean"].iloc[0] == pytest.approx(both - real, abs=1e-9)
    assert {"lift_miou_synthetic_mean", "depth_rmse_reduction_both_mean", "lift_pck_both_mean"} <= set(table)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset=mr", r"dataset=mr is not an image dataset; the image track needs one"),
        ("tricks.uncertainty_filter=1.0", r"tricks.uncertainty_filter=1.0 is invalid: expected a fraction in \[0, 1\)"),
        ("dataset.resolution=48", r"dataset.resolution=48 is invalid"),
        ("tricks.perceptual=vgg", r"tricks.perceptual='vgg' is invalid"),
        ("gan.arch=biggan", r"gan.arch='biggan' is invalid"),
        ("dataset.num_labeled=0", r"dataset.num_labeled=0 is invalid"),
        ("dataset.num_labeled=3", r"labeler.cv_folds=5 needs at least as many labeled images"),
    ],
)
def test_impossible_image_config_values_are_rejected_naming_the_key(compose_config, override, message):
    with pytest.raises(ConfigError, match=message):
        validate_image_config(compose_config("handsoff", override))


def test_shipped_image_configs_validate(compose_config):
    for overrides in (
        (),
        ("dataset=horse",),
        ("dataset=celebamask", "gan=dcgan"),
        ("experiment=image_smoke",),
        ("experiment=handsoff_table",),
    ):
        cfg = compose_config("handsoff", *overrides)
        validate_image_config(cfg)
        assert cfg.track == "image" and cfg.gan.resolution == cfg.dataset.resolution == 32
