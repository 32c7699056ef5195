"""`metrics=text/dcr`: privacy as distance to closest record (DCR): do synthetic examples sit closer to the
training rows they were learnt from than fresh real data does?

A generator that memorises hands back (near) copies of its training examples: a privacy leak, and no new
information for the downstream model either. Distance alone does not say what "close" is, so it is read
against a held-out real set, as SDMetrics' DCROverfittingProtection and Platzer & Reutterer 2021
("Holdout-Based Empirical Assessment of Mixed-Type Synthetic Data", Frontiers in Big Data) do: the real
test examples were never trained on, so their distances to the training rows are what a generator that
generalises without copying should show.

Distances are Euclidean on the embeddings, the space the downstream model reads (and the one the other
metrics use); no per-column scaling as in SDMetrics' tabular version, since embedding dimensions share one
scale. Synthetic samples and held-out examples are equally many: min(train, test) of each, the held-out ones
a random subset drawn with the metric's seed.

Keys:
- `dcr_synthetic_median`, `dcr_holdout_median`: median distance to the closest training row;
- `dcr_ratio`: their quotient; about 1 when synthetic data is no closer than fresh real data, below 1 when it
  sits closer (memorisation), above 1 when it stays further away (e.g. off the real data altogether);
- `exact_copies`: share of synthetic samples at distance <= 1e-6 x the norm of their closest training row;
- `near_copies`: share of synthetic samples at most as far from the training rows as the closest
  `near_copy_quantile` of held-out examples (about that quantile when synthetic data behaves like fresh data).
"""

from __future__ import annotations

import numpy as np
import torch

from synthlift.augment.base import SyntheticSource
from synthlift.core.checks import open_fraction
from synthlift.core.results import Unmeasured
from synthlift.metrics.base import QualityMetric, RealReference

SEED_OFFSET = 5  # the samples' seed is the run's + this, so they differ from the training samples
EXACT_COPY_TOLERANCE = 1e-6  # relative to the norm of the training row: float32 rounding, not a real difference
KEYS = ("dcr_synthetic_median", "dcr_holdout_median", "dcr_ratio", "exact_copies", "near_copies")


def closest_record(train: torch.Tensor, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from each query to its closest training row, and that row's norm."""
    queries_t = torch.as_tensor(queries, dtype=torch.float64)
    closest = train[torch.cdist(queries_t, train).argmin(dim=1)]
    # Measured again row by row: cdist's matrix-product shortcut leaves a copy at a rounding error above 0.
    distances = torch.linalg.vector_norm(queries_t - closest, dim=1)
    return distances.numpy(), torch.linalg.vector_norm(closest, dim=1).numpy()


class DistanceToClosestRecord(QualityMetric):
    def __init__(self, near_copy_quantile: float = 0.01):
        self.near_copy_quantile = open_fraction("near_copy_quantile", near_copy_quantile)

    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        count = min(len(real.train), len(real.test))
        if count == 0:
            reason = f"{len(real.train)} training and {len(real.test)} held-out real examples: nothing to compare"
            return dict.fromkeys(KEYS, Unmeasured(reason))
        seed = real.seed + SEED_OFFSET
        samples = synthetic.draw(count, seed)
        holdout = real.test.x[np.random.default_rng(seed).choice(len(real.test), count, replace=False)]
        train = torch.as_tensor(real.train.x, dtype=torch.float64)
        synthetic_distances, closest_norms = closest_record(train, samples.x)
        holdout_distances, _ = closest_record(train, holdout)
        synthetic_median, holdout_median = float(np.median(synthetic_distances)), float(np.median(holdout_distances))
        near = float(np.quantile(holdout_distances, self.near_copy_quantile))
        ratio = (
            synthetic_median / holdout_median
            if holdout_median > 0
            else Unmeasured("at least half the held-out real examples duplicate a training row (median distance 0)")
        )
        return {
            "dcr_synthetic_median": synthetic_median,
            "dcr_holdout_median": holdout_median,
            "dcr_ratio": ratio,
            "exact_copies": float(np.mean(synthetic_distances <= EXACT_COPY_TOLERANCE * closest_norms)),
            "near_copies": float(np.mean(synthetic_distances <= near)),
        }
