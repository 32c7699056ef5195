"""Image generators and the discriminator of the HandsOff track, sized by config from 16 px on a CPU
to 128 px on a GPU.

`StyleGenerator` is a small StyleGAN2 (Karras et al., CVPR 2020): the HandsOff labeler reads its
per-block feature maps, which are semantically rich because every block is modulated by w.
`DCGANGenerator` is the plain baseline. Both use the same channel rule: wide at coarse resolutions,
narrow at fine ones, so cost grows slowly with resolution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.errors import ConfigError
from synthlift.gan.image_base import ImageGenerator

_GAIN = math.sqrt(2.0)  # keeps activations at unit variance through LeakyReLU(0.2) in equalised-lr nets


def channel_schedule(resolution: int, base_channels: int, max_channels: int) -> list[int]:
    """Channels at 4, 8, ..., `resolution` px: `base_channels` at the finest level, doubling at each
    coarser one up to `max_channels`."""
    if resolution < 8 or resolution & (resolution - 1):
        raise ConfigError(f"gan.resolution must be a power of two >= 8, got {resolution}")
    levels = int(math.log2(resolution)) - 1
    return [min(max_channels, base_channels * 2 ** (levels - 1 - i)) for i in range(levels)]


def _consecutive(sizes: list[int]) -> zip:
    """(in, out) pairs of a layer stack: [a, b, c] -> (a, b), (b, c)."""
    return zip(sizes[:-1], sizes[1:], strict=True)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * _GAIN


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


class StyleLayer(nn.Module):
    """Modulated 3x3 conv + per-pixel noise (learned strength, starting at 0) + LeakyReLU.

    Noise is fresh in training mode and a stored constant in eval mode, so that in eval (the EMA
    generator, inversion, labeling) the image and its features are a function of w alone.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(x, w)
        if self.training:
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        return _lrelu(x + noise * self.noise_strength)


