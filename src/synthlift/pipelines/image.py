"""The image track (HandsOff, Xu et al. CVPR 2023), one run:

images -> GAN (cached) -> inversion encoder (cached) -> latents of the labeled images -> per-pixel labeler
on hypercolumns -> synthetic labeled images (uncertainty-filtered) -> the augmentation strategy's training
plan -> a U-Net trained on real only and one trained on the plan -> metrics on the real held-out test set.

Every stage is a component built from its config group; this module only orders them. The two U-Nets share
the seed, settings and test set, so `lift_<metric>` = metric(augmented) - metric(real only) is a paired
measurement; for errors (depth RMSE/AbsRel) the lift is the reduction. `augment=mix` is HandsOff's
"synthetic + real", `augment=replace` its "synthetic only", and `augment=none` skips the generator
altogether (lift exactly 0).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger

from synthlift.augment.base import AugmentStrategy, TrainingPhase, TrainingPlan
from synthlift.core.build import build
from synthlift.core.checks import non_negative_int, positive_int
from synthlift.core.errors import ConfigError
from synthlift.core.io import atomic_path
from synthlift.core.plots import plot_sample_grid
from synthlift.core.timing import StageTimer
from synthlift.data.image.base import ImageDataset
from synthlift.data.image.examples import DenseExamples, SyntheticPool
from synthlift.data.image.labels import ImageSplit
from synthlift.data.image.transforms import to_tensor_images, to_uint8_images
from synthlift.downstream.unet import DenseUNet, dense_heads
from synthlift.generators.image.gan import ImageGAN
from synthlift.inversion.encoder import EncoderInversion
from synthlift.labeler.handsoff import HandsOffLabeler
from synthlift.metrics.base import QualityMetrics
from synthlift.metrics.dense import LABEL_OF_HEAD
from synthlift.perceptual.base import PerceptualDistance

log = logging.getLogger(__name__)

HIGHER_IS_BETTER = ("miou", "pixel_acc", "pck")
LOWER_IS_BETTER = ("depth_rmse", "depth_absrel")


@dataclass
class ImageComponents:
    """One object per config group of the image track. `perceptual` may still be a partial that needs the
    trained discriminator (`perceptual=discriminator`)."""

    dataset: ImageDataset
    gan: ImageGAN
    perceptual: PerceptualDistance | Callable[..., PerceptualDistance]
    inversion: EncoderInversion
    labeler: HandsOffLabeler
    augment: AugmentStrategy
    downstream: DenseUNet


def build_components(cfg: DictConfig) -> ImageComponents:
    """Build every component from its group before any work, so that an impossible value fails at once,
    naming its key; then check the rules that span groups."""
    _require_image_dataset(cfg)
    non_negative_int("seed", cfg.seed)
    positive_int("num_synthetic", cfg.num_synthetic)
    parts = ImageComponents(**{group.name: build(cfg[group.name], group.name) for group in fields(ImageComponents)})
    parts.augment.check_track(provides=frozenset())  # dense labels, no class per image, a U-Net without domain head
    if parts.augment.uses_synthetic and parts.dataset.num_labeled < parts.labeler.cv_folds:
        raise ConfigError(
            f"labeler.cv_folds={parts.labeler.cv_folds} needs at least as many labeled images, "
            f"but dataset.num_labeled={parts.dataset.num_labeled}"
        )
    if parts.gan.generator.resolution != parts.dataset.resolution:
        raise ConfigError(
            f"gan.generator.resolution={parts.gan.generator.resolution} differs from "
            f"dataset.resolution={parts.dataset.resolution}: the GAN must generate images of the data's size"
        )
    return parts


def _require_image_dataset(cfg: DictConfig) -> None:
    """A text dataset under the image root gets one clear message, before anything is built from it."""
    target = OmegaConf.select(cfg, "dataset._target_", default=None)
    try:
        dataset_class = get_class(target) if target else None
    except ImportError:  # hydra reports an unknown class as an ImportError naming it
        dataset_class = None
    if not (isinstance(dataset_class, type) and issubclass(dataset_class, ImageDataset)):
        raise ConfigError(
            f"dataset={OmegaConf.select(cfg, 'dataset.name', default=target)} is not an image dataset; the image "
            f"track needs one of conf/dataset/image/ (e.g. dataset=image/shapes). For a text dataset use the "
            f"text track's root config: `--config-name text`"
        )


def lift_pairs(metric_names: Sequence[str]) -> dict[str, list[str]]:
    """`{lift: [treated, baseline]}` for every headline metric a run measured; the first is the primary
    (mIoU of the augmented model vs real only). Error metrics are flipped so that positive always helps."""
    pairs = {f"lift_{metric}": [f"{metric}_augmented", f"{metric}_real_only"] for metric in HIGHER_IS_BETTER}
    pairs |= {f"{metric}_reduction": [f"{metric}_real_only", f"{metric}_augmented"] for metric in LOWER_IS_BETTER}
    return {lift: pair for lift, pair in pairs.items() if set(pair) <= set(metric_names)}


def run_image_experiment(cfg: DictConfig, run_dir: Path, loggers: Sequence[Logger] = ()) -> dict[str, Any]:
    """Run every stage and return the `metrics`, `sizes`, `timings` and `lift_pairs` of results.json."""
    parts = build_components(cfg)
    quality = QualityMetrics.from_config(cfg.get("metrics"))
    feature_space = build(cfg.quality_features, "quality_features") if quality.metrics else None
    timer = StageTimer()
    seed = int(cfg.seed)
    with timer("data"):
        split = parts.dataset.load(cfg.paths.data_dir)
    class_names = list(split.labeled.labels.class_names)
    real, test = DenseExamples.from_image_set(split.labeled), DenseExamples.from_image_set(split.test)
    metrics: dict[str, float] = {}
    sizes = {"unlabeled": len(split.unlabeled), "labeled": len(split.labeled), "test": len(split.test)}

    pool = None
    if parts.augment.uses_synthetic:
        pool, generated = _synthetic_pool(cfg, parts, split, real, test, metrics, timer, run_dir)
        sizes.update(synthetic_generated=generated, synthetic_kept=len(pool))
        if quality.metrics and len(pool):
            with timer("quality"):
                unlabeled = to_tensor_images(split.unlabeled.images)
                reference, source = feature_space.compare(unlabeled, test.images, pool.examples.images, seed)
                metrics.update(quality.evaluate(reference, source))

    with timer("downstream"):
        plans = {
            "real_only": TrainingPlan((TrainingPhase(real, name="real"),)),
            "augmented": parts.augment.plan(real, pool, seed),
        }
        sizes["synthetic_used"] = plans["augmented"].num_synthetic
        heads = dense_heads(real.labels, len(class_names))
        for variant, plan in plans.items():
            model = parts.downstream.fit(plan, heads, cfg.trainer, seed)
            scores = parts.downstream.evaluate(model, test, class_names, parts.dataset.merged_classes)
            metrics.update({f"{name}_{variant}": value for name, value in scores.items()})

    # An undefined metric (the IoU of a class absent from truth and predictions) is left out, not NaN.
    metrics = {name: value for name, value in metrics.items() if not (isinstance(value, float) and math.isnan(value))}
    pairs = lift_pairs(list(metrics))
    metrics.update({name: metrics[treated] - metrics[base] for name, (treated, base) in pairs.items()})
    return {
        "metrics": metrics,
        "lift_pairs": pairs,
        "sizes": sizes | {"resolution": parts.dataset.resolution},
        "timings": timer.seconds,
    }


def compute_device(cfg: DictConfig) -> torch.device:
    """Where the stages outside Lightning (inversion, labeler, generation) run: the trainer's accelerator."""
    wants_gpu = str(cfg.trainer.accelerator) in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def _synthetic_pool(
    cfg: DictConfig,
    parts: ImageComponents,
    split: ImageSplit,
    real: DenseExamples,
    test: DenseExamples,
    metrics: dict[str, float],
    timer: StageTimer,
    run_dir: Path,
) -> tuple[SyntheticPool, int]:
    """GAN -> inversion -> labeler -> generated, labeled and filtered images; adds the stages' diagnostics
    to `metrics`. Returns the pool of kept images and how many were generated."""
    seed = int(cfg.seed)
    class_names = list(split.labeled.labels.class_names)
    with timer("gan"):
        gan_path = _train_gan(cfg, parts.gan, split, real)
        generator, discriminator = parts.gan.generator_ema.eval(), parts.gan.discriminator.eval()
    with timer("inversion"):
        perceptual = parts.perceptual
        if not isinstance(perceptual, PerceptualDistance):  # a partial waiting for the trained discriminator
            perceptual = perceptual(discriminator=discriminator)
        encoder = parts.inversion.trained_encoder(
            generator,
            perceptual,
            split.unlabeled.images,
            cache_dir=cfg.paths.cache_dir,
            key={"gan": gan_path.stem, "perceptual": OmegaConf.to_container(cfg.perceptual, resolve=True)},
        )
        metrics.update(parts.inversion.quality(encoder, generator, perceptual, test.images))
        latents = parts.inversion.latents(encoder, generator, perceptual, real.images)

    targets = {task: real.labels[label] for task, label in LABEL_OF_HEAD.items() if real.labels[label] is not None}
    with timer("labeler"):
        labeler = parts.labeler.fit(generator, latents, targets, len(class_names), seed)
        metrics.update(parts.labeler.cross_validate(generator, latents, targets, len(class_names), seed))

    with timer("generate"):
        generated, kept = parts.labeler.label(labeler, generator, generator.random_latents(cfg.num_synthetic, seed + 7))
        labels = {"masks": kept["seg"].long(), "keypoints": kept.get("keypoints"), "depth": kept.get("depth")}
        pool = SyntheticPool(DenseExamples(kept["images"], labels), kept["uncertainty"])
        _save_synthetic(run_dir, pool, class_names, bool(cfg.get("plots", True)))
    return pool, len(generated["images"])


