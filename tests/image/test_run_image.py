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

from synthlift.core.errors import ConfigError
from synthlift.pipelines.image import build_components, run_image_experiment
from tests.run_if import RunIf

pytestmark = pytest.mark.slow
SMALL_SHAPES = ["dataset.num_unlabeled=200", "dataset.num_labeled_pool=60", "dataset.test_size=40"]


def run(*args: str, workdir: Path, cache_dir: Path, module: str = "synthlift.run") -> subprocess.CompletedProcess:
    options = [a for a in args if a.startswith("-")]  # Hydra's argparse wants options before overrides
    cmd = [sys.executable, "-m", module, *options]
    if module == "synthlift.run":
        cmd += ["--config-name", "handsoff", "experiment=image/image_smoke", f"paths.cache_dir={cache_dir}"]
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
    for variant in ("real_only", "augmented"):
        assert 0.0 <= metrics[f"miou_{variant}"] <= 1.0
        if "keypoints" in tasks:
            assert 0.0 <= metrics[f"pck_{variant}"] <= 1.0
        if "depth" in tasks:
            assert metrics[f"depth_rmse_{variant}"] >= 0 and metrics[f"depth_absrel_{variant}"] >= 0
    for name, (treated, baseline) in record["lift_pairs"].items():
        assert metrics[name] == pytest.approx(metrics[treated] - metrics[baseline], abs=1e-12)
    assert next(iter(record["lift_pairs"])) == "lift_miou"
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
    assert sizes["synthetic_used"] == 29  # augment=mix with ratio null: every kept image
    shard = np.load(run_dir / "synthetic_shard.npz")
    assert shard["images"].shape == (29, 32, 32, 3) and shard["masks"].shape == (29, 32, 32)
    assert shard["keypoints"].shape == (29, 3, 3) and shard["depth"].shape == (29, 32, 32)
    assert list(shard["class_names"]) == ["background", "circle", "square", "triangle"]
    assert shard["masks"].max() < 4 and np.all(np.diff(np.sort(shard["uncertainty"])) >= 0)
    assert (run_dir / "synthetic_grid.png").read_bytes()[:4] == b"\x89PNG"


