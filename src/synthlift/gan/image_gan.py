"""Unconditional image GAN of the HandsOff track: StyleGAN2-style training (non-saturating logistic loss,
lazy R1, generator EMA) with DiffAugment so that a few thousand small images are enough, and a cached
training stage so every job of a sweep that shares data and config reuses one generator."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning import Callback, LightningModule, seed_everything
from pytorch_lightning.loggers import Logger
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from synthlift.cache import fingerprint, get_or_create
from synthlift.errors import DataError
from synthlift.gan.diffaugment import diff_augment, parse_policy
from synthlift.gan.divergence import check_finite
from synthlift.gan.image_base import ImageGenerator
from synthlift.gan.image_generators import Discriminator, build_discriminator, build_image_generator
from synthlift.trainer import make_trainer

log = logging.getLogger(__name__)

TRAINING_KEYS = ("lr", "beta1", "beta2", "diffaugment", "r1_gamma", "r1_every", "ema_decay")


class ImageGAN(LightningModule):
    """G and D trained by hand, one D step then one G step per batch of real images (N, 3, R, R).

    `generator_ema` is an exponential moving average of G's weights, always in eval mode: it gives
    visibly better samples than the raw G and is the generator that sampling, inversion and labeling use.
    """

    def __init__(
        self,
        generator: ImageGenerator,
        discriminator: Discriminator,
        *,
        lr: float = 2e-3,
        beta1: float = 0.0,
        beta2: float = 0.99,
        diffaugment: str = "color,translation,cutout",
        r1_gamma: float = 0.0,
        r1_every: int = 16,
        ema_decay: float = 0.999,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.generator_ema = copy.deepcopy(generator).eval().requires_grad_(False)
        self.lr, self.betas = lr, (beta1, beta2)
        parse_policy(diffaugment)  # an unknown augmentation fails here, not at the first batch
        self.diffaugment = diffaugment
        self.r1_gamma, self.r1_every = r1_gamma, r1_every
        self.ema_decay = ema_decay
        self.iterations = 0

    def train(self, mode: bool = True) -> ImageGAN:
        """Lightning switches the whole module to train mode; the EMA copy must stay in eval mode."""
        super().train(mode)
        self.generator_ema.eval()
        return self

    def configure_optimizers(self):
        return (
            torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=self.betas),
        )

    def augment(self, images: Tensor) -> Tensor:
        return diff_augment(images, self.diffaugment) if self.diffaugment else images

    def training_step(self, batch: Tensor | Sequence[Tensor], batch_idx: int) -> None:
        real = batch if isinstance(batch, Tensor) else batch[0]
        g_opt, d_opt = self.optimizers()
        fake = self.generator(torch.randn(len(real), self.generator.z_dim, device=self.device))

        # Lazy R1 (StyleGAN2): penalise D's gradient on reals every `r1_every` steps, scaled up to match.
        do_r1 = self.r1_gamma > 0 and self.iterations % self.r1_every == 0
        real = real.detach().requires_grad_(do_r1)
        real_logits = self.discriminator(self.augment(real))
        fake_logits = self.discriminator(self.augment(fake.detach()))
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        d_total = d_loss
        if do_r1:
            r1 = r1_penalty(real, real_logits)
            d_total = d_loss + r1 * (self.r1_gamma / 2 * self.r1_every)
            self.log("train/r1", r1, on_step=True, on_epoch=False)
        self._check_finite("discriminator", d_total)
        d_opt.zero_grad()
        self.manual_backward(d_total)
        d_opt.step()

        self.toggle_optimizer(g_opt)  # D's weight gradients are not needed for the G step
        g_loss = F.softplus(-self.discriminator(self.augment(fake))).mean()
        self._check_finite("generator", g_loss)
        g_opt.zero_grad()
        self.manual_backward(g_loss)
        g_opt.step()
        self.untoggle_optimizer(g_opt)

        self.update_ema()
        self.iterations += 1
        self.log("train/d_loss", d_loss, on_step=True, on_epoch=False)
        self.log("train/g_loss", g_loss, on_step=True, on_epoch=False)

    @torch.no_grad()
    def update_ema(self) -> None:
        """Decay ramps up as (1 + t) / (10 + t) to `ema_decay`, so short runs are not dominated by the
        random initial weights; buffers (BatchNorm statistics) are copied as they are."""
        decay = min(self.ema_decay, (1 + self.iterations) / (10 + self.iterations))
        for ema, live in zip(self.generator_ema.parameters(), self.generator.parameters(), strict=True):
            ema.lerp_(live, 1 - decay)
        for ema, live in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            ema.copy_(live)

    def _check_finite(self, which: str, loss: Tensor) -> None:
        check_finite(
            loss, which, f"step {self.iterations}", "Lower gan.lr, or turn on gan.r1_gamma or gan.diffaugment."
        )

    @torch.no_grad()
    def sample(self, n: int, seed: int, batch_size: int = 256) -> Tensor:
        """`n` images from the EMA generator, clamped to [-1, 1], on the CPU; reproducible by `seed`."""
        z = torch.randn(n, self.generator_ema.z_dim, generator=torch.Generator().manual_seed(seed))
        chunks = [self.generator_ema(chunk.to(self.device)).clamp(-1, 1).cpu() for chunk in z.split(batch_size)]
        return torch.cat(chunks)


def r1_penalty(real: Tensor, real_logits: Tensor) -> Tensor:
    """Mean squared norm of dD/dx on reals (Mescheder et al. 2018): keeps D smooth on the data."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


