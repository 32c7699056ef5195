"""The inversion encoder (`inversion=encoder`): image -> w, trained first on generated (G(w), w) pairs with
G frozen, then fine-tuned on real images with a perceptual loss for at most `finetune_steps` steps
(HandsOff / ReStyle); the labeled images' latents are its guesses, optionally refined per image."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.cache import fingerprint, get_or_create
from synthlift.core.checks import check_fields, non_negative, non_negative_int, one_of, positive, positive_int
from synthlift.core.errors import ConfigError
from synthlift.core.progress import stage_progress
from synthlift.data.image.transforms import to_tensor_images
from synthlift.generators.image.base import GANGenerator
from synthlift.inversion.base import device_of, frozen, pixel_mse
from synthlift.inversion.optimize import optimize_latents
from synthlift.perceptual.base import PerceptualDistance

log = logging.getLogger(__name__)

LATENT_SPACES = ("w", "w_plus")


@dataclass(kw_only=True)
class EncoderInversion:
    """The inversion stage's settings and steps. `finetune_steps` is a hard cap (HandsOff's
    `lpips_finetune_steps`) because a few real images are quickly overfitted; `optimize_steps` > 0 turns on
    the per-image latent optimisation (HandsOff's `optimize_latents`). `latent_space` is `w` (one latent per
    image) or `w_plus` (one per synthesis layer, as HandsOff and ReStyle invert: a real image the generator
    cannot reach with one w can often be fitted layer by layer). `seed` fixes the encoder's initial
    weights and its training (the GAN's seed, so one cached encoder serves every job of a sweep)."""

    latent_space: str = "w"
    width: int = 32
    num_downsamples: int = 3
    hidden_dim: int = 256
    pair_steps: int = 500
    pair_batch_size: int = 32
    pair_lr: float = 1e-3
    image_loss_weight: float = 0.0
    finetune_steps: int = 50
    finetune_batch_size: int = 8
    finetune_lr: float = 1e-4
    finetune_mse_weight: float = 1.0
    optimize_steps: int = 0
    optimize_lr: float = 0.02
    optimize_perceptual_weight: float = 10.0
    optimize_mse_weight: float = 1.0
    eval_batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "width": positive_int,
            "num_downsamples": non_negative_int,
            "hidden_dim": positive_int,
            "pair_steps": positive_int,
            "pair_batch_size": positive_int,
            "pair_lr": positive,
            "image_loss_weight": non_negative,
            "finetune_steps": non_negative_int,
            "finetune_batch_size": positive_int,
            "finetune_lr": positive,
            "finetune_mse_weight": non_negative,
            "optimize_steps": non_negative_int,
            "optimize_lr": positive,
            "optimize_perceptual_weight": non_negative,
            "optimize_mse_weight": non_negative,
            "eval_batch_size": positive_int,
            "seed": non_negative_int,
        }
        check_fields(self, checks)
        self.latent_space = one_of("latent_space", self.latent_space, LATENT_SPACES)

    def latents_per_image(self, generator: GANGenerator) -> int:
        """How many w the encoder predicts per image: 1 in W, the generator's `num_ws` in W+."""
        if self.latent_space == "w":
            return 1
        if generator.num_ws < 2:
            raise ConfigError(
                f"inversion.latent_space=w_plus needs a generator whose synthesis takes one w per layer, but "
                f"{type(generator).__name__} has a single w (num_ws={generator.num_ws}); use inversion.latent_space=w"
            )
        return generator.num_ws

    def trained_encoder(
        self,
        generator: GANGenerator,
        perceptual: PerceptualDistance,
        unlabeled: np.ndarray,
        *,
        cache_dir: str | Path,
        key: Mapping[str, Any],
    ) -> InversionEncoder:
        """Pairs first, then the capped perceptual fine-tune on the real `unlabeled` images (uint8); cached
        per `key` (the GAN and the perceptual distance) and the encoder's own settings. On the generator's
        device, in eval mode."""
        settings = {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith(("optimize_", "eval_"))}
        entry = Path(cache_dir) / "encoders" / f"{fingerprint('inversion-encoder-v2', dict(key), settings)}.pt"

        def build() -> InversionEncoder:
            return InversionEncoder(
                generator.mean_w(), self.width, self.num_downsamples, self.hidden_dim, self.latents_per_image(generator)
            )

        def create(tmp: Path) -> None:
            with torch.random.fork_rng(devices=[]):  # initial weights set by the seed, whatever ran before
                torch.manual_seed(self.seed)
                encoder = build()
            train_encoder_on_pairs(
                encoder,
                generator,
                steps=self.pair_steps,
                batch_size=self.pair_batch_size,
                lr=self.pair_lr,
                seed=self.seed,
                image_loss_weight=self.image_loss_weight,
            )
            finetune_encoder_perceptual(
                encoder,
                generator,
                to_tensor_images(unlabeled),
                perceptual,
                steps=self.finetune_steps,
                batch_size=self.finetune_batch_size,
                lr=self.finetune_lr,
                seed=self.seed,
                mse_weight=self.finetune_mse_weight,
            )
            with open(tmp, "wb") as handle:
                torch.save(encoder.state_dict(), handle)

        path, created = get_or_create(entry, create)
        log.info("%s inversion encoder %s", "Trained" if created else "Reusing cached", path.name)
        encoder = build()
        encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return encoder.to(device_of(generator)).eval()

    def latents(
        self, encoder: InversionEncoder, generator: GANGenerator, perceptual: PerceptualDistance, images: Tensor
    ) -> Tensor:
        """w of each image: the encoder's guess, refined per image when `optimize_steps` > 0."""
        latents = invert(encoder, images, self.eval_batch_size)
        if self.optimize_steps > 0:
            latents = optimize_latents(
                generator,
                images,
                latents,
                perceptual,
                steps=self.optimize_steps,
                lr=self.optimize_lr,
                perceptual_weight=self.optimize_perceptual_weight,
                mse_weight=self.optimize_mse_weight,
            )
        return latents.detach()

    def quality(
        self, encoder: InversionEncoder, generator: GANGenerator, perceptual: PerceptualDistance, images: Tensor
    ) -> dict[str, float]:
        """`inversion_mse` and `inversion_perceptual` of the encoder on `images` (held-out real images)."""
        return reconstruction_quality(encoder, generator, images, perceptual, self.eval_batch_size)


