"""The original (non-saturating) GAN objective of Goodfellow et al. 2014, which Gupta 2019 uses: the
discriminator is a logistic real/fake classifier; the generator maximises log D(fake). Its real target
can be smoothed (one-sided label smoothing, Salimans et al. 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from synthlift.generators.text.objectives.base import GANObjective


class CrossEntropyObjective(GANObjective):
    smooths_labels = True

    def discriminator_loss(self, real_scores: Tensor, fake_scores: Tensor, real_target: float) -> Tensor:
        real = F.binary_cross_entropy_with_logits(real_scores, torch.full_like(real_scores, real_target))
        return real + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))

    def generator_loss(self, fake_scores: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
