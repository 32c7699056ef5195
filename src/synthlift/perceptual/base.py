"""What every perceptual distance shares: the interface inversion calls, and the LPIPS-style distance on
the feature maps of a frozen network."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def feature_distance(features_x: Sequence[Tensor], features_y: Sequence[Tensor]) -> Tensor:
    """LPIPS without its learned weights: channel-normalised squared difference, averaged per stage.

    Normalising over channels makes stages with large activations count no more than the others.
    """
    per_stage = []
    for fx, fy in zip(features_x, features_y, strict=True):
        if fx.dim() == 2:  # a pooled (N, C) feature vector is a 1x1 map
            fx, fy = fx[..., None, None], fy[..., None, None]
        diff = (F.normalize(fx, dim=1, eps=1e-10) - F.normalize(fy, dim=1, eps=1e-10)).pow(2).sum(1)
        per_stage.append(diff.flatten(1).mean(1))
    return torch.stack(per_stage).mean(0)


class PerceptualDistance(nn.Module, abc.ABC):
    """Per-sample distance (N,) between images in [-1, 1]; frozen, but differentiable in the images."""

    def _freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> PerceptualDistance:
        """Always eval: a parent's `.train()` must not switch the frozen network's batch norms."""
        return super().train(False)

    @abc.abstractmethod
    def forward(self, x: Tensor, y: Tensor) -> Tensor: ...


class FeatureDistance(PerceptualDistance):
    """Distance on the maps `features` returns; the target's features skip autograd when they can."""

    @abc.abstractmethod
    def features(self, x: Tensor) -> list[Tensor]: ...

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and y.requires_grad):
            features_y = self.features(y)
        return feature_distance(self.features(x), features_y)