@RunIf(data=True)
def test_tiny_run_on_horse_from_the_shared_data(tmp_path, shared_cache_dir, data_dir):
    proc = run("dataset=image/horse", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record, _ = single_result(tmp_path)
    assert_complete(record, ("seg",))
    assert record["config"]["dataset"]["root"] == str(data_dir / "images" / "weizmann_horse")
    assert (record["sizes"]["test"], record["sizes"]["unlabeled"]) == (50, 227)
    assert "pck_real_only" not in record["metrics"] and "iou_horse_augmented" in record["metrics"]
    assert "miou_merged_real_only" not in record["metrics"]  # horses have no merged class set


@RunIf(data=True)
def test_tiny_run_on_faces_reports_the_merged_classes_too(tmp_path, shared_cache_dir):
    proc = run("dataset=image/celebamask", workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record, _ = single_result(tmp_path)
    assert_complete(record, ("seg", "keypoints"))
    assert all(0 <= record["metrics"][f"miou_merged_{v}"] <= 1 for v in ("real_only", "augmented"))


def test_sweep_over_seeds_and_strategies_reuses_the_cached_gan_and_reports(tmp_path, shared_cache_dir):
    args = ("-m", "name=image_grid", "seed=0,1", "augment=mix,synthetic_pretrain", *SMALL_SHAPES)
    proc = run(*args, workdir=tmp_path, cache_dir=shared_cache_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = proc.stdout + proc.stderr
    # seed 1 reuses seed 0's GAN and encoder; the second strategy reuses each seed's whole synthetic pool
    assert log.count("Reusing cached image GAN") >= 1 and log.count("Reusing cached inversion encoder") >= 1
    assert log.count("Reusing cached synthetic pool") >= 2 and log.count("Reusing cached real-only scores") >= 2
    sweep_dir = tmp_path / "outputs" / "multirun" / "image_grid"
    records = [json.loads(p.read_text()) for p in sorted(sweep_dir.rglob("results.json"))]
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    by_strategy = {
        strategy: [r for r in records if r["config"]["augment"]["_target_"].endswith(name)]
        for strategy, name in (("mix", "Mix"), ("synthetic_pretrain", "SyntheticPretrain"))
    }
    assert [sorted(r["seed"] for r in runs) for runs in by_strategy.values()] == [[0, 1], [0, 1]]
    for mixed, pretrained in zip(*by_strategy.values(), strict=False):  # same seed: same baseline
        assert mixed["metrics"]["miou_real_only"] == pretrained["metrics"]["miou_real_only"]
        assert mixed["metrics"]["miou_augmented"] != pretrained["metrics"]["miou_augmented"]
        assert 0 <= mixed["metrics"]["coverage"] <= 1 and 0 <= mixed["metrics"]["c2st_acc"] <= 1  # image quality
    report = run(str(sweep_dir), workdir=tmp_path, cache_dir=shared_cache_dir, module="synthlift.report")
    assert report.returncode == 0, report.stdout + report.stderr
    table = pd.read_csv(sweep_dir / "report.csv")
    assert len(table) == 2 and table["n"].tolist() == [2, 2]
    assert {"lift_miou_mean", "depth_rmse_reduction_mean", "lift_pck_mean"} <= set(table)


def test_real_only_control_skips_the_generator_and_lifts_exactly_zero(compose_config, tmp_path):
    cfg = compose_config(
        "image", "experiment=image/image_smoke", "augment=none", *SMALL_SHAPES, f"paths.cache_dir={tmp_path}"
    )
    record = run_image_experiment(cfg, tmp_path)
    assert {"gan_s", "inversion_s", "labeler_s"}.isdisjoint(record["timings"])
    assert not (tmp_path / "image_gans").exists() and not (tmp_path / "synthetic_shard.npz").exists()
    assert record["sizes"]["synthetic_used"] == 0 and "synthetic_kept" not in record["sizes"]
    assert all(record["metrics"][lift] == 0 for lift in record["lift_pairs"])
    assert list(record["lift_pairs"])[:3] == ["lift_miou", "lift_pixel_acc", "lift_pck"]


def test_a_validation_set_is_scored_beside_the_test_set_without_moving_it(compose_config, tmp_path):
    """`dataset.validation_size` adds `val_` scores of every arm (what settings are chosen on) and their
    lifts; the test-set numbers are those of the same run without a validation set."""

    def record(*overrides: str) -> dict:
        cfg = compose_config(
            "image",
            "experiment=image/image_smoke",
            "augment=none",
            "+downstream/image@transfer_baseline=unet_efficientnet",
            "transfer_baseline.max_steps=5",
            *SMALL_SHAPES,
            f"paths.cache_dir={tmp_path / 'cache'}",
            *overrides,
        )
        run_dir = tmp_path / str(len(overrides))
        run_dir.mkdir()
        return run_image_experiment(cfg, run_dir)

    plain, validated = record(), record("+dataset.validation_size=12")
    assert validated["sizes"]["validation"] == 12 and "validation" not in plain["sizes"]
    assert not any(name.startswith("val_") for name in plain["metrics"])
    for name, value in plain["metrics"].items():
        assert validated["metrics"][name] == pytest.approx(value)
    metrics = validated["metrics"]
    assert validated["lift_pairs"]["val_transfer_lift_miou"] == ["val_miou_transfer", "val_miou_real_only"]
    assert metrics["val_transfer_lift_miou"] == pytest.approx(
        metrics["val_miou_transfer"] - metrics["val_miou_real_only"]
    )
    assert all(0 <= metrics[f"val_miou_{arm}"] <= 1 for arm in ("real_only", "transfer", "augmented"))
    assert metrics["val_miou_real_only"] != metrics["miou_real_only"]  # scored on other images


@RunIf(min_gpus=1)
def test_tiny_run_on_the_gpu(compose_config, tmp_path):
    """Stages outside Lightning (inversion, labeler, generation) follow the trainer onto the GPU."""
    cfg = compose_config(
        "image", "experiment=image/image_smoke", "trainer=gpu", *SMALL_SHAPES, f"paths.cache_dir={tmp_path}"
    )
    record = run_image_experiment(cfg, tmp_path)
    assert record["sizes"]["synthetic_kept"] == 29 and 0 <= record["metrics"]["miou_augmented"] <= 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset=text/mr", r"dataset=mr is not an image dataset; .*`--config-name text`"),
        ("tricks.uncertainty_filter=1.0", r"labeler.uncertainty_filter=1.0 is invalid: expected a number in \[0, 1\)"),
        ("dataset.resolution=48", r"dataset.resolution=48 is invalid"),
        ("perceptual=lpips perceptual.net=vgg16", r"perceptual.net='vgg16' is invalid"),
        ("+gan.arch=biggan", r"gan.arch is not a known key; the known keys of gan are: .*discriminator"),
        ("gan.generator.z_dim=0", r"gan.generator.z_dim=0 is invalid"),
        ("gan.lr=-1", r"gan.lr=-1 is invalid"),
        ("dataset.num_labeled=0", r"dataset.num_labeled=0 is invalid"),
        ("dataset.num_labeled=3", r"labeler.cv_folds=5 needs at least as many labeled images"),
        ("num_synthetic=0", r"num_synthetic=0 is invalid"),
        ("augment=replace augment.ratio=0", r"augment.ratio=0 is invalid"),
        ("gan.generator.resolution=64", r"gan.generator.resolution=64 differs from dataset.resolution=32"),
        ("augment=filter", r"augment=filter needs .* which this track lacks"),
        ("augment=dann", r"augment=dann needs a downstream model with a domain-adversarial head"),
    ],
)
def test_impossible_image_config_values_are_rejected_naming_the_key(compose_config, override, message):
    with pytest.raises(ConfigError, match=message):
        build_components(compose_config("handsoff", *override.split()))


def test_shipped_image_configs_build(compose_config):
    for overrides in (
        (),
        ("dataset=image/horse",),
        ("dataset=image/celebamask", "gan=image/dcgan"),
        ("experiment=image/image_smoke",),
        ("experiment=image/handsoff_table",),
        ("augment=none",),
        ("augment=replace", "perceptual=discriminator"),
    ):
        cfg = compose_config("image", *overrides)
        parts = build_components(cfg)
        assert cfg.track == "image" and parts.gan.generator.resolution == parts.dataset.resolution == 32


def test_strategies_share_the_cached_pool_and_real_only_models_and_face_the_transfer_baseline(compose_config, tmp_path):
    """A sweep over strategies pays for GAN -> labeler -> generation and for each real-only model once; the
    ImageNet-pretrained U-Net is a third arm, paired with the augmented model by seed."""

    def record(strategy: str) -> dict:
        cfg = compose_config(
            "image",
            "experiment=image/image_smoke",
            f"augment={strategy}",
            "+downstream/image@transfer_baseline=unet_efficientnet",
            "transfer_baseline.max_steps=5",
            *SMALL_SHAPES,
            f"paths.cache_dir={tmp_path / 'cache'}",
        )
        run_dir = tmp_path / strategy
        run_dir.mkdir()
        return run_image_experiment(cfg, run_dir)

    mixed, replaced = record("mix"), record("replace")
    assert not mixed["sizes"]["synthetic_pool_cached"] and replaced["sizes"]["synthetic_pool_cached"]
    assert "gan_s" in mixed["timings"] and {"gan_s", "labeler_s"}.isdisjoint(replaced["timings"])
    shared = ("inversion_mse", "labeler_cv_miou", "labeler_test_miou", "miou_real_only", "miou_transfer")
    assert all(mixed["metrics"][key] == replaced["metrics"][key] for key in shared)
    assert mixed["metrics"]["miou_augmented"] != replaced["metrics"]["miou_augmented"]
    for result in (mixed, replaced):
        metrics = result["metrics"]
        assert result["lift_pairs"]["lift_over_transfer_miou"] == ["miou_augmented", "miou_transfer"]
        assert metrics["lift_over_transfer_miou"] == pytest.approx(metrics["miou_augmented"] - metrics["miou_transfer"])
        assert 0 <= metrics["labeler_test_pixel_acc"] <= 1 and np.isfinite([metrics["kid"], metrics["kid_real"]]).all()
    assert len(list((tmp_path / "cache" / "synthetic_pools").glob("*.pt"))) == 1
    assert len(list((tmp_path / "cache" / "real_only_scores").glob("*.json"))) == 2  # scratch and pretrained
