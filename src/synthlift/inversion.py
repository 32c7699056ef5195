"""GAN inversion for the HandsOff image track: real image -> latent w whose synthesis reproduces it.

HandsOff inverts its few labelled real images with a ReStyle encoder and then refines each latent by
optimisation (10 x LPIPS + MSE, capped steps, keeping the best). Here a small encoder is first trained
on the generator's own (image, w) pairs, which are free and unlimited, optionally fine-tuned on the
real images with a perceptual loss, and `optimize_latents` does the per-image refinement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.gan.image_base import ImageGenerator
from synthlift.perceptual import PerceptualDistance


class InversionEncoder(nn.Module):
    """Image (N, 3, R, R) -> w (N, w_dim) as a residual on the generator's mean latent.

    The residual head starts at zero, so an untrained encoder already answers the mean w (the usual
    inversion start) instead of a random latent far off the generator's distribution. Adaptive pooling
    to 4x4 keeps coarse layout at any resolution.
    """

    def __init__(self, w_avg: Tensor, width: int = 32, num_downsamples: int = 3, hidden_dim: int = 256) -> None:
        super().__init__()
        w_avg = w_avg.detach().reshape(1, -1)
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2)]
        channels = width
        for _ in range(num_downsamples):
            out = min(channels * 2, 8 * width)
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten()]
        self.body = nn.Sequential(*layers, nn.Linear(channels * 16, hidden_dim), nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden_dim, w_avg.shape[1])
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("w_avg", w_avg.clone())

    def forward(self, images: Tensor) -> Tensor:
        return self.w_avg + self.head(self.body(images))


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[nn.Module]:
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


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _pixel_mse(x_hat: Tensor, x: Tensor) -> Tensor:
    """Per-image (N,) mean squared error."""
    return (x_hat - x).pow(2).flatten(1).mean(1)


def _train_encoder(
    encoder: InversionEncoder, generator: ImageGenerator, steps: int, lr: float, loss: Callable[[], Tensor]
) -> list[float]:
    """Adam on the encoder for `steps` steps of `loss()` with G frozen; returns the loss per step."""
    encoder.to(_device(generator)).train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    history = []
    with _frozen(generator):
        for _ in range(steps):
            value = loss()
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            history.append(value.item())
    encoder.eval()
    return history


def train_encoder_on_pairs(
    encoder: InversionEncoder,
    generator: ImageGenerator,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    image_loss_weight: float = 0.0,
) -> list[float]:
    """Regress w from G(w) on fresh samples every step; returns the loss per step.

    The latent loss alone is cheap (no backward through G); `image_loss_weight` adds the pixel error of
    re-synthesising the predicted w, which targets what inversion is for at the cost of that backward.
    """
    device = _device(generator)
    torch.manual_seed(seed)

    def loss() -> Tensor:
        with torch.no_grad():
            w = generator.mapping(torch.randn(batch_size, generator.z_dim, device=device))
            x = generator.synthesis(w)
        w_hat = encoder(x)
        value = F.mse_loss(w_hat, w)
        if image_loss_weight > 0:
            value = value + image_loss_weight * F.mse_loss(generator.synthesis(w_hat), x)
        return value

    return _train_encoder(encoder, generator, steps, lr, loss)


def finetune_encoder_perceptual(
    encoder: InversionEncoder,
    generator: ImageGenerator,
    real_images: Tensor,
    perceptual: PerceptualDistance,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    mse_weight: float = 1.0,
) -> list[float]:
    """Adapt the encoder to real images, whose statistics differ from G's samples.

    Loss = perceptual + `mse_weight` x pixel MSE of the reconstruction. `steps` is a hard cap (HandsOff's
    `lpips_finetune_steps`) because a few real images are quickly overfitted; 0 leaves the encoder as is.
    """
    if steps <= 0:
        return []
    device = _device(generator)
    perceptual.to(device)
    rng = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(real_images))

    def loss() -> Tensor:
        x = real_images[torch.randperm(len(real_images), generator=rng)[:batch_size]].to(device)
        x_hat = generator.synthesis(encoder(x))
        return perceptual(x_hat, x).mean() + mse_weight * F.mse_loss(x_hat, x)

    return _train_encoder(encoder, generator, steps, lr, loss)


def optimize_latents(
    generator: ImageGenerator,
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
    device = _device(generator)
    perceptual.to(device)
    chunks = []
    with _frozen(generator), torch.enable_grad():  # callers often sit in an inference (no_grad) block
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            w = w_init[start : start + batch_size].detach().to(device).clone().requires_grad_(True)
            best_w = w.detach().clone()
            best_loss = torch.full((len(x),), float("inf"), device=device)
            optimizer = torch.optim.Adam([w], lr=lr)
            for step in range(steps + 1):
                x_hat = generator.synthesis(w)
                loss = perceptual_weight * perceptual(x_hat, x) + mse_weight * _pixel_mse(x_hat, x)
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


@torch.no_grad()
def invert(encoder: InversionEncoder, images: Tensor, batch_size: int) -> Tensor:
    """Encoder latents for `images`, in batches; on the encoder's device."""
    encoder.eval()
    device = _device(encoder)
    return torch.cat([encoder(images[i : i + batch_size].to(device)) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def reconstruction_quality(
    encoder: InversionEncoder,
    generator: ImageGenerator,
    images: Tensor,
    perceptual: PerceptualDistance,
    batch_size: int,
) -> dict[str, float]:
    """Mean pixel MSE and perceptual distance of G(encoder(x)) to x, e.g. on held-out real images."""
    device = _device(generator)
    perceptual.to(device)
    encoder.to(device)
    mse_sum = perceptual_sum = 0.0
    with _frozen(generator):
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            x_hat = generator.synthesis(invert(encoder, x, batch_size))
            mse_sum += _pixel_mse(x_hat, x).sum().item()
            perceptual_sum += perceptual(x_hat, x).sum().item()
    return {"inversion_mse": mse_sum / len(images), "inversion_perceptual": perceptual_sum / len(images)}
