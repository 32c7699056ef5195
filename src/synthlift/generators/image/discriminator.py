"""The image GANs' discriminator (StyleGAN2's residual D); its feature maps double as a perceptual backbone
for inversion (`perceptual=discriminator`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.checks import non_negative_int
from synthlift.generators.image.layers import EqualConv2d, EqualLinear, channel_schedule, consecutive, lrelu


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convs and a 2x average-pool downsample, with a residual 1x1 skip (StyleGAN2's resnet D)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(lrelu(self.conv1(lrelu(self.conv0(x)))), 2)
        return (x + skip) / math.sqrt(2.0)


class Discriminator(nn.Module):
    """Image (N, 3, R, R) -> real/fake logit (N,): fromRGB, downsampling blocks to 4x4, then an optional
    minibatch-std channel (lets D see a collapsed batch's missing variety), a conv and two linears.
    No BatchNorm, which would couple real and fake samples and disturb the R1 penalty."""

    def __init__(self, resolution: int, base_channels: int = 32, max_channels: int = 128, mbstd_group: int = 4):
        super().__init__()
        channels = channel_schedule(resolution, base_channels, max_channels)[::-1]  # fine to coarse
        mbstd_group = non_negative_int("mbstd_group", mbstd_group)
        self.resolution = resolution
        self.from_rgb = EqualConv2d(3, channels[0], 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(a, b) for a, b in consecutive(channels))
        self.mbstd_group = mbstd_group
        last = channels[-1]
        self.conv = EqualConv2d(last + (1 if mbstd_group > 0 else 0), last, 3)
        self.fc = EqualLinear(last * 16, last)
        self.out = EqualLinear(last, 1)

    def features(self, x: Tensor) -> list[Tensor]:
        """The fromRGB map and every block's output, fine to coarse (a perceptual backbone for inversion)."""
        maps = [lrelu(self.from_rgb(x))]
        for block in self.blocks:
            maps.append(block(maps[-1]))
        return maps

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)[-1]
        if self.mbstd_group > 0:
            x = torch.cat([x, self._minibatch_std(x)], dim=1)
        x = lrelu(self.conv(x))
        return self.out(lrelu(self.fc(x.flatten(1)))).squeeze(1)

    def _minibatch_std(self, x: Tensor) -> Tensor:
        """Per group of samples, the mean over features of their std: one extra constant channel."""
        n = x.shape[0]
        group = min(self.mbstd_group, n)
        while n % group:
            group -= 1
        std = (x.reshape(group, -1, *x.shape[1:]).var(dim=0, unbiased=False) + 1e-8).sqrt()
        return std.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1).repeat(group, 1, *x.shape[2:])