def build_image_gan(gan_cfg: Mapping[str, Any]) -> ImageGAN:
    """Generator, discriminator and training settings from one config mapping; absent keys take defaults."""
    return ImageGAN(
        build_image_generator(gan_cfg),
        build_discriminator(gan_cfg),
        **{key: gan_cfg[key] for key in TRAINING_KEYS if key in gan_cfg},
    )


def fit_image_gan(
    gan: ImageGAN,
    images: Tensor,
    *,
    batch_size: int,
    max_steps: int,
    trainer_cfg: Mapping[str, Any],
    seed: int,
    loggers: Sequence[Logger] = (),
    callbacks: Sequence[Callback] = (),
) -> ImageGAN:
    """Train for exactly `max_steps` batches of `images` (N, 3, R, R) in [-1, 1].

    One epoch whose sampler walks through as many shuffled passes over the data as `max_steps` needs:
    GAN length is counted in steps, and Lightning's own step counter counts both optimisers.
    """
    resolution = gan.generator.resolution
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, resolution, resolution):
        raise DataError(f"expected images shaped (N, 3, {resolution}, {resolution}), got {tuple(images.shape)}")
    seed_everything(seed, workers=True, verbose=False)
    data = TensorDataset(images.float())
    batch_size = min(batch_size, len(images))
    sampler = RandomSampler(data, num_samples=max_steps * batch_size, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=True)
    make_trainer(trainer_cfg, 1, loggers, callbacks).fit(gan, loader)
    return gan.cpu()


def trained_image_gan_path(
    *,
    cache_dir: str | Path,
    key_parts: Mapping[str, Any],
    images_fn: Callable[[], Tensor],
    gan_cfg: Mapping[str, Any],
    trainer_cfg: Mapping[str, Any],
    seed: int,
) -> tuple[Path, bool]:
    """Train the GAN once per data (`key_parts`), config and seed, and cache its weights.

    `images_fn` is only called on a cache miss, so a hit never loads the data. The trainer config is
    not part of the key: CPU and GPU runs of the same configuration share the entry.
    Returns `(path, created)`.
    """
    key = fingerprint("image-gan-v1", dict(key_parts), dict(gan_cfg), seed)

    def create(tmp: Path) -> None:
        images = images_fn()
        log.info("Training the image GAN on %d images for %s steps", len(images), gan_cfg["max_steps"])
        seed_everything(seed, workers=True, verbose=False)
        gan = build_image_gan(gan_cfg)
        fit_image_gan(
            gan,
            images,
            batch_size=int(gan_cfg["batch_size"]),
            max_steps=int(gan_cfg["max_steps"]),
            trainer_cfg=trainer_cfg,
            seed=seed,
        )
        state = {
            "generator_ema": gan.generator_ema.state_dict(),
            "generator": gan.generator.state_dict(),
            "discriminator": gan.discriminator.state_dict(),
            "config": dict(gan_cfg),
        }
        with open(tmp, "wb") as handle:
            torch.save(state, handle)

    return get_or_create(Path(cache_dir) / "image_gans" / f"{key}.pt", create)


def load_image_gan(path: str | Path, gan_cfg: Mapping[str, Any] | None = None) -> ImageGAN:
    """The GAN cached at `path`, built from `gan_cfg` or, when None, from the config stored with it."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    gan = build_image_gan(state["config"] if gan_cfg is None else gan_cfg)
    for name in ("generator", "generator_ema", "discriminator"):
        getattr(gan, name).load_state_dict(state[name])
    return gan
