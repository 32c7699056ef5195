"""Wasserstein GAN with gradient penalty (Gulrajani et al. 2017): the critic estimates the Wasserstein-1
distance between real and generated embeddings; its 1-Lipschitz constraint is a penalty on the gradient
norm at random interpolates. Its loss does not saturate when the critic wins, the usual remedy for the
vanishing gradients and mode collapse of the original objective."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from synthlift.core.checks import positive
from synthlift.generators.text.objectives.base import GANObjective


class WassersteinGP(GANObjective):
    def __init__(self, gradient_penalty: float = 10.0, critic_steps: int = 5):
        super().__init__(critic_steps)
        self.gradient_penalty = positive("gradient_penalty", gradient_penalty)

    def discriminator_loss(self, real_scores: Tensor, fake_scores: Tensor, real_target: float) -> Tensor:
        return fake_scores.mean() - real_scores.mean()

    def generator_loss(self, fake_scores: Tensor) -> Tensor:
        return -fake_scores.mean()

    def penalty(self, score: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        mix = torch.rand(len(real), 1, device=real.device)
        interpolates = (mix * real + (1 - mix) * fake.detach()).requires_grad_(True)
        (gradients,) = torch.autograd.grad(score(interpolates).sum(), interpolates, create_graph=True)
        return self.gradient_penalty * ((gradients.norm(dim=1) - 1) ** 2).mean()
