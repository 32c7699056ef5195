"""`downstream=image/unet_efficientnet`: a U-Net whose encoder is ImageNet-pretrained EfficientNet-Lite0, the
transfer-learning baseline HandsOff compares against. It is a `DenseUNet.network`, so it is trained end to
end with the scratch U-Net's optimiser, steps and losses, and the two differ only in the encoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.checks import positive_int
from synthlift.downstream.unet import check_heads, head_outputs
from synthlift.perceptual.efficientnet import EfficientNetLite0Encoder


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

    `encoder_input_size` (pixels; None = the image's own size) enlarges the image (bilinear) before the
    encoder only. ImageNet features are learned on objects ~100-200 px across: at 32 px the stride-16 tap
    is a 2x2 map and a horse is a few stride-8 cells, so the pretrained filters see shapes at a scale they
    never saw. The decoder then runs at the enlarged scale and its result is resized back to the image
    before the full-resolution fuse, so outputs keep the input's size. It is a setting of the baseline to
    choose on validation (experiment=image/transfer_tuning), not to leave at a value that handicaps it.

    The encoder is `EfficientNetLite0Encoder`, as the perceptual distance uses it, but trained.
    `pretrained=False` keeps the architecture with random weights: the "same network, no ImageNet" ablation
    (and fast tests).
    """

    def __init__(
        self,
        *,
        heads: dict[str, int],
        pretrained: bool = True,
        decoder_channels: int = 32,
        taps: Sequence[int] = (0, 2, 4, 10),
        encoder_input_size: int | None = None,
    ) -> None:
        super().__init__()
        check_heads(heads)
        decoder_channels = positive_int("decoder_channels", decoder_channels)
        self.encoder_input_size = (
            None if encoder_input_size is None else positive_int("encoder_input_size", encoder_input_size)
        )
        self.encoder = EfficientNetLite0Encoder(taps, pretrained)
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
        self.encoder.eval()
        with torch.no_grad():
            channels = [feature.shape[1] for feature in self.encoder(torch.zeros(1, 3, 32, 32))]
        self.encoder.train()
        return channels

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        enlarged = x
        if self.encoder_input_size is not None and self.encoder_input_size != x.shape[-1]:
            height = round(self.encoder_input_size * x.shape[-2] / x.shape[-1])  # width as set, aspect kept
            size = (height, self.encoder_input_size)
            enlarged = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        *skips, h = self.encoder(enlarged)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat((h, skip), dim=1))
        h = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        h = self.fuse(torch.cat((h, self.full_resolution(x)), dim=1))
        return head_outputs(self.heads, h)
