"""`downstream=image/unet_efficientnet`: a U-Net whose encoder is ImageNet-pretrained EfficientNet-Lite0, the
transfer-learning baseline HandsOff compares against. It is a `DenseUNet.network`, so it is trained end to
end with the scratch U-Net's optimiser, steps and losses, and the two differ only in the encoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.checks import positive_int
from synthlift.core.errors import InvalidArgument
from synthlift.downstream.unet import check_heads, head_outputs
from synthlift.perceptual.efficientnet import _IMAGENET_MEAN, _IMAGENET_STD, efficientnet_lite0_state


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class EfficientNetUNet(nn.Module):
    """EfficientNet-Lite0's stem and blocks up to the last of `taps` as the encoder, its features after the
    `taps` blocks (by default strides 2, 4, 8 and 16) as skips; a light decoder that, from the deepest
    skip, upsamples (bilinear, to the next skip's size, so odd sizes work), concatenates and applies a
    conv3x3-BN-ReLU of `decoder_channels`; then, at the input's size, the same with a full-resolution conv
    on the image itself. That branch exists because the encoder's finest features are at stride 2: at 32 px
    a one-pixel structure (a thin limb, a keypoint) would otherwise reach the heads only blurred through
    upsampling. Heads as in `UNet`: `seg` (N,C,H,W), `keypoints` (N,K,H,W), `depth` (N,H,W).

    Images arrive in [-1, 1] and are mapped to ImageNet's normalisation, which the pretrained weights
    expect. `pretrained=False` keeps the architecture with random weights: the "same network, no ImageNet"
    ablation (and fast tests). The encoder's drop-connect is not applied: the blocks run as in inference,
    like `EfficientNetPerceptual`'s, and the runs are too short for stochastic depth to matter.
    """

    def __init__(
        self,
        *,
        heads: dict[str, int],
        pretrained: bool = True,
        decoder_channels: int = 32,
        taps: Sequence[int] = (0, 2, 4, 10),
    ) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        check_heads(heads)
        if not isinstance(pretrained, bool):
            raise InvalidArgument("pretrained", pretrained, "true or false")
        decoder_channels = positive_int("decoder_channels", decoder_channels)
        # image_size=None picks dynamic "same" padding, correct for any input size.
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        if pretrained:
            net.load_state_dict(efficientnet_lite0_state())  # copied into the parameters: the cache stays intact
        blocks = len(net._blocks)
        taps = list(taps)
        if not taps or not all(isinstance(t, int) and 0 <= t < blocks for t in taps) or len(set(taps)) < len(taps):
            raise InvalidArgument("taps", taps, f"a non-empty list of distinct block indices in 0..{blocks - 1}")
        self.taps = tuple(sorted(taps))
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: self.taps[-1] + 1]  # later blocks never reach a tap
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        skip_channels = self._skip_channels()
        widths = [skip_channels[-1], *[decoder_channels] * (len(skip_channels) - 1)]
        self.up = nn.ModuleList(
            _conv_block(width + skip, decoder_channels)
            for width, skip in zip(widths[:-1], reversed(skip_channels[:-1]), strict=True)
        )
        self.full_resolution = _conv_block(3, decoder_channels)
        self.fuse = _conv_block(widths[-1] + decoder_channels, decoder_channels)
        self.heads = nn.ModuleDict({name: nn.Conv2d(decoder_channels, ch, 1) for name, ch in heads.items()})

    def _skip_channels(self) -> list[int]:
        """The encoder's channels at the taps, from a dry run in eval mode (BN statistics left untouched)."""
        self.eval()
        with torch.no_grad():
            channels = [feature.shape[1] for feature in self.encode(torch.zeros(1, 3, 32, 32))]
        self.train()
        return channels

    def encode(self, x: Tensor) -> list[Tensor]:
        """The encoder's features after each tap block, finest first, for images in [-1, 1]."""
        h = self.stem(((x + 1) / 2 - self.mean) / self.std)
        features = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.taps:
                features.append(h)
        return features

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        *skips, h = self.encode(x)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat((h, skip), dim=1))
        h = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        h = self.fuse(torch.cat((h, self.full_resolution(x)), dim=1))
        return head_outputs(self.heads, h)
