"""`perceptual=discriminator`: the LPIPS-style distance on the trained GAN's own discriminator. That network
exists only once the GAN is trained, so the yaml is a partial the pipeline completes with it."""

from __future__ import annotations

import copy

from torch import Tensor, nn

from synthlift.core.errors import ConfigError
from synthlift.perceptual.base import FeatureDistance


class DiscriminatorPerceptual(FeatureDistance):
    """The distance on a trained discriminator's `features(x)`: in-domain, but GAN-biased.

    Holds a frozen copy, so inversion can never change (or accumulate gradients in) the GAN itself.
    """

    def __init__(self, discriminator: nn.Module) -> None:
        super().__init__()
        if not callable(getattr(discriminator, "features", None)):
            raise ConfigError("perceptual=discriminator needs a discriminator with a `features(x)` method")
        self.discriminator = copy.deepcopy(discriminator)
        self._freeze()

    def features(self, x: Tensor) -> list[Tensor]:
        return list(self.discriminator.features(x))
