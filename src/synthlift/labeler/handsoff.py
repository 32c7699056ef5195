"""`labeler=handsoff`: HandsOff's labeler stage. An ensemble of per-pixel MLPs (d -> hidden -> heads, ReLU +
BatchNorm) trained on the hypercolumns of the labeled images' latents; it labels freshly generated images
and the uncertainty filter drops the ones its members disagree on most."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from synthlift.core.checks import (
    check_fields,
    layer_sizes,
    non_negative,
    non_negative_int,
    positive,
    positive_int,
    probability,
)
from synthlift.core.errors import InvalidArgument
from synthlift.data.image.labels import TASKS
from synthlift.generators.image.base import ImageGenerator
from synthlift.labeler.cross_validation import cross_validate_labeler, segmentation_scores
from synthlift.labeler.ensemble import PixelLabeler, filter_uncertain, label_images, train_labeler
from synthlift.labeler.hypercolumns import SelectedBlocks, module_device


@dataclass(kw_only=True)
class HandsOffLabeler:
    """The labeler's settings and steps. Hypercolumns are computed on the fly, `images_per_chunk` at a
    time, so memory does not grow with the number of labeled images. `cv_folds`-fold cross-validation
    with a smaller ensemble (`cv_members`) scores the labeler on the labeled images themselves.

    `feature_blocks` picks the generator blocks whose feature maps form the hypercolumns (null: all, as
    HandsOff; `[-1]`: the finest only, its ablation); `pixels_per_image` trains on that many random pixels
    of each image per epoch instead of all of them (null: all)."""

    num_members: int = 10
    hidden: Sequence[int] = (256, 32)
    epochs: int = 20
    lr: float = 1e-3
    images_per_chunk: int = 8
    pixels_per_batch: int = 2048
    heatmap_sigma: float = 1.5
    loss_weights: Mapping[str, float] = field(default_factory=lambda: {"seg": 1.0, "keypoints": 10.0, "depth": 1.0})
    keypoint_threshold: float = 0.25
    label_batch_size: int = 16
    cv_folds: int = 5
    cv_members: int = 1
    uncertainty_filter: float = 0.1
    feature_blocks: Sequence[int] | None = None
    pixels_per_image: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "num_members": positive_int,
            "epochs": positive_int,
            "lr": positive,
            "images_per_chunk": positive_int,
            "pixels_per_batch": positive_int,
            "heatmap_sigma": positive,
            "keypoint_threshold": non_negative,
            "label_batch_size": positive_int,
            "cv_members": positive_int,
            "uncertainty_filter": probability,
        }
        check_fields(self, checks)
        if self.pixels_per_image is not None:
            self.pixels_per_image = positive_int("pixels_per_image", self.pixels_per_image)
        if self.feature_blocks is not None:
            self.feature_blocks = tuple(self.feature_blocks)
            if not self.feature_blocks or not all(isinstance(b, int) for b in self.feature_blocks):
                raise InvalidArgument(
                    "feature_blocks", list(self.feature_blocks), "null (all) or a list of block indices"
                )
        if non_negative_int("cv_folds", self.cv_folds) < 2:
            raise InvalidArgument("cv_folds", self.cv_folds, "an integer >= 2")
        self.hidden = tuple(layer_sizes("hidden", self.hidden, allow_empty=False))
        weights = dict(self.loss_weights)
        if set(weights) - set(TASKS):
            raise InvalidArgument("loss_weights", weights, f"weights of some of the tasks {', '.join(TASKS)}")
        self.loss_weights = {task: non_negative(f"loss_weights.{task}", value) for task, value in weights.items()}

    def _training(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "lr": self.lr,
            "images_per_chunk": self.images_per_chunk,
            "pixels_per_batch": self.pixels_per_batch,
            "pixels_per_image": self.pixels_per_image,
            "heatmap_sigma": self.heatmap_sigma,
            "loss_weights": dict(self.loss_weights),
        }

    def features_of(self, generator: ImageGenerator) -> ImageGenerator:
        """The generator as the labeler sees it: only the `feature_blocks` feed its hypercolumns. Every
        method taking a generator applies this itself; callers pass the generator as it is."""
        if self.feature_blocks is None:
            return generator
        return SelectedBlocks(generator, self.feature_blocks)

    def fit(
        self, generator: ImageGenerator, latents: Tensor, targets: dict[str, Tensor], num_classes: int, seed: int
    ) -> PixelLabeler:
        """The ensemble trained on the labeled images (their `latents` and label `targets`), in eval mode."""
        generator = self.features_of(generator)
        labeler = PixelLabeler.for_targets(
            generator.hypercolumn_dim,
            targets,
            num_classes=num_classes,
            num_members=self.num_members,
            hidden=self.hidden,
            seed=seed,
        )
        labeler.to(module_device(generator))
        train_labeler(labeler, generator, latents, targets, seed=seed, **self._training())
        return labeler.eval()

    def cross_validate(
        self, generator: ImageGenerator, latents: Tensor, targets: dict[str, Tensor], num_classes: int, seed: int
    ) -> dict[str, float]:
        """`labeler_cv_pixel_acc` and `labeler_cv_miou`: held-out segmentation quality over `cv_folds` folds."""
        cv = cross_validate_labeler(
            self.features_of(generator),
            latents,
            targets,
            num_folds=self.cv_folds,
            num_members=self.cv_members,
            hidden=self.hidden,
            num_classes=num_classes,
            seed=seed,
            **self._training(),
        )
        return {"labeler_cv_pixel_acc": cv["pixel_accuracy"], "labeler_cv_miou": cv["miou"]}

    def label(
        self, labeler: PixelLabeler, generator: ImageGenerator, latents: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(every generated sample with its labels, the samples the uncertainty filter keeps); see
        `label_images` for the keys."""
        labeled = label_images(
            labeler,
            self.features_of(generator),
            latents,
            batch_size=self.label_batch_size,
            keypoint_threshold=self.keypoint_threshold,
        )
        kept, _ = filter_uncertain(labeled, self.uncertainty_filter)
        return labeled, kept

    def score(
        self, labeler: PixelLabeler, generator: ImageGenerator, latents: Tensor, masks: Tensor, num_classes: int
    ) -> dict[str, float]:
        """`labeler_test_pixel_acc` and `labeler_test_miou`: the labeler's masks of G(latents) against the real
        `masks`, where `latents` are the inversions of held-out real images. This is the whole chain the
        synthetic labels come from (inversion, then the labeler) scored on real images: if it is below what
        the real-only U-Net reaches, the synthetic labels teach less than the real ones do."""
        predicted = label_images(
            labeler, self.features_of(generator), latents, size=masks.shape[-1], batch_size=self.label_batch_size
        )["seg"]
        scores = segmentation_scores(predicted, masks.cpu(), num_classes)
        return {"labeler_test_pixel_acc": scores["pixel_accuracy"], "labeler_test_miou": scores["miou"]}
