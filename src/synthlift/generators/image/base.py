"""The interface every image generator offers the image track.

The pixel labeler needs only two things: latents to sample, and for a batch of latents the images with
each block's feature map (from which it builds per-pixel "hypercolumns"). That is `ImageGenerator`, so a
non-GAN generator (a VAE, a diffusion model exposing its decoder features) can plug in. GAN inversion
additionally works in the intermediate latent space W; that is `GANGenerator`, with `mapping`/`synthesis`.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn


class ImageGenerator(nn.Module, abc.ABC):
    """latents -> image (N, 3, resolution, resolution) in [-1, 1], with per-block feature maps.

    Subclasses set `resolution` and `feature_channels` (the channel count of each feature map
    `sample_with_features` returns, in block order, coarse to fine).
    """

    resolution: int
    feature_channels: list[int]

    @abc.abstractmethod
    def random_latents(self, n: int, seed: int) -> Tensor:
        """`n` latents drawn from the generator's prior, reproducible by `seed`, on its device."""

    @abc.abstractmethod
    def sample_with_features(self, latents: Tensor) -> tuple[Tensor, list[Tensor]]:
        """latents -> (images, the list of per-block feature maps)."""

    @property
    def hypercolumn_dim(self) -> int:
        return sum(self.feature_channels)


class GANGenerator(ImageGenerator):
    """z (N, z_dim) -> w (N, w_dim) -> image: the latents the rest of the track sees are w, which GAN
    inversion recovers from real images.

    Subclasses set `z_dim` and `w_dim` besides `ImageGenerator`'s attributes. A generator whose synthesis
    also takes one w per modulated layer, (N, num_ws, w_dim) (the W+ space that HandsOff and ReStyle invert
    into: more freedom to fit a real image than one w), sets `num_ws` to that layer count.
    """

    z_dim: int
    w_dim: int
    num_ws: int = 1  # 1: synthesis takes only (N, w_dim)

    @abc.abstractmethod
    def mapping(self, z: Tensor) -> Tensor:
        """Noise -> intermediate latent w. Generators without a mapping network return z."""

    @abc.abstractmethod
    def synthesis(self, w: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """w -> image, and with `return_features` also the list of per-block feature maps."""

    def forward(self, z: Tensor) -> Tensor:
        return self.synthesis(self.mapping(z))

    @torch.no_grad()
    def random_latents(self, n: int, seed: int) -> Tensor:
        """w of `n` noise vectors drawn on the CPU (so a seed gives the same latents on any device)."""
        z = torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))
        return self.mapping(z.to(next(self.parameters()).device))

    def sample_with_features(self, latents: Tensor) -> tuple[Tensor, list[Tensor]]:
        return self.synthesis(latents, return_features=True)

    @torch.no_grad()
    def mean_w(self, n: int = 2048, seed: int = 0) -> Tensor:
        """The average latent (1, w_dim): the usual starting point for inversion."""
        return self.random_latents(n, seed).mean(0, keepdim=True)
