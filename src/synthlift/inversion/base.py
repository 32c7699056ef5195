"""What the inversion steps share: a generator frozen for the duration, and the pixel error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients for the duration, restoring the module's state after.

    Gradients still flow through the module to its inputs (the encoder's w, an optimised latent).
    """
    flags = [p.requires_grad for p in module.parameters()]
    was_training = module.training
    module.requires_grad_(False).eval()
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        module.train(was_training)


def device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def pixel_mse(x_hat: Tensor, x: Tensor) -> Tensor:
    """Per-image (N,) mean squared error."""
    return (x_hat - x).pow(2).flatten(1).mean(1)
