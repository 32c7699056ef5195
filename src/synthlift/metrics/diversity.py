"""`metrics=text/diversity`: is the synthetic data as diverse as the real data? (Gupta 2019 saw in a t-SNE
that it is not; this makes it a number.) Mean within-class distance of synthetic samples over that of the
real training examples: < 1 means less diverse."""

from __future__ import annotations

import numpy as np
import torch

from synthlift.augment.base import SyntheticSource
from synthlift.core.results import Unmeasured
from synthlift.metrics.base import QualityMetric, RealReference

SEED_OFFSET = 2  # the samples' seed is the run's + this, so they differ from the training samples


def mean_pairwise_distance(x: np.ndarray, y: np.ndarray) -> float | None:
    """Average within-class Euclidean distance; None when no class has two examples."""
    per_class = []
    for label in np.unique(y):
        points = torch.as_tensor(x[y == label], dtype=torch.float32)
        if len(points) > 1:
            dist = torch.cdist(points, points)
            per_class.append(dist.sum().item() / (len(points) * (len(points) - 1)))
    return float(np.mean(per_class)) if per_class else None


class Diversity(QualityMetric):
    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        samples = synthetic.draw(len(real.train), real.seed + SEED_OFFSET)
        real_spread = mean_pairwise_distance(real.train.x, real.train.y)
        synthetic_spread = mean_pairwise_distance(samples.x, samples.y)
        too_few = Unmeasured("no class has two examples, so there is no within-class distance")
        ratio: float | Unmeasured
        if real_spread is None or synthetic_spread is None:
            ratio = too_few
        elif real_spread == 0:
            ratio = Unmeasured("the real examples of every class are identical (distance 0)")
        else:
            ratio = synthetic_spread / real_spread
        return {
            "diversity_real": too_few if real_spread is None else real_spread,
            "diversity_synthetic": too_few if synthetic_spread is None else synthetic_spread,
            "diversity_ratio": ratio,
        }
