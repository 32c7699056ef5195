"""The image track (HandsOff, Xu et al. CVPR 2023), one run:

images -> GAN (cached) -> inversion encoder (cached) -> latents of the labeled images -> per-pixel labeler
on hypercolumns -> synthetic labeled images (uncertainty-filtered) -> the augmentation strategy's training
plan -> a U-Net trained on real only and one trained on the plan -> metrics on the real held-out test set.

Every stage is a component built from its config group; this module only orders them. The two U-Nets share
the seed, settings and test set, so `lift_<metric>` = metric(augmented) - metric(real only) is a paired
measurement; for errors (depth RMSE/AbsRel) the lift is the reduction. `augment=mix` is HandsOff's
"synthetic + real", `augment=replace` its "synthetic only", and `augment=none` skips the generator
altogether (lift exactly 0).

Two stages are cached by what they depend on, so a sweep over strategies, ratios and label budgets pays
for them once: the labeled synthetic pool (GAN, inversion, labeler, generation, with their diagnostics) per
data, upstream config and seed, and each real-only model's test scores per data, model config and seed.
With `transfer_baseline` set (a second `downstream` config, e.g. the ImageNet-pretrained EfficientNet-Lite0
U-Net), a third model is trained on the real labeled images alone: the transfer-learning baseline HandsOff
claims to beat, reported as `<metric>_transfer` and paired against the augmented model
(`lift_over_transfer_miou`).
"""

from __future__ import annotations

import hashlib
import json
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
from torch import Tensor

