"""The interface every image generator offers the HandsOff track.

Inversion needs `mapping`/`synthesis` to work in the intermediate latent space W, and the pixel
labeler needs each synthesis block's feature map to build per-pixel "hypercolumns".
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn


class ImageGenerator(nn.Module, abc.ABC):
    """z (N, z_dim) -> w (N, w_dim) -> image (N, 3, resolution, resolution) in [-1, 1].

    Subclasses set `z_dim`, `w_dim`, `resolution` and `feature_channels` (the channel count of each
    feature map `synthesis(..., return_features=True)` returns, in block order, coarse to fine).
    """

    z_dim: int
    w_dim: int
    resolution: int
    feature_channels: list[int]

    @abc.abstractmethod
    def mapping(self, z: Tensor) -> Tensor:
        """Noise -> intermediate latent w. Generators without a mapping network return z."""

    @abc.abstractmethod
    def synthesis(self, w: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """w -> image, and with `return_features` also the list of per-block feature maps."""

    def forward(self, z: Tensor) -> Tensor:
        return self.synthesis(self.mapping(z))

    @property
    def hypercolumn_dim(self) -> int:
        return sum(self.feature_channels)

    @torch.no_grad()
    def mean_w(self, n: int = 2048, seed: int = 0) -> Tensor:
        """The average latent (1, w_dim): the usual starting point for inversion."""
        rng = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.z_dim, generator=rng).to(next(self.parameters()).device)
        return self.mapping(z).mean(0, keepdim=True)
