"""`gan=text/mixup`: same-class mixup (Zhang et al., ICLR 2018) as a generator.

Each sample is λ·a + (1 − λ)·b for two distinct random training examples a, b of the requested class, with
λ ~ Beta(alpha, alpha). Unlike SMOTE, partners are any two class members, not near neighbours. A small alpha
keeps samples near real examples (λ near 0 or 1); alpha = 1 spreads them uniformly along the segment.
"""

from __future__ import annotations

import numpy as np

from synthlift.core.checks import positive
from synthlift.generators.text.numeric import ClassResampler


class Mixup(ClassResampler):
    divergence_advice = "Mixup only interpolates between real examples: check the training embeddings."

    def __init__(self, alpha: float = 0.4):
        self.alpha = positive("alpha", alpha)

    def _draw(self, label: int, count: int, rng: np.random.Generator) -> np.ndarray:
        rows = self.rows[label]
        first = rng.integers(len(rows), size=count)
        # A non-zero shift modulo n makes the partner another example; a lone example is mixed with itself.
        second = (first + rng.integers(1, max(len(rows), 2), size=count)) % len(rows)
        weight = rng.beta(self.alpha, self.alpha, size=(count, 1))
        return weight * rows[first] + (1 - weight) * rows[second]
