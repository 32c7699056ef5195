"""`augment=rebalance`: synthetic examples for the minority classes only, for class-imbalanced data.

Where one class is rare, the useful thing a generator can do is to fill that class up, not to add more
of every class. Each class with fewer real examples than the largest one gets synthetic examples until
it has `fraction` x the largest class's count; the majority class gets none. Judge it by macro-F1 and
balanced accuracy (`lift_f1`, `lift_balanced_acc`), which an imbalanced test set's accuracy hides."""

from __future__ import annotations

import numpy as np

from synthlift.augment.base import (
    CLASS_LABELS,
    AugmentStrategy,
    Examples,
    SyntheticSource,
    Teacher,
    TrainingPhase,
    TrainingPlan,
)
from synthlift.core.checks import unit_target


class Rebalance(AugmentStrategy):
    requires = frozenset({CLASS_LABELS})

    def __init__(self, fraction: float = 1.0):
        self.fraction = unit_target("fraction", fraction)

    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        counts = np.bincount(real.y, minlength=synthetic.num_classes)
        target = int(round(self.fraction * counts.max()))
        missing = np.maximum(target - counts, 0)
        wanted = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), missing))
        drawn = synthetic.draw_labels(wanted, seed)
        return TrainingPlan((TrainingPhase(real.concat(drawn), name="real+minority synthetic"),), synthetic=drawn)

    def why_no_synthetic(self, real: Examples, synthetic: SyntheticSource | None, plan: TrainingPlan) -> str:
        counts = np.bincount(real.y, minlength=synthetic.num_classes).tolist() if synthetic is not None else "?"
        return (
            f"every class already has augment.fraction={self.fraction:g} x the largest class's count (class counts "
            f"{counts}), so no class is a minority to fill up; for balanced data use augment=mix"
        )
