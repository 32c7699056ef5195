"""`augment=none`: the real-only control. The generator is never trained and the "augmented" model is
the baseline itself, so its lift is exactly 0 — a check that the pairing works."""

from __future__ import annotations

from synthlift.augment.base import AugmentStrategy, Examples, SyntheticSource, Teacher, TrainingPhase, TrainingPlan


class RealOnly(AugmentStrategy):
    uses_synthetic = False

    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        return TrainingPlan((TrainingPhase(real, name="real"),))
