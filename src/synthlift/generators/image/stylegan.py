"""`gan=image/stylegan`'s generator: a small StyleGAN2 (Karras et al., CVPR 2020). The HandsOff labeler reads
its per-block feature maps, which are semantically rich because every block is modulated by w."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.checks import positive_int
from synthlift.generators.image.base import GANGenerator
from synthlift.generators.image.layers import EqualLinear, ModulatedConv2d, channel_schedule, consecutive, lrelu


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
        return lrelu(x + noise * self.noise_strength)


class StyleBlock(nn.Module):
    """One resolution level: (bilinear x2 upsample), style layers, and a toRGB that feeds the skip sum."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, num_convs: int):
        super().__init__()
        self.upsample = resolution > 4
        channels = [in_channels] + [out_channels] * num_convs
        self.layers = nn.ModuleList(StyleLayer(c_in, c_out, w_dim, resolution) for c_in, c_out in consecutive(channels))
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


class StyleGenerator(GANGenerator):
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
        self.feature_channels = channel_schedule(resolution, base_channels, max_channels)
        self.z_dim, self.w_dim = positive_int("z_dim", z_dim), positive_int("w_dim", w_dim)
        self.resolution = resolution
        mapping_layers = positive_int("mapping_layers", mapping_layers)
        convs_per_block = positive_int("convs_per_block", convs_per_block)
        sizes = [z_dim] + [w_dim] * mapping_layers
        # lr_mul 0.01 as in StyleGAN: a slowly moving mapping keeps W stable while synthesis learns.
        self.mapping_net = nn.ModuleList(EqualLinear(a, b, lr_mul=0.01) for a, b in consecutive(sizes))
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
            w = lrelu(layer(w))
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
