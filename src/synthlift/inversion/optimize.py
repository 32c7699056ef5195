"""Per-image latent optimisation after the encoder (HandsOff's `optimize_latents`): Adam on each latent
of perceptual x weight + pixel MSE, keeping the best latent seen."""

from __future__ import annotations

import torch
from torch import Tensor

from synthlift.generators.image.base import GANGenerator
from synthlift.inversion.base import device_of, frozen, pixel_mse
from synthlift.perceptual.base import PerceptualDistance


def optimize_latents(
    generator: GANGenerator,
    images: Tensor,
    w_init: Tensor,
    perceptual: PerceptualDistance,
    *,
    steps: int,
    lr: float,
    perceptual_weight: float = 10.0,
    mse_weight: float = 1.0,
    batch_size: int = 16,
) -> Tensor:
    """Refine each image's latent by Adam on `perceptual_weight` x perceptual + `mse_weight` x MSE.

    Every image keeps the best w seen under its own loss (the start included), so a step count that
    overshoots can never make an inversion worse than `w_init`. Batches only bound memory: each
    latent's loss and Adam state are its own. Returns w on the generator's device.
    """
    device = device_of(generator)
    perceptual.to(device)
    chunks = []
    with frozen(generator), torch.enable_grad():  # callers often sit in an inference (no_grad) block
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            w = w_init[start : start + batch_size].detach().to(device).clone().requires_grad_(True)
            best_w = w.detach().clone()
            best_loss = torch.full((len(x),), float("inf"), device=device)
            optimizer = torch.optim.Adam([w], lr=lr)
            for step in range(steps + 1):
                x_hat = generator.synthesis(w)
                loss = perceptual_weight * perceptual(x_hat, x) + mse_weight * pixel_mse(x_hat, x)
                improved = loss.detach() < best_loss
                best_loss = torch.where(improved, loss.detach(), best_loss)
                best_w[improved] = w.detach()[improved]
                if step == steps:  # the last update is scored but not followed by another step
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.sum().backward()
                optimizer.step()
            chunks.append(best_w)
    return torch.cat(chunks)