from synthlift.augment.base import AugmentStrategy, TrainingPhase, TrainingPlan
from synthlift.core.build import build
from synthlift.core.cache import fingerprint, get_or_create
from synthlift.core.checks import non_negative_int, positive_int
from synthlift.core.errors import ConfigError
from synthlift.core.io import atomic_path
from synthlift.core.plots import plot_sample_grid
from synthlift.core.resources import check_fits
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
UPSTREAM_GROUPS = ("dataset", "gan", "perceptual", "inversion", "labeler")  # what the synthetic pool depends on
LOWER_IS_BETTER = ("depth_rmse", "depth_absrel")
EVALUATION_PREFIXES = {"test": "", "validation": "val_"}  # held-out set -> prefix of the metrics scored on it
# Bytes a synthetic labeled image holds per pixel from generation to training: float32 RGB, the int64 mask and
# the float32 depth; and the copies of the set held at once: every generated image, the uncertainty filter's
# kept copy, and the training set the plan joins from them.
SYNTHETIC_BYTES_PER_PIXEL = 3 * 4 + 8 + 4
SYNTHETIC_COPIES = 3


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
    if parts.augment.uses_synthetic:  # the generation stage holds every image it makes: refuse it before the GAN
        resolution = parts.dataset.resolution
        check_fits(
            "num_synthetic",
            cfg.num_synthetic,
            items=int(cfg.num_synthetic),
            item=f"synthetic {resolution}x{resolution} labeled images",
            bytes_per_item=SYNTHETIC_COPIES * resolution**2 * SYNTHETIC_BYTES_PER_PIXEL,
            counting=f"image, mask and depth, {SYNTHETIC_COPIES} copies: every generated image, the uncertainty "
            "filter's kept copy and the training set joined from them",
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
    (mIoU of the augmented model vs real only). Error metrics are flipped so that positive always helps.
    The same pairs on the validation set carry the `val_` prefix."""
    pairs: dict[str, list[str]] = {}
    for prefix in EVALUATION_PREFIXES.values():
        pairs |= {f"{prefix}lift_{m}": [f"{prefix}{m}_augmented", f"{prefix}{m}_real_only"] for m in HIGHER_IS_BETTER}
        pairs |= {
            f"{prefix}{m}_reduction": [f"{prefix}{m}_real_only", f"{prefix}{m}_augmented"] for m in LOWER_IS_BETTER
        }
        # synthetic data vs ImageNet, and ImageNet vs training from scratch
        pairs[f"{prefix}lift_over_transfer_miou"] = [f"{prefix}miou_augmented", f"{prefix}miou_transfer"]
        pairs[f"{prefix}transfer_lift_miou"] = [f"{prefix}miou_transfer", f"{prefix}miou_real_only"]
    return {lift: pair for lift, pair in pairs.items() if set(pair) <= set(metric_names)}


def validation_metric_names(cfg: DictConfig) -> list[str]:
    """The validation metrics a run of `cfg` can record, known from the config alone, so that a sweeper
    (`hydra/sweeper=optuna_validation`) refuses an objective no job would return before it trains one.

    Nothing without a validation set (`dataset.validation_size` 0, the default); otherwise every model's
    (`_real_only`, `_augmented`, and `_transfer` with `transfer_baseline`) headline metrics, `miou_merged`
    and per-class IoU, and the lifts `lift_pairs` builds from them. Which of these a run records also
    depends on the dataset (its keypoint or depth labels, merged classes and class names, known once it is
    read), so they are the names it *can* record, a per-class IoU as the pattern `val_iou_*_<model>`: a typo
    is refused at start-up, a metric the data lacks fails the trials (and then the sweep)."""
    if not OmegaConf.select(cfg, "dataset.validation_size", default=0):
        return []
    models = ["real_only", "augmented", *(["transfer"] if cfg.get("transfer_baseline") else [])]
    prefix = EVALUATION_PREFIXES["validation"]
    scores = (*HIGHER_IS_BETTER, *LOWER_IS_BETTER, "miou_merged", "iou_*")
    metrics = [f"{prefix}{score}_{model}" for score in scores for model in models]
    return [lift for lift in lift_pairs(metrics) if lift.startswith(prefix)] + metrics


def evaluation_sets(split: ImageSplit) -> dict[str, DenseExamples]:
    """Metric-name prefix -> the real labeled images the downstream models are scored on: the test set, and
    the validation set where the dataset holds one out (`dataset.validation_size`), whose `val_` scores
    are what settings may be chosen on without looking at the test set."""
    held_out = {"test": split.test, "validation": split.validation}
    return {
        EVALUATION_PREFIXES[name]: DenseExamples.from_image_set(images)
        for name, images in held_out.items()
        if images is not None
    }


def _scores(
    model: DenseUNet,
    fitted: Any,
    evaluation: dict[str, DenseExamples],
    class_names: list[str],
    dataset: ImageDataset,
) -> dict[str, float]:
    """`model.evaluate` of the fitted network on every evaluation set, each metric named with its prefix."""
    return {
        f"{prefix}{name}": value
        for prefix, examples in evaluation.items()
        for name, value in model.evaluate(fitted, examples, class_names, dataset.merged_classes).items()
    }


def run_image_experiment(cfg: DictConfig, run_dir: Path, loggers: Sequence[Logger] = ()) -> dict[str, Any]:
    """Run every stage and return the `metrics`, `sizes`, `timings` and `lift_pairs` of results.json."""
    parts = build_components(cfg)
    transfer = build(cfg.transfer_baseline, "transfer_baseline") if cfg.get("transfer_baseline") else None
    quality = QualityMetrics.from_config(cfg.get("metrics"))
    feature_space = build(cfg.quality_features, "quality_features") if quality.metrics else None
    timer = StageTimer()
    seed = int(cfg.seed)
    with timer("data"):
        split = parts.dataset.load(cfg.paths.data_dir)
    class_names = list(split.labeled.labels.class_names)
    real, evaluation = DenseExamples.from_image_set(split.labeled), evaluation_sets(split)
    test = evaluation[EVALUATION_PREFIXES["test"]]
    metrics: dict[str, float] = {}
    sizes = {"unlabeled": len(split.unlabeled), "labeled": len(split.labeled), "test": len(split.test)}
    if split.validation is not None:
        sizes["validation"] = len(split.validation)

    pool = None
    if parts.augment.uses_synthetic:
        pool, generated, created = _cached_synthetic_pool(cfg, parts, split, real, test, metrics, timer)
        _save_synthetic(run_dir, pool, class_names, bool(cfg.get("plots", True)))
        sizes.update(synthetic_generated=generated, synthetic_kept=len(pool), synthetic_pool_cached=not created)
        if quality.metrics and len(pool):
            with timer("quality"):
                unlabeled = to_tensor_images(split.unlabeled.images)
                reference, source = feature_space.compare(unlabeled, test.images, pool.examples.images, seed)
                metrics.update(quality.evaluate(reference, source))

    with timer("downstream"):
        augmented_plan = parts.augment.measurable_plan(real, pool, seed)
        sizes["synthetic_used"] = augmented_plan.num_synthetic
        heads = dense_heads(real.labels, len(class_names))
        arms = {"real_only": (parts.downstream, cfg.downstream)}
        if transfer is not None:
            arms["transfer"] = (transfer, cfg.transfer_baseline)
        for variant, (model, node) in arms.items():
            scores = _cached_real_only_scores(cfg, node, model, real, evaluation, heads, class_names, parts.dataset)
            metrics.update({f"{name}_{variant}": value for name, value in scores.items()})
        fitted = parts.downstream.fit(augmented_plan, heads, cfg.trainer, seed)
        scores = _scores(parts.downstream, fitted, evaluation, class_names, parts.dataset)
        metrics.update({f"{name}_augmented": value for name, value in scores.items()})

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


def _sha256(*tensors: Tensor | np.ndarray | None) -> str:
    """One digest of the bytes of several arrays (None skipped): the data a cached stage depends on."""
    digest = hashlib.sha256()
    for value in tensors:
        if value is not None:
            array = value.numpy() if isinstance(value, Tensor) else value
            digest.update(str(array.shape).encode() + np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _examples_sha256(examples: DenseExamples) -> str:
    return _sha256(examples.images, *examples.labels.values())


def _cached_real_only_scores(
    cfg: DictConfig,
    node: DictConfig,
    model: DenseUNet,
    real: DenseExamples,
    evaluation: dict[str, DenseExamples],
    heads: dict[str, int],
    class_names: list[str],
    dataset: ImageDataset,
) -> dict[str, float]:
    """Scores of `model` trained on the real labeled images alone (on every evaluation set), cached per
    (labeled and evaluation data, the model's config `node`, trainer, seed): every strategy of a sweep pairs
    against the same real-only model, and training it again would give the same numbers (same seed, data
    and settings)."""
    key = {
        "labeled": _examples_sha256(real),
        **{
            name: _examples_sha256(evaluation[prefix])
            for name, prefix in EVALUATION_PREFIXES.items()
            if prefix in evaluation
        },
        "model": OmegaConf.to_container(node, resolve=True),
        "trainer": OmegaConf.to_container(cfg.trainer, resolve=True),
        "heads": heads,
        "classes": class_names,
        "merged": None if dataset.merged_classes is None else list(dataset.merged_classes.names),
        "seed": int(cfg.seed),
    }
    entry = Path(cfg.paths.cache_dir) / "real_only_scores" / f"{fingerprint('image-real-only-v1', key)}.json"

    def create(tmp: Path) -> None:
        fitted = model.fit(TrainingPlan((TrainingPhase(real, name="real"),)), heads, cfg.trainer, int(cfg.seed))
        tmp.write_text(json.dumps(_scores(model, fitted, evaluation, class_names, dataset)))

    path, created = get_or_create(entry, create)
    log.info("%s real-only scores %s", "Computed" if created else "Reusing cached", path.name)
    return json.loads(path.read_text())


def compute_device(cfg: DictConfig) -> torch.device:
    """Where the stages outside Lightning (inversion, labeler, generation) run: the trainer's accelerator."""
    wants_gpu = str(cfg.trainer.accelerator) in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def _cached_synthetic_pool(
    cfg: DictConfig,
    parts: ImageComponents,
    split: ImageSplit,
    real: DenseExamples,
    test: DenseExamples,
    metrics: dict[str, float],
    timer: StageTimer,
) -> tuple[SyntheticPool, int, bool]:
    """`_synthetic_pool`, cached per (data, every upstream group's config, num_synthetic, seed): the
    strategies, ratios and downstream models of a sweep then share one pool, its diagnostics included.
    Returns (pool, images generated before the filter, whether this run created the entry)."""
    key = {
        "unlabeled": _sha256(split.unlabeled.images),
        "labeled": _examples_sha256(real),
        "test": _examples_sha256(test),
        **{group: OmegaConf.to_container(cfg[group], resolve=True) for group in UPSTREAM_GROUPS},
        "num_synthetic": int(cfg.num_synthetic),
        "seed": int(cfg.seed),
    }
    entry = Path(cfg.paths.cache_dir) / "synthetic_pools" / f"{fingerprint('image-synthetic-pool-v1', key)}.pt"

    def create(tmp: Path) -> None:
        pool, generated, diagnostics = _synthetic_pool(cfg, parts, split, timer)
        state = {
            "images": pool.examples.images,
            "labels": pool.examples.labels,
            "uncertainty": pool.uncertainty,
            "generated": generated,
            "diagnostics": diagnostics,
        }
        with open(tmp, "wb") as handle:
            torch.save(state, handle)

    path, created = get_or_create(entry, create)
    log.info("%s synthetic pool %s", "Generated" if created else "Reusing cached", path.name)
    state = torch.load(path, map_location="cpu", weights_only=True)
    metrics.update(state["diagnostics"])
    return (
        SyntheticPool(DenseExamples(state["images"], state["labels"]), state["uncertainty"]),
        state["generated"],
        created,
    )


def _synthetic_pool(
    cfg: DictConfig, parts: ImageComponents, split: ImageSplit, timer: StageTimer
) -> tuple[SyntheticPool, int, dict[str, float]]:
    """GAN -> inversion -> labeler -> generated, labeled and filtered images. Returns the pool of kept
    images, how many were generated, and the stages' diagnostics (inversion and labeler quality)."""
    seed = int(cfg.seed)
    real, test = DenseExamples.from_image_set(split.labeled), DenseExamples.from_image_set(split.test)
    metrics: dict[str, float] = {}
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
        test_latents = parts.inversion.latents(encoder, generator, perceptual, test.images)

    targets = {task: real.labels[label] for task, label in LABEL_OF_HEAD.items() if real.labels[label] is not None}
    with timer("labeler"):
        labeler = parts.labeler.fit(generator, latents, targets, len(class_names), seed)
        metrics.update(parts.labeler.cross_validate(generator, latents, targets, len(class_names), seed))
        metrics.update(parts.labeler.score(labeler, generator, test_latents, test.labels["masks"], len(class_names)))

    with timer("generate"):
        generated, kept = parts.labeler.label(labeler, generator, generator.random_latents(cfg.num_synthetic, seed + 7))
        labels = {"masks": kept["seg"].long(), "keypoints": kept.get("keypoints"), "depth": kept.get("depth")}
        pool = SyntheticPool(DenseExamples(kept["images"], labels), kept["uncertainty"])
    return pool, len(generated["images"]), metrics


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
