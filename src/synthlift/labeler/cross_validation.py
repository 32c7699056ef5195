"""Labeler quality on the labeled images themselves, by k-fold cross-validation: a labeler that cannot
reproduce held-out real masks shows up before its synthetic labels are trusted."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from synthlift.core.errors import ConfigError
from synthlift.generators.image.base import ImageGenerator
from synthlift.labeler.ensemble import PixelLabeler, label_images, train_labeler
from synthlift.labeler.hypercolumns import label_size, module_device


def segmentation_scores(predicted: Tensor, truth: Tensor, num_classes: int) -> dict[str, float]:
    """Pixel accuracy and mIoU (torchmetrics: a class absent from both truth and prediction is left out of
    the mean) of predicted class maps against the true ones."""
    accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro")(predicted, truth)
    miou = MulticlassJaccardIndex(num_classes=num_classes, average="macro")(predicted, truth)
    return {"pixel_accuracy": accuracy.item(), "miou": miou.item()}


def cross_validate_labeler(
    generator: ImageGenerator,
    latents: Tensor,
    targets: dict[str, Tensor],
    *,
    num_folds: int = 5,
    num_members: int = 3,
    hidden: Sequence[int] = (256, 32),
    num_classes: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    **train_kwargs,
) -> dict:
    """k-fold (k = min(num_folds, N)) held-out seg quality of the labeler, so a bad labeler shows.

    Each fold trains a fresh (smaller, `num_members`) ensemble on the other folds with `train_kwargs`
    (see `train_labeler`) and predicts the held-out images. Returns the mean over folds of pixel
    accuracy and mIoU (classes absent from both truth and prediction are ignored), plus per-fold values.
    """
    if "seg" not in targets:
        raise ConfigError("cross_validate_labeler scores segmentation: targets need 'seg'")
    n = len(latents)
    k = min(num_folds, n)
    if k < 2:
        raise ConfigError(f"cross-validation needs >= 2 labeled images and folds, got {n} images, {num_folds}")
    size = label_size(generator, targets, n)
    num_classes = num_classes or int(targets["seg"].max()) + 1
    folds = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tensor_split(k)
    per_fold = []
    for i, held_out in enumerate(folds):
        train_idx = torch.cat([fold for j, fold in enumerate(folds) if j != i])
        labeler = PixelLabeler.for_targets(
            generator.hypercolumn_dim,
            targets,
            num_classes=num_classes,
            num_members=num_members,
            hidden=hidden,
            seed=seed + 100 * i,
        ).to(module_device(generator))
        train_targets = {task: value[train_idx.to(value.device)] for task, value in targets.items()}
        train_labeler(
            labeler,
            generator,
            latents[train_idx.to(latents.device)],
            train_targets,
            seed=seed + i,
            **train_kwargs,
        )
        predicted = label_images(
            labeler, generator, latents[held_out.to(latents.device)], size=size, batch_size=batch_size
        )["seg"]
        truth = targets["seg"][held_out.to(targets["seg"].device)].cpu()
        per_fold.append(segmentation_scores(predicted, truth, num_classes) | {"num_images": len(held_out)})
    return {
        "pixel_accuracy": sum(f["pixel_accuracy"] for f in per_fold) / k,
        "miou": sum(f["miou"] for f in per_fold) / k,
        "num_folds": k,
        "folds": per_fold,
    }
