"""`augment=mix`: one training set of the real examples plus `ratio` x as many label-balanced synthetic ones
(Gupta 2019; HandsOff's "synthetic + real")."""

from __future__ import annotations

from synthlift.augment.base import DrawingStrategy, Examples, SyntheticSource, Teacher, TrainingPhase, TrainingPlan


class Mix(DrawingStrategy):
    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        drawn = self.draw(real, synthetic, seed)
        return TrainingPlan((TrainingPhase(real.concat(drawn), name="real+synthetic"),), synthetic=drawn)
