"""`augment=replace`: the model sees synthetic examples only (HandsOff's "synthetic only" row): how good is
the synthetic data on its own, scored on the same real test set?"""

from __future__ import annotations

from synthlift.augment.base import DrawingStrategy, Examples, SyntheticSource, Teacher, TrainingPhase, TrainingPlan


class Replace(DrawingStrategy):
    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        drawn = self.draw(real, synthetic, seed)
        return TrainingPlan((TrainingPhase(drawn, name="synthetic"),), synthetic=drawn)
