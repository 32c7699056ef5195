"""Quality metrics of synthetic images: the same metrics as the text track (precision/recall/density/
coverage, the classifier two-sample test, distance to closest record, diversity), computed on a fixed
pretrained feature extractor, as Naeem et al. 2020 and the FID/KID literature do for images.

The extractor is ImageNet EfficientNet-Lite0 (its weights ship offline), the global average of its last
tapped block: a fixed space, so numbers compare across runs and generators. The real side is the GAN's own
training pool (what it should match and must not copy) against the held-out test images; each set is
subsampled to at most `max_images` with the run's seed, and the synthetic side is the labeled pool the
generation stage kept. Images carry no single class, so every image is one class ("image").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from synthlift.core.checks import positive_int
from synthlift.data.text.examples import EmbeddedExamples
from synthlift.metrics.base import RealReference
from synthlift.perceptual.efficientnet import EfficientNetPerceptual

ONE_CLASS = ("image",)


@dataclass(frozen=True, eq=False)
class FeatureSource:
    """Synthetic images' features, drawn without replacement (at most the whole pool: duplicates would
    shrink nearest-neighbour radii and fake memorisation)."""

    x: np.ndarray

    def draw(self, count: int | None, seed: int) -> EmbeddedExamples:
        size = len(self.x) if count is None else min(count, len(self.x))
        chosen = np.random.default_rng(seed).choice(len(self.x), size, replace=False)
        return EmbeddedExamples(self.x[chosen], np.zeros(size, dtype=np.int64))


class ImageFeatureSpace:
    def __init__(self, max_images: int = 500, batch_size: int = 64, min_size: int = 64):
        self.max_images = positive_int("max_images", max_images)
        self.batch_size = positive_int("batch_size", batch_size)
        self.network = EfficientNetPerceptual(min_size=positive_int("min_size", min_size))

    @torch.no_grad()
    def features(self, images: Tensor, seed: int) -> np.ndarray:
        """(n, channels) pooled features of at most `max_images` of `images` (N, 3, H, W) in [-1, 1]."""
        if len(images) > self.max_images:
            images = images[np.sort(np.random.default_rng(seed).choice(len(images), self.max_images, replace=False))]
        pooled = [self.network.features(batch)[-1].mean(dim=(2, 3)) for batch in images.split(self.batch_size)]
        return torch.cat(pooled).numpy().astype(np.float32)

    def compare(
        self, train_images: Tensor, test_images: Tensor, synthetic_images: Tensor, seed: int
    ) -> tuple[RealReference, FeatureSource]:
        """The real reference (training pool vs held-out test images) and the synthetic source, as features."""
        train, test = (self.features(images, seed) for images in (train_images, test_images))
        real = RealReference(
            EmbeddedExamples(train, np.zeros(len(train), dtype=np.int64)),
            EmbeddedExamples(test, np.zeros(len(test), dtype=np.int64)),
            num_classes=1,
            seed=seed,
            class_names=ONE_CLASS,
        )
        return real, FeatureSource(self.features(synthetic_images, seed + 1))
