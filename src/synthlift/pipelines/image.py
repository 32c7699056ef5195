"""The image track (HandsOff, Xu et al. CVPR 2023), one run:

images -> GAN (cached) -> inversion encoder (cached) -> latents of the labeled images -> per-pixel labeler
on hypercolumns -> synthetic labeled images (uncertainty-filtered) -> U-Net trained on real only, synthetic
only, and both -> metrics on the real held-out test set.

The three U-Nets share the seed, settings and test set, so `lift_<metric>_<variant>` = metric(variant) −
metric(real only) is a paired measurement. For errors (depth RMSE/AbsRel) the lift is the reduction.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger

from synthlift.cache import fingerprint, get_or_create
from synthlift.data.images import (
    FACE_MERGED_CLASSES,
    ImageSet,
    ImageSplit,
    load_image_dataset,
    merge_face_classes,
    to_tensor_images,
    to_uint8_images,
)
from synthlift.downstream.unet import dense_heads, evaluate_dense_model, fit_dense_model
from synthlift.gan.image_base import ImageGenerator
from synthlift.gan.image_gan import load_image_gan, trained_image_gan_path
from synthlift.inversion import (
    InversionEncoder,
    finetune_encoder_perceptual,
    invert,
    optimize_latents,
    reconstruction_quality,
    train_encoder_on_pairs,
)
from synthlift.io import atomic_path
from synthlift.labeler import PixelLabeler, cross_validate_labeler, filter_uncertain, label_images, train_labeler
from synthlift.metrics.dense import dense_metrics
from synthlift.perceptual import build_perceptual
from synthlift.plots import plot_sample_grid
from synthlift.timing import StageTimer

log = logging.getLogger(__name__)

VARIANTS = ("synthetic", "both")
HIGHER_IS_BETTER = ("miou", "pixel_acc", "pck")
LOWER_IS_BETTER = ("depth_rmse", "depth_absrel")


def lift_pairs(metric_names: Sequence[str]) -> dict[str, list[str]]:
    """`{lift: [treated, baseline]}` for every headline metric a run measured; the first is the primary
    (mIoU of synthetic + real vs real only). Error metrics are flipped so that positive always helps."""
    pairs: dict[str, list[str]] = {}
    for variant in ("both", "synthetic"):
        for metric in HIGHER_IS_BETTER:
            if f"{metric}_real_only" in metric_names:
                pairs[f"lift_{metric}_{variant}"] = [f"{metric}_{variant}", f"{metric}_real_only"]
        for metric in LOWER_IS_BETTER:
            if f"{metric}_real_only" in metric_names:
                pairs[f"{metric}_reduction_{variant}"] = [f"{metric}_real_only", f"{metric}_{variant}"]
    return pairs


def label_tensors(image_set: ImageSet) -> dict[str, torch.Tensor | None]:
    labels = image_set.labels
    as_tensor = lambda a, dtype: None if a is None else torch.tensor(a, dtype=dtype)  # noqa: E731
    return {
        "masks": as_tensor(labels.masks, torch.long),
        "keypoints": as_tensor(labels.keypoints, torch.float32),
        "depth": as_tensor(labels.depth, torch.float32),
    }


def run_image_experiment(cfg: DictConfig, run_dir: Path, loggers: Sequence[Logger] = ()) -> dict[str, Any]:
    """Run every stage and return the `metrics`, `sizes`, `timings` and `lift_pairs` of results.json."""
    timer = StageTimer()
    seed = int(cfg.seed)
    with timer("data"):
        split = load_image_dataset(cfg.dataset, data_dir=cfg.paths.data_dir)
    class_names = list(split.labeled.labels.class_names)
    real_images, test_images = to_tensor_images(split.labeled.images), to_tensor_images(split.test.images)
    metrics: dict[str, float] = {}

    with timer("gan"):
        generator, discriminator, gan_path = _trained_generator(cfg, split)
    with timer("inversion"):
        perceptual = build_perceptual(cfg.tricks.perceptual, discriminator)
        encoder = _trained_encoder(cfg, generator, perceptual, split, gan_path)
        metrics.update(
            reconstruction_quality(encoder, generator, test_images, perceptual, int(cfg.inversion.eval_batch_size))
        )
        latents = _labeled_latents(cfg, encoder, generator, perceptual, real_images)

    real_labels = label_tensors(split.labeled)
    targets = {"seg": real_labels["masks"], "keypoints": real_labels["keypoints"], "depth": real_labels["depth"]}
    targets = {task: value for task, value in targets.items() if value is not None}
    with timer("labeler"):
        labeler = _trained_labeler(cfg, generator, latents, targets, len(class_names), seed)
        cv = cross_validate_labeler(
            generator,
            latents,
            targets,
            num_folds=int(cfg.labeler.cv_folds),
            num_members=int(cfg.labeler.cv_members),
            hidden=tuple(cfg.labeler.hidden),
            num_classes=len(class_names),
            seed=seed,
            **_labeler_training(cfg),
        )
        metrics.update(labeler_cv_pixel_acc=cv["pixel_accuracy"], labeler_cv_miou=cv["miou"])

    with timer("generate"):
        synthetic = _generate(cfg, labeler, generator, seed)
        kept, _ = filter_uncertain(synthetic, float(cfg.tricks.uncertainty_filter))
        _save_synthetic(run_dir, kept, class_names, bool(cfg.get("plots", True)))

    with timer("downstream"):
        metrics.update(
            _downstream(
                cfg, (real_images, real_labels), (test_images, label_tensors(split.test)), kept, class_names, seed
            )
        )

    pairs = lift_pairs(list(metrics))
    metrics.update({name: metrics[treated] - metrics[base] for name, (treated, base) in pairs.items()})
    return {
        "metrics": {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))},
        "lift_pairs": pairs,
        "sizes": {
            "unlabeled": len(split.unlabeled),
            "labeled": len(split.labeled),
            "test": len(split.test),
            "synthetic_generated": len(synthetic["images"]),
            "synthetic_kept": len(kept["images"]),
            "resolution": int(cfg.dataset.resolution),
        },
        "timings": timer.seconds,
    }


def compute_device(cfg: DictConfig) -> torch.device:
    """Where the stages outside Lightning (inversion, labeler, generation) run: the trainer's accelerator."""
    wants_gpu = str(cfg.trainer.accelerator) in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def _trained_generator(cfg: DictConfig, split: ImageSplit) -> tuple[ImageGenerator, torch.nn.Module, Path]:
    """The EMA generator and the discriminator, trained once per (data, GAN config) and cached, on the
    run's device."""
    pool = split.unlabeled.images
    # Keyed on the pool's pixels: settings that leave the pool alone (test size, labeled draw) reuse the GAN.
    pool_key = {"pool_sha256": hashlib.sha256(pool.tobytes()).hexdigest(), "shape": list(pool.shape)}
    path, created = trained_image_gan_path(
        cache_dir=cfg.paths.cache_dir,
        key_parts=pool_key,
        images_fn=lambda: to_tensor_images(split.unlabeled.images),
        gan_cfg=OmegaConf.to_container(cfg.gan, resolve=True),
        trainer_cfg=cfg.trainer,
        seed=int(cfg.gan.seed),
    )
    log.info("%s image GAN %s", "Trained" if created else "Reusing cached", path.name)
    gan = load_image_gan(path).to(compute_device(cfg))
    return gan.generator_ema.eval(), gan.discriminator.eval(), path


