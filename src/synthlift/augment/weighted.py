"""`augment=weighted`: real plus synthetic examples in one training set, each synthetic example's loss
multiplied by `synthetic_weight` — a middle way between ignoring synthetic data (0) and trusting it as
much as real data (1, which is `augment=mix`)."""

from __future__ import annotations

import numpy as np

from synthlift.augment.base import DrawingStrategy, Examples, SyntheticSource, Teacher, TrainingPhase, TrainingPlan
from synthlift.core.checks import positive


class Weighted(DrawingStrategy):
    def __init__(self, ratio: float | None = 1.0, synthetic_weight: float = 0.5):
        super().__init__(ratio)
        self.synthetic_weight = positive("synthetic_weight", synthetic_weight)

    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        drawn = self.draw(real, synthetic, seed)
        weights = np.concatenate([np.ones(len(real)), np.full(len(drawn), self.synthetic_weight)])
        phase = TrainingPhase(real.concat(drawn), weights=weights.astype(np.float32), name="real+weighted synthetic")
        return TrainingPlan((phase,), synthetic=drawn)
