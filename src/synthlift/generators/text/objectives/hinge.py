"""The hinge GAN objective (Lim & Ye 2017; with spectral normalisation in Miyato et al. 2018 and BigGAN):
the discriminator is a max-margin classifier that stops pushing scores past the margin, which with a
spectrally normalised discriminator keeps training stable."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from synthlift.generators.text.objectives.base import GANObjective


class HingeObjective(GANObjective):
    def discriminator_loss(self, real_scores: Tensor, fake_scores: Tensor, real_target: float) -> Tensor:
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()

    def generator_loss(self, fake_scores: Tensor) -> Tensor:
        return -fake_scores.mean()
