"""`metrics=text/synthetic_as_test`: the seed paper's second evaluation — the real-only model scored on
synthetic samples as if they were a test set. High accuracy means the samples carry their label in a way
the real data taught; near chance means the labels are noise to a model of the real data."""

from __future__ import annotations

from synthlift.augment.base import SyntheticSource
from synthlift.core.results import Unmeasured
from synthlift.metrics.base import QualityMetric, RealReference

SEED_OFFSET = 1  # the samples' seed is the run's + this, so they differ from the training samples


class SyntheticAsTest(QualityMetric):
    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        samples = synthetic.draw(len(real.test), real.seed + SEED_OFFSET)
        scores = real.baseline_evaluate(real.baseline, samples.x, samples.y, real.num_classes)
        return {"synthetic_as_test_acc": scores["acc"]}
