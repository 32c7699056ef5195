"""`perceptual=lpips`: the real LPIPS (as in HandsOff), for users who have the `lpips` package and its
backbone weights."""

from __future__ import annotations

from torch import Tensor

from synthlift.core.checks import one_of
from synthlift.core.errors import ConfigError
from synthlift.perceptual.base import PerceptualDistance


class LPIPSPerceptual(PerceptualDistance):
    def __init__(self, net: str = "vgg") -> None:
        super().__init__()
        net = one_of("net", net, ("alex", "vgg", "squeeze"))
        hint = (
            "perceptual=lpips needs the `lpips` package with torchvision and its {net} weights available "
            "offline ({error}); install lpips and torchvision, or choose perceptual=efficientnet or "
            "perceptual=discriminator"
        )
        try:
            import lpips
        except ImportError as error:
            raise ConfigError(hint.format(net=net, error=error)) from error
        try:
            self.lpips = lpips.LPIPS(net=net, verbose=False)
        except (OSError, RuntimeError) as error:  # weights missing and no network to fetch them
            raise ConfigError(hint.format(net=net, error=error)) from error
        self._freeze()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.lpips(x, y).flatten()
