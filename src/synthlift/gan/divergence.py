"""One check shared by every GAN: a NaN/inf loss stops that run with a message saying what to change."""

from __future__ import annotations

import torch

from synthlift.errors import GANDivergedError


def check_finite(loss: torch.Tensor, which: str, where: str, advice: str) -> None:
    """Raise GANDivergedError if `loss` is NaN or infinite (the run is recorded as failed, the sweep goes on)."""
    if not torch.isfinite(loss):
        raise GANDivergedError(f"GAN diverged: the {which} loss became {loss.item()} at {where}. {advice}")