def _train_gan(cfg: DictConfig, gan: ImageGAN, split: ImageSplit, real: DenseExamples) -> Path:
    """Train the GAN once per (unlabeled pool, GAN config) and cache it, then move it to the run's device
    and check that it has not diverged."""
    pool = split.unlabeled.images
    # Keyed on the pool's pixels: settings that leave the pool alone (test size, labeled draw) reuse the GAN.
    key = {
        "pool_sha256": hashlib.sha256(pool.tobytes()).hexdigest(),
        "shape": list(pool.shape),
        "gan": OmegaConf.to_container(cfg.gan, resolve=True),
    }
    path, created = gan.fit_cached(
        cache_dir=cfg.paths.cache_dir, key=key, images_fn=lambda: to_tensor_images(pool), trainer_cfg=cfg.trainer
    )
    log.info("%s image GAN %s", "Trained" if created else "Reusing cached", path.name)
    gan.to(compute_device(cfg))
    gan.check_samples(real.images)
    return path


def _save_synthetic(run_dir: Path, pool: SyntheticPool, class_names: list[str], plots: bool) -> None:
    """The synthetic labeled set as an npz shard, and a grid of samples with their labels overlaid."""
    labels = pool.examples.labels
    images = to_uint8_images(pool.examples.images)
    arrays = {
        "images": images,
        "masks": labels["masks"].numpy().astype(np.int64),
        "uncertainty": pool.uncertainty.numpy(),
        "class_names": np.array(class_names),
    }
    arrays.update({k: labels[k].numpy() for k in ("keypoints", "depth") if labels[k] is not None})
    with atomic_path(run_dir / "synthetic_shard.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    if plots and len(images):
        shown = slice(0, 16)
        keypoints = arrays.get("keypoints")
        plot_sample_grid(
            images[shown],
            arrays["masks"][shown],
            run_dir / "synthetic_grid.png",
            keypoints=None if keypoints is None else keypoints[shown],
        )
