"""`metrics=text/prdc`: precision, recall, density and coverage of the synthetic embeddings (Naeem et al. 2020,
"Reliable Fidelity and Diversity Metrics for Generative Models", ICML).

One distance between distributions cannot tell the two ways a generator fails apart: samples where no real
data lies (fidelity) and real data that no sample reaches (diversity). Both are judged with k-nearest-neighbour
balls: each point's ball reaches its `nearest_k`-th nearest neighbour within its own set.

- precision: share of synthetic samples inside some real ball (Kynkäänniemi et al. 2019);
- recall: share of real examples inside some synthetic ball;
- density: how many real balls hold a synthetic sample, on average, over k: about 1 when the two sets come
  from one distribution, above 1 when samples crowd dense real regions;
- coverage: share of real examples whose own ball holds a synthetic sample.

Naeem et al. show that precision and recall are swayed by outliers (one stray real point's big ball swallows
many samples; stray samples' balls reach real points), which density and coverage, built on real balls only,
are not; all four are reported so the report's "which quality metric predicts lift" can tell which matters.
Distances are Euclidean, a point is inside a ball when strictly closer than its radius, and a point's own
distance 0 does not count as a neighbour, as in the authors' code (github.com/clovaai/generative-evaluation-prdc).

Keys: `precision`, `recall`, `density`, `coverage` over all examples, and `<key>_class_<name>` computed within
each class (real class c against synthetic class c).
"""

from __future__ import annotations

import numpy as np
import torch

from synthlift.augment.base import SyntheticSource
from synthlift.core.checks import positive_int
from synthlift.core.results import Unmeasured
from synthlift.metrics.base import QualityMetric, RealReference

SEED_OFFSET = 3  # the samples' seed is the run's + this, so they differ from the training samples
KEYS = ("precision", "recall", "density", "coverage")


def knn_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point (the point itself is the 0-th, at 0)."""
    return torch.cdist(points, points).kthvalue(k + 1, dim=1).values


def prdc(real: np.ndarray, synthetic: np.ndarray, k: int) -> dict[str, float]:
    """Precision, recall, density and coverage of `synthetic` against `real` (both (n, d), n > k)."""
    real_points = torch.as_tensor(real, dtype=torch.float64)  # float64: a copy's distance 0 must stay 0
    synthetic_points = torch.as_tensor(synthetic, dtype=torch.float64)
    distances = torch.cdist(real_points, synthetic_points)  # (real, synthetic)
    in_real_ball = distances < knn_radii(real_points, k)[:, None]
    in_synthetic_ball = distances < knn_radii(synthetic_points, k)[None, :]
    return {
        "precision": in_real_ball.any(dim=0).double().mean().item(),
        "recall": in_synthetic_ball.any(dim=1).double().mean().item(),
        "density": in_real_ball.sum().item() / (k * len(synthetic)),
        "coverage": in_real_ball.any(dim=1).double().mean().item(),
    }


class PRDC(QualityMetric):
    """Synthetic samples: as many as real training examples, label-balanced as the source draws them."""

    def __init__(self, nearest_k: int = 5):
        self.nearest_k = positive_int("nearest_k", nearest_k)

    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        samples = synthetic.draw(len(real.train), real.seed + SEED_OFFSET)
        results = self._measure(real.train.x, samples.x, "over all classes")
        for name, real_x, synthetic_x in real.by_class(samples):
            values = self._measure(real_x, synthetic_x, f"in class {name}")
            results.update({f"{key}_class_{name}": value for key, value in values.items()})
        return results

    def _measure(self, real: np.ndarray, synthetic: np.ndarray, where: str) -> dict[str, float | Unmeasured]:
        if min(len(real), len(synthetic)) <= self.nearest_k:
            reason = (
                f"{len(real)} real and {len(synthetic)} synthetic examples {where}: the k-nearest-neighbour balls "
                f"need more than nearest_k={self.nearest_k} of each"
            )
            return dict.fromkeys(KEYS, Unmeasured(reason))
        return prdc(real, synthetic, self.nearest_k)