class StyleBlock(nn.Module):
    """One resolution level: (bilinear x2 upsample), style layers, and a toRGB that feeds the skip sum."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, num_convs: int):
        super().__init__()
        self.upsample = resolution > 4
        channels = [in_channels] + [out_channels] * num_convs
        self.layers = nn.ModuleList(
            StyleLayer(c_in, c_out, w_dim, resolution) for c_in, c_out in _consecutive(channels)
        )
        self.to_rgb = ModulatedConv2d(out_channels, 3, 1, w_dim, demodulate=False)
        self.num_ws = num_convs + 1

    def forward(self, x: Tensor, rgb: Tensor | None, ws: Tensor) -> tuple[Tensor, Tensor]:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i])
        rgb_here = self.to_rgb(x, ws[:, -1])
        if rgb is None:
            return x, rgb_here
        return x, rgb_here + F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)


class StyleGenerator(ImageGenerator):
    """Mapping MLP (pixel-normed z -> w) and a skip-architecture synthesis network from a learned 4x4
    constant; the image is the sum of every block's upsampled toRGB output.

    The output is linear, as in StyleGAN2 (no tanh): saturating pixels would stop the gradients that
    latent optimisation needs. Training data lie in [-1, 1], so outputs do too up to small overshoot;
    clamp for display (`ImageGAN.sample` does).

    `synthesis` takes w as (N, w_dim) or, for W+ inversion, one w per modulated layer (N, num_ws, w_dim).
    The 4x4 block has one conv as in StyleGAN2; later blocks have `convs_per_block`.
    """

    def __init__(
        self,
        resolution: int,
        z_dim: int = 128,
        w_dim: int = 128,
        mapping_layers: int = 4,
        base_channels: int = 32,
        max_channels: int = 128,
        convs_per_block: int = 2,
    ):
        super().__init__()
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.feature_channels = channel_schedule(resolution, base_channels, max_channels)
        sizes = [z_dim] + [w_dim] * mapping_layers
        # lr_mul 0.01 as in StyleGAN: a slowly moving mapping keeps W stable while synthesis learns.
        self.mapping_net = nn.ModuleList(EqualLinear(a, b, lr_mul=0.01) for a, b in _consecutive(sizes))
        self.const = nn.Parameter(torch.randn(self.feature_channels[0], 4, 4))
        in_channels = [self.feature_channels[0]] + self.feature_channels[:-1]
        self.blocks = nn.ModuleList(
            StyleBlock(c_in, c_out, w_dim, 4 * 2**i, 1 if i == 0 else convs_per_block)
            for i, (c_in, c_out) in enumerate(zip(in_channels, self.feature_channels, strict=True))
        )
        self.num_ws = sum(block.num_ws for block in self.blocks)

    def mapping(self, z: Tensor) -> Tensor:
        w = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for layer in self.mapping_net:
            w = _lrelu(layer(w))
        return w

    def synthesis(self, w: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1) if w.dim() == 2 else w
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        rgb, features, start = None, [], 0
        for block in self.blocks:
            x, rgb = block(x, rgb, ws[:, start : start + block.num_ws])
            start += block.num_ws
            features.append(x)
        return (rgb, features) if return_features else rgb


class DCGANGenerator(ImageGenerator):
    """Radford et al. (2016): transposed convolutions with BatchNorm + ReLU, tanh output. No mapping
    network, so w is z (`w_dim == z_dim`); each block's output is a feature map."""

    def __init__(self, resolution: int, z_dim: int = 128, base_channels: int = 32, max_channels: int = 128):
        super().__init__()
        self.z_dim = self.w_dim = z_dim
        self.resolution = resolution
        self.feature_channels = channel_schedule(resolution, base_channels, max_channels)
        in_channels = [z_dim] + self.feature_channels[:-1]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            )
            for i, (c_in, c_out) in enumerate(zip(in_channels, self.feature_channels, strict=True))
        )
        self.to_rgb = nn.Conv2d(self.feature_channels[-1], 3, 3, padding=1)
        for module in self.modules():  # DCGAN's initialisation
            if isinstance(module, nn.ConvTranspose2d | nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)

    def mapping(self, z: Tensor) -> Tensor:
        return z

    def synthesis(self, w: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        x, features = w[:, :, None, None], []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        image = torch.tanh(self.to_rgb(x))
        return (image, features) if return_features else image


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convs and a 2x average-pool downsample, with a residual 1x1 skip (StyleGAN2's resnet D)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(_lrelu(self.conv1(_lrelu(self.conv0(x)))), 2)
        return (x + skip) / math.sqrt(2.0)


class Discriminator(nn.Module):
    """Image (N, 3, R, R) -> real/fake logit (N,): fromRGB, downsampling blocks to 4x4, then an optional
    minibatch-std channel (lets D see a collapsed batch's missing variety), a conv and two linears.
    No BatchNorm, which would couple real and fake samples and disturb the R1 penalty."""

    def __init__(self, resolution: int, base_channels: int = 32, max_channels: int = 128, mbstd_group: int = 4):
        super().__init__()
        channels = channel_schedule(resolution, base_channels, max_channels)[::-1]  # fine to coarse
        self.resolution = resolution
        self.from_rgb = EqualConv2d(3, channels[0], 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(a, b) for a, b in _consecutive(channels))
        self.mbstd_group = mbstd_group
        last = channels[-1]
        self.conv = EqualConv2d(last + (1 if mbstd_group > 0 else 0), last, 3)
        self.fc = EqualLinear(last * 16, last)
        self.out = EqualLinear(last, 1)

    def features(self, x: Tensor) -> list[Tensor]:
        """The fromRGB map and every block's output, fine to coarse (a perceptual backbone for inversion)."""
        maps = [_lrelu(self.from_rgb(x))]
        for block in self.blocks:
            maps.append(block(maps[-1]))
        return maps

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)[-1]
        if self.mbstd_group > 0:
            x = torch.cat([x, self._minibatch_std(x)], dim=1)
        x = _lrelu(self.conv(x))
        return self.out(_lrelu(self.fc(x.flatten(1)))).squeeze(1)

    def _minibatch_std(self, x: Tensor) -> Tensor:
        """Per group of samples, the mean over features of their std: one extra constant channel."""
        n = x.shape[0]
        group = min(self.mbstd_group, n)
        while n % group:
            group -= 1
        std = (x.reshape(group, -1, *x.shape[1:]).var(dim=0, unbiased=False) + 1e-8).sqrt()
        return std.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1).repeat(group, 1, *x.shape[2:])


_STYLE_KEYS = ("z_dim", "w_dim", "mapping_layers", "base_channels", "max_channels", "convs_per_block")
_DCGAN_KEYS = ("z_dim", "base_channels", "max_channels")


def build_image_generator(cfg: Mapping[str, Any]) -> ImageGenerator:
    """From `arch` ("style" | "dcgan"), `resolution` and any of the size keys; absent keys take defaults."""
    arch = cfg.get("arch")
    if arch == "style":
        return StyleGenerator(int(cfg["resolution"]), **{k: int(cfg[k]) for k in _STYLE_KEYS if k in cfg})
    if arch == "dcgan":
        return DCGANGenerator(int(cfg["resolution"]), **{k: int(cfg[k]) for k in _DCGAN_KEYS if k in cfg})
    raise ConfigError(f"gan.arch must be 'style' or 'dcgan', got {arch!r}")


def build_discriminator(cfg: Mapping[str, Any]) -> Discriminator:
    """From `resolution` and optional `d_base_channels`, `d_max_channels`, `mbstd_group` (0 = off)."""
    keys = {"d_base_channels": "base_channels", "d_max_channels": "max_channels", "mbstd_group": "mbstd_group"}
    return Discriminator(int(cfg["resolution"]), **{arg: int(cfg[k]) for k, arg in keys.items() if k in cfg})