def _trained_encoder(cfg, generator, perceptual, split: ImageSplit, gan_path: Path) -> InversionEncoder:
    """Pairs first, then a capped perceptual fine-tune on real unlabeled images; cached per GAN and settings."""
    enc = cfg.inversion
    key = fingerprint(
        "inversion-encoder-v1",
        gan_path.stem,
        OmegaConf.to_container(enc, resolve=True),
        cfg.tricks.perceptual,
        int(cfg.tricks.lpips_finetune_steps),
        int(cfg.gan.seed),
    )

    def build() -> InversionEncoder:
        return InversionEncoder(generator.mean_w(), int(enc.width), int(enc.num_downsamples), int(enc.hidden_dim))

    def create(tmp: Path) -> None:
        with torch.random.fork_rng(devices=[]):  # initial weights set by the seed, whatever ran before
            torch.manual_seed(int(cfg.gan.seed))
            encoder = build()
        train_encoder_on_pairs(
            encoder,
            generator,
            steps=int(enc.pair_steps),
            batch_size=int(enc.pair_batch_size),
            lr=float(enc.pair_lr),
            seed=int(cfg.gan.seed),
            image_loss_weight=float(enc.image_loss_weight),
        )
        finetune_encoder_perceptual(
            encoder,
            generator,
            to_tensor_images(split.unlabeled.images),
            perceptual,
            steps=int(cfg.tricks.lpips_finetune_steps),
            batch_size=int(enc.finetune_batch_size),
            lr=float(enc.finetune_lr),
            seed=int(cfg.gan.seed),
            mse_weight=float(enc.finetune_mse_weight),
        )
        with open(tmp, "wb") as handle:
            torch.save(encoder.state_dict(), handle)

    path, created = get_or_create(Path(cfg.paths.cache_dir) / "encoders" / f"{key}.pt", create)
    log.info("%s inversion encoder %s", "Trained" if created else "Reusing cached", path.name)
    encoder = build()
    encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return encoder.to(next(generator.parameters()).device).eval()


