"""`augment=dann`: domain-adversarial training (Ganin & Lempitsky 2015) on real + synthetic examples.

Mixing teaches the model whatever separates synthetic from real examples too; here a domain head tries to
tell them apart through a gradient-reversal layer, so the features the label head relies on are pushed
to be the same for both. `reversal_weight` is the reversal's strength (DANN's lambda)."""

from __future__ import annotations

import numpy as np

from synthlift.augment.base import (
    DOMAIN_HEAD,
    DrawingStrategy,
    Examples,
    SyntheticSource,
    Teacher,
    TrainingPhase,
    TrainingPlan,
)
from synthlift.core.checks import positive

REAL_DOMAIN, SYNTHETIC_DOMAIN = 0, 1


class DomainAdversarial(DrawingStrategy):
    requires = frozenset({DOMAIN_HEAD})

    def __init__(self, ratio: float | None = 1.0, reversal_weight: float = 0.1):
        super().__init__(ratio)
        self.reversal_weight = positive("reversal_weight", reversal_weight)

    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        drawn = self.draw(real, synthetic, seed)
        domains = np.concatenate([np.full(len(real), REAL_DOMAIN), np.full(len(drawn), SYNTHETIC_DOMAIN)])
        phase = TrainingPhase(
            real.concat(drawn),
            name="real+synthetic, domain-adversarial",
            domains=domains.astype(np.int64),
            reversal_weight=self.reversal_weight,
        )
        return TrainingPlan((phase,), synthetic=drawn)
