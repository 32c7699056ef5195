"""`gan=image/dcgan`'s generator: the plain DCGAN baseline (Radford et al., 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from synthlift.core.checks import positive_int
from synthlift.generators.image.base import GANGenerator
from synthlift.generators.image.layers import channel_schedule


class DCGANGenerator(GANGenerator):
    """Radford et al. (2016): transposed convolutions with BatchNorm + ReLU, tanh output. No mapping
    network, so w is z (`w_dim == z_dim`); each block's output is a feature map."""

    def __init__(self, resolution: int, z_dim: int = 128, base_channels: int = 32, max_channels: int = 128):
        super().__init__()
        self.feature_channels = channel_schedule(resolution, base_channels, max_channels)
        self.z_dim = self.w_dim = positive_int("z_dim", z_dim)
        self.resolution = resolution
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
