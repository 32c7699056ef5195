"""Building blocks of the image GANs, sized by config from 16 px on a CPU to 128 px on a GPU.

Every network uses the same channel rule (`channel_schedule`): wide at coarse resolutions, narrow at fine
ones, so cost grows slowly with resolution. The equalised-learning-rate layers and the modulated
convolution are StyleGAN2's (Karras et al., CVPR 2020).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.checks import positive_int
from synthlift.core.errors import InvalidArgument

GAIN = math.sqrt(2.0)  # keeps activations at unit variance through LeakyReLU(0.2) in equalised-lr nets


def channel_schedule(resolution: int, base_channels: int, max_channels: int) -> list[int]:
    """Channels at 4, 8, ..., `resolution` px: `base_channels` at the finest level, doubling at each
    coarser one up to `max_channels`."""
    if not isinstance(resolution, int) or resolution < 8 or resolution & (resolution - 1):
        raise InvalidArgument("resolution", resolution, "a power of two >= 8")
    base_channels = positive_int("base_channels", base_channels)
    max_channels = positive_int("max_channels", max_channels)
    levels = int(math.log2(resolution)) - 1
    return [min(max_channels, base_channels * 2 ** (levels - 1 - i)) for i in range(levels)]


def consecutive(sizes: list[int]) -> zip:
    """(in, out) pairs of a layer stack: [a, b, c] -> (a, b), (b, c)."""
    return zip(sizes[:-1], sizes[1:], strict=True)


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * GAIN


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weights are stored at unit scale and scaled at run
    time, so Adam's per-parameter step size is the same for every layer (StyleGAN's stabiliser)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Same-padded convolution with equalised learning rate."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel * kernel)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)


class ModulatedConv2d(nn.Module):
    """StyleGAN2's modulated convolution: w scales the input channels and demodulation rescales each
    output channel back to unit expected variance (AdaIN without its droplet artefacts).

    Computed unfused (scale input, shared convolution, scale output), which equals the per-sample
    weight form but runs as one ordinary batched convolution, fast on CPU and GPU alike.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, w_dim: int, demodulate: bool = True):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = 1 / math.sqrt(in_channels * kernel * kernel)
        self.demodulate = demodulate

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w)
        weight = self.weight * self.scale
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            x = x * (styles.square() @ weight.square().sum((2, 3)).T + 1e-8).rsqrt()[:, :, None, None]
        return x + self.bias[None, :, None, None]
