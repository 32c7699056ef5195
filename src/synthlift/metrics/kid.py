"""`kid` in `metrics=image/default`: the Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying
MMD GANs", ICLR) between the synthetic samples and the held-out real test set, so "the GAN is the weak
stage" is a number that compares across GAN lengths, augmentations and resolutions.

KID is the unbiased squared MMD under the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
random equal-size subsets. Unlike FID it has an unbiased estimator, so it is usable with the few hundred
images a run has. It is computed in the track's fixed feature space (for images ImageNet EfficientNet-Lite0
features, since Inception weights are not available offline; for text the embedder's), so values compare
with each other, not with published Inception KIDs. `kid_real` is the same statistic between the real
training pool and the test set: the value a perfect generator would score on this data, which `kid`
should be read against.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.image.kid import poly_mmd

from synthlift.augment.base import SyntheticSource
from synthlift.core.checks import positive_int
from synthlift.core.results import Unmeasured
from synthlift.metrics.base import QualityMetric, RealReference

SEED_OFFSET = 11  # the metric's own draws, apart from those of the training data and other metrics


def kernel_distance(x: np.ndarray, y: np.ndarray, subsets: int, subset_size: int, seed: int) -> tuple[float, float]:
    """Mean and standard deviation of the unbiased polynomial-kernel MMD^2 over `subsets` random pairs of
    `subset_size`-subsets of x and y (drawn without replacement within a subset)."""
    rng = np.random.default_rng(seed)
    x64, y64 = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    values = [
        poly_mmd(
            x64[rng.choice(len(x), subset_size, replace=False)], y64[rng.choice(len(y), subset_size, replace=False)]
        ).item()
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


class KernelInceptionDistance(QualityMetric):
    """`kid` (mean over subsets), `kid_std` and `kid_real`; subsets shrink to the smaller set's size."""

    def __init__(self, subsets: int = 50, subset_size: int = 100):
        self.subsets = positive_int("subsets", subsets)
        self.subset_size = positive_int("subset_size", subset_size)

    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        samples = synthetic.draw(len(real.test.x), real.seed + SEED_OFFSET)  # as many as the test set
        size = min(self.subset_size, len(real.test.x), len(real.train.x), len(samples.x))
        if size < 2:
            reason = (
                f"{len(samples.x)} synthetic, {len(real.train.x)} real training and {len(real.test.x)} test "
                f"examples: the unbiased estimate needs subsets of at least 2 of each"
            )
            return dict.fromkeys(("kid", "kid_std", "kid_real"), Unmeasured(reason))
        seed = real.seed + SEED_OFFSET
        kid, kid_std = kernel_distance(real.test.x, samples.x, self.subsets, size, seed)
        kid_real, _ = kernel_distance(real.test.x, real.train.x, self.subsets, size, seed + 1)
        return {"kid": kid, "kid_std": kid_std, "kid_real": kid_real}