def _labeled_latents(cfg, encoder, generator, perceptual, images: torch.Tensor) -> torch.Tensor:
    """w of each labeled real image: the encoder's guess, refined per image when optimize_latents is on."""
    latents = invert(encoder, images, int(cfg.inversion.eval_batch_size))
    opt = cfg.tricks.optimize_latents
    if int(opt.steps) > 0:
        latents = optimize_latents(
            generator,
            images,
            latents,
            perceptual,
            steps=int(opt.steps),
            lr=float(opt.lr),
            perceptual_weight=float(opt.perceptual_weight),
            mse_weight=float(opt.mse_weight),
        )
    return latents.detach()


def _labeler_training(cfg: DictConfig) -> dict[str, Any]:
    lab = cfg.labeler
    return {
        "epochs": int(lab.epochs),
        "lr": float(lab.lr),
        "images_per_chunk": int(lab.images_per_chunk),
        "pixels_per_batch": int(lab.pixels_per_batch),
        "heatmap_sigma": float(lab.heatmap_sigma),
        "loss_weights": dict(lab.loss_weights),
    }


def _trained_labeler(cfg, generator, latents, targets, num_classes: int, seed: int) -> PixelLabeler:
    labeler = PixelLabeler.for_targets(
        generator.hypercolumn_dim,
        targets,
        num_classes=num_classes,
        num_members=int(cfg.labeler.num_members),
        hidden=tuple(cfg.labeler.hidden),
        seed=seed,
    )
    labeler.to(next(generator.parameters()).device)
    train_labeler(labeler, generator, latents, targets, seed=seed, **_labeler_training(cfg))
    return labeler.eval()


def _generate(cfg, labeler, generator, seed: int) -> dict[str, torch.Tensor]:
    """`num_synthetic` fresh latents, labeled by the ensemble (one synthesis pass per batch)."""
    with torch.no_grad():
        z = torch.randn(int(cfg.num_synthetic), generator.z_dim, generator=torch.Generator().manual_seed(seed + 7))
        w = generator.mapping(z.to(next(generator.parameters()).device))
    return label_images(
        labeler,
        generator,
        w,
        batch_size=int(cfg.labeler.label_batch_size),
        keypoint_threshold=float(cfg.labeler.keypoint_threshold),
    )


def _save_synthetic(run_dir: Path, kept: dict[str, torch.Tensor], class_names: list[str], plots: bool) -> None:
    """The synthetic labeled set as an npz shard, and a grid of samples with their labels overlaid."""
    images = to_uint8_images(kept["images"])
    arrays = {
        "images": images,
        "masks": kept["seg"].numpy().astype(np.int64),
        "uncertainty": kept["uncertainty"].numpy(),
        "class_names": np.array(class_names),
    }
    arrays.update({k: kept[k].numpy() for k in ("keypoints", "depth") if kept.get(k) is not None})
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


def _downstream(cfg, real, test, kept, class_names: list[str], seed: int) -> dict[str, float]:
    """U-Nets on real only / synthetic only / both, evaluated on the real test set; `real` and `test` are
    (images, label tensors) pairs."""
    num_classes = len(class_names)
    (real_images, real_labels), (test_images, test_labels) = real, test
    synthetic_labels = {"masks": kept["seg"].long(), "keypoints": kept.get("keypoints"), "depth": kept.get("depth")}
    synthetic_labels = {k: (v if real_labels[k] is not None else None) for k, v in synthetic_labels.items()}
    both_labels = {k: None if v is None else torch.cat([v, synthetic_labels[k]]) for k, v in real_labels.items()}
    training_sets = {
        "real_only": (real_images, real_labels),
        "synthetic": (kept["images"], synthetic_labels),
        "both": (torch.cat([real_images, kept["images"]]), both_labels),
    }
    heads = dense_heads(real_labels, num_classes)
    metrics: dict[str, float] = {}
    for variant, (images, labels) in training_sets.items():
        model = fit_dense_model(images, labels, heads, cfg.downstream, cfg.trainer, seed)
        scores = evaluate_dense_model(
            model, test_images, test_labels, num_classes, class_names, pck_threshold=float(cfg.downstream.pck_threshold)
        )
        if cfg.dataset.name == "celebamask":
            scores["miou_merged"] = _merged_face_miou(model, test_images, test_labels["masks"])
        metrics.update({f"{name}_{variant}": value for name, value in scores.items()})
    return metrics


@torch.no_grad()
def _merged_face_miou(model, images: torch.Tensor, masks: torch.Tensor, batch_size: int = 64) -> float:
    """mIoU on the standard merged face classes (left/right parts and accessories folded together)."""
    predicted = torch.cat([model(batch)["seg"].argmax(1) for batch in images.split(batch_size)])
    merged = {"seg": merge_face_classes(predicted)}  # class ids: the metric takes them as they are
    return dense_metrics(merged, {"masks": merge_face_classes(masks)}, len(FACE_MERGED_CLASSES))["miou"]
