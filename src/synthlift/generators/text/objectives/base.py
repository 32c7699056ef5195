"""What a GAN's discriminator and generator minimise: the piece that tells `gan=text/cgan`, `text/wgan_gp`
and `text/hinge_sn` apart. The networks, the tricks and the training loop (generators/text/cgan_module.py)
are shared; an objective only turns discriminator scores into losses.

Scores are raw discriminator outputs (logits for the cross-entropy objective, critic values for the
Wasserstein one). `real_target` is one-sided label smoothing's target for real examples; only an objective
with a real/fake target can smooth it (`smooths_labels`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

from torch import Tensor

from synthlift.core.checks import positive_int


class GANObjective(abc.ABC):
    smooths_labels: ClassVar[bool] = False

    def __init__(self, critic_steps: int = 1):
        # Discriminator updates per generator update (WGAN's n_critic).
        self.critic_steps = positive_int("critic_steps", critic_steps)

    @property
    def params(self) -> dict[str, Any]:
        """Identity of the objective, for cache keys (e.g. the pretrained checkpoint)."""
        return {"objective": type(self).__name__, **vars(self)}

    @abc.abstractmethod
    def discriminator_loss(self, real_scores: Tensor, fake_scores: Tensor, real_target: float) -> Tensor:
        """Loss of the discriminator given its scores on a real and a generated batch."""

    @abc.abstractmethod
    def generator_loss(self, fake_scores: Tensor) -> Tensor:
        """Adversarial loss of the generator given the discriminator's scores on its batch."""

    def penalty(self, score: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor | float:
        """A regulariser added to the discriminator's loss (`score` maps embeddings to scores); none by default."""
        return 0.0
