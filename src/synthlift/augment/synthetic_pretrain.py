"""`augment=synthetic_pretrain`: train on synthetic examples first, then fine-tune on the real ones.

Reported to beat mixing when real data is scarce: the real examples get the last word, so label noise
in the synthetic set can shape the starting point but not the final decision boundary. The downstream
model runs the two phases in order, each continuing from the weights the other left."""

from __future__ import annotations

from synthlift.augment.base import DrawingStrategy, Examples, SyntheticSource, Teacher, TrainingPhase, TrainingPlan


class SyntheticPretrain(DrawingStrategy):
    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        drawn = self.draw(real, synthetic, seed)
        return TrainingPlan(
            (TrainingPhase(drawn, name="synthetic pre-training"), TrainingPhase(real, name="real fine-tuning")),
            synthetic=drawn,
        )