class InversionEncoder(nn.Module):
    """Image (N, 3, R, R) -> w (N, w_dim), or with `num_ws` > 1 one w per synthesis layer (N, num_ws, w_dim),
    as a residual on the generator's mean latent.

    The residual head starts at zero, so an untrained encoder already answers the mean w (the usual
    inversion start) instead of a random latent far off the generator's distribution. Adaptive pooling
    to 4x4 keeps coarse layout at any resolution.
    """

    def __init__(
        self, w_avg: Tensor, width: int = 32, num_downsamples: int = 3, hidden_dim: int = 256, num_ws: int = 1
    ) -> None:
        super().__init__()
        self.num_ws = positive_int("num_ws", num_ws)
        w_avg = w_avg.detach().reshape(1, -1)
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2)]
        channels = width
        for _ in range(num_downsamples):
            out = min(channels * 2, 8 * width)
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten()]
        self.body = nn.Sequential(*layers, nn.Linear(channels * 16, hidden_dim), nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden_dim, num_ws * w_avg.shape[1])
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("w_avg", w_avg.clone())

    def forward(self, images: Tensor) -> Tensor:
        offset = self.head(self.body(images))
        if self.num_ws == 1:
            return self.w_avg + offset
        return self.w_avg.unsqueeze(1) + offset.view(len(images), self.num_ws, -1)


def _train_encoder(
    encoder: InversionEncoder,
    generator: GANGenerator,
    steps: int,
    lr: float,
    loss: Callable[[], Tensor],
    description: str,
) -> list[float]:
    """Adam on the encoder for `steps` steps of `loss()` with G frozen; returns the loss per step."""
    encoder.to(device_of(generator)).train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    history = []
    with frozen(generator), stage_progress(description, steps) as advance:
        for _ in range(steps):
            value = loss()
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            history.append(value.item())
            advance(1)
    encoder.eval()
    return history


def train_encoder_on_pairs(
    encoder: InversionEncoder,
    generator: GANGenerator,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    image_loss_weight: float = 0.0,
) -> list[float]:
    """Regress w from G(w) on fresh samples every step; returns the loss per step.

    A W+ encoder learns to answer the sample's w at every layer: samples have one w, and the real-image
    fine-tune and the latent optimisation are what use the per-layer freedom. The latent loss alone is
    cheap (no backward through G); `image_loss_weight` adds the pixel error of re-synthesising the
    predicted w, which targets what inversion is for at the cost of that backward.
    """
    device = device_of(generator)
    torch.manual_seed(seed)

    def loss() -> Tensor:
        with torch.no_grad():
            w = generator.mapping(torch.randn(batch_size, generator.z_dim, device=device))
            x = generator.synthesis(w)
        w_hat = encoder(x)
        value = F.mse_loss(w_hat, w if w_hat.dim() == 2 else w.unsqueeze(1).expand_as(w_hat))
        if image_loss_weight > 0:
            value = value + image_loss_weight * F.mse_loss(generator.synthesis(w_hat), x)
        return value

    return _train_encoder(encoder, generator, steps, lr, loss, "inversion encoder on generated pairs")


def finetune_encoder_perceptual(
    encoder: InversionEncoder,
    generator: GANGenerator,
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
    device = device_of(generator)
    perceptual.to(device)
    rng = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(real_images))

    def loss() -> Tensor:
        x = real_images[torch.randperm(len(real_images), generator=rng)[:batch_size]].to(device)
        x_hat = generator.synthesis(encoder(x))
        return perceptual(x_hat, x).mean() + mse_weight * F.mse_loss(x_hat, x)

    return _train_encoder(encoder, generator, steps, lr, loss, "inversion encoder on real images")


@torch.no_grad()
def invert(encoder: InversionEncoder, images: Tensor, batch_size: int) -> Tensor:
    """Encoder latents for `images`, in batches; on the encoder's device."""
    encoder.eval()
    device = device_of(encoder)
    return torch.cat([encoder(images[i : i + batch_size].to(device)) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def reconstruction_quality(
    encoder: InversionEncoder,
    generator: GANGenerator,
    images: Tensor,
    perceptual: PerceptualDistance,
    batch_size: int,
) -> dict[str, float]:
    """Mean pixel MSE and perceptual distance of G(encoder(x)) to x, e.g. on held-out real images."""
    device = device_of(generator)
    perceptual.to(device)
    encoder.to(device)
    mse_sum = perceptual_sum = 0.0
    with frozen(generator):
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            x_hat = generator.synthesis(invert(encoder, x, batch_size))
            mse_sum += pixel_mse(x_hat, x).sum().item()
            perceptual_sum += perceptual(x_hat, x).sum().item()
    return {"inversion_mse": mse_sum / len(images), "inversion_perceptual": perceptual_sum / len(images)}
