"""`gan=text/gaussian_jitter`: a random training example of the requested class plus Gaussian noise.

The simplest baseline a learned generator has to beat. The noise's std in each dimension is `scale` times that
dimension's std over the real training embeddings, so `scale` means the same for any embedder (isotropic noise
in z-scored units).
"""

from __future__ import annotations

import numpy as np

from synthlift.core.checks import non_negative
from synthlift.generators.text.base import TextTrainData
from synthlift.generators.text.numeric import ClassResampler


class GaussianJitter(ClassResampler):
    divergence_advice = "Lower gan.scale."

    def __init__(self, scale: float = 0.1):
        self.scale = non_negative("scale", scale)

    def _prepare(self, train: TextTrainData) -> None:
        self.noise_std = self.scale * train.x.std(axis=0)

    def _draw(self, label: int, count: int, rng: np.random.Generator) -> np.ndarray:
        rows = self.rows[label]
        return rows[rng.integers(len(rows), size=count)] + self.noise_std * rng.standard_normal((count, rows.shape[1]))
