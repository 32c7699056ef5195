"""Checks shared by every generator that a training run has not blown up.

A NaN is the obvious failure, but a GAN pushed by a huge learning rate usually stays finite: losses of
1e23 and samples of 1e23 are numbers, and a classifier trained on them still predicts *something*. So a
loss beyond `MAX_LOSS` and samples far outside the scale of the real data count as divergence too; the
run is recorded as failed with the reason instead of reporting a lift measured on garbage.
"""

from __future__ import annotations

import numpy as np
import torch

from synthlift.core.errors import GANDivergedError

# Adversarial losses of a working GAN are O(1) (softplus / BCE of logits); even R1-penalised or
# consistency-weighted totals stay far below this.
MAX_LOSS = 1e6
# Synthetic samples whose largest absolute value exceeds this many times the real data's are not data.
MAX_SCALE_RATIO = 100.0


def check_loss(loss: torch.Tensor, which: str, where: str, advice: str) -> None:
    """Raise GANDivergedError if `loss` is NaN, infinite or beyond MAX_LOSS in magnitude."""
    value = loss.detach()
    if not torch.isfinite(value) or value.abs() > MAX_LOSS:
        raise GANDivergedError(
            f"GAN diverged: the {which} loss became {value.item():.4g} at {where} "
            f"(limit: finite and |loss| <= {MAX_LOSS:g}). {advice}"
        )


def check_sample_scale(samples: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor, advice: str) -> None:
    """Raise GANDivergedError if samples are non-finite or MAX_SCALE_RATIO times larger than the real data."""
    samples = np.asarray(samples.detach().cpu() if isinstance(samples, torch.Tensor) else samples)
    real = np.asarray(real.detach().cpu() if isinstance(real, torch.Tensor) else real)
    if not np.isfinite(samples).all():
        raise GANDivergedError(f"GAN diverged: its samples contain NaN or infinite values. {advice}")
    limit = MAX_SCALE_RATIO * max(float(np.abs(real).max(initial=0.0)), 1e-12)
    largest = float(np.abs(samples).max(initial=0.0))
    if largest > limit:
        raise GANDivergedError(
            f"GAN diverged: its samples reach |x| = {largest:.4g}, over {MAX_SCALE_RATIO:g} x the real data's "
            f"largest |x| ({limit / MAX_SCALE_RATIO:.4g}). {advice}"
        )
