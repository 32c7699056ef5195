"""`gan=image/*`: an unconditional image GAN, StyleGAN2-style training (non-saturating logistic loss, lazy R1,
generator EMA) with DiffAugment so that a few thousand small images are enough, and a cached training stage
so every job of a sweep that shares data and config reuses one generator.

The generator and discriminator are their own components (`generator:` / `discriminator:` nodes of the yaml,
each a `_target_` with `_partial_: true`): the GAN seeds first and then builds them, generator first, so a
seed gives the same initial weights whatever else the run has built before.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule, seed_everything
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from synthlift.core.cache import fingerprint, get_or_create
from synthlift.core.checks import non_negative, non_negative_int, positive, positive_int, probability
from synthlift.core.errors import DataError, InvalidArgument
from synthlift.core.progress import LightningProgress
from synthlift.core.trainer import make_trainer
from synthlift.generators.divergence import check_loss, check_sample_scale
from synthlift.generators.image.base import GANGenerator
from synthlift.generators.image.diffaugment import diff_augment, parse_policy
from synthlift.generators.image.discriminator import Discriminator

log = logging.getLogger(__name__)

_NETWORKS = ("generator", "generator_ema", "discriminator")
_ADVICE = "Lower gan.lr, or turn on gan.r1_gamma or gan.diffaugment."


class ImageGAN(LightningModule):
    """G and D trained by hand, one D step then one G step per batch of real images (N, 3, R, R), for
    `max_steps` batches of `batch_size`.

    `generator_ema` is an exponential moving average of G's weights, always in eval mode: it gives
    visibly better samples than the raw G and is the generator that sampling, inversion and labeling use.
    `seed` fixes the initial weights and the training; it is the GAN's own (not the run's), so every job
    of a sweep reuses one cached generator.
    """

    def __init__(
        self,
        generator: Callable[[], GANGenerator],
        discriminator: Callable[[], Discriminator],
        *,
        lr: float = 2e-3,
        beta1: float = 0.0,
        beta2: float = 0.99,
        diffaugment: str = "color,translation,cutout",
        r1_gamma: float = 0.0,
        r1_every: int = 16,
        ema_decay: float = 0.999,
        batch_size: int = 32,
        max_steps: int = 1500,
        seed: int = 0,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.lr, self.betas = positive("lr", lr), (probability("beta1", beta1), probability("beta2", beta2))
        parse_policy(diffaugment)  # an unknown augmentation fails here, not at the first batch
        self.diffaugment = diffaugment
        self.r1_gamma, self.r1_every = non_negative("r1_gamma", r1_gamma), positive_int("r1_every", r1_every)
        self.ema_decay = probability("ema_decay", ema_decay)
        self.batch_size, self.max_steps = positive_int("batch_size", batch_size), positive_int("max_steps", max_steps)
        self.seed = non_negative_int("seed", seed)
        seed_everything(self.seed, workers=True, verbose=False)
        self.generator = _build("generator", generator)
        self.discriminator = _build("discriminator", discriminator)
        self.generator_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
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
        self._check_loss("discriminator", d_total)
        d_opt.zero_grad()
        self.manual_backward(d_total)
        d_opt.step()

        self.toggle_optimizer(g_opt)  # D's weight gradients are not needed for the G step
        g_loss = F.softplus(-self.discriminator(self.augment(fake))).mean()
        self._check_loss("generator", g_loss)
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

    def _check_loss(self, which: str, loss: Tensor) -> None:
        check_loss(loss, which, f"step {self.iterations}", _ADVICE)

    def fit(self, images: Tensor, trainer_cfg: Mapping[str, Any]) -> ImageGAN:
        """Train for exactly `max_steps` batches of `images` (N, 3, R, R) in [-1, 1]; returns the GAN on the CPU.

        One epoch whose sampler walks through as many shuffled passes over the data as `max_steps` needs:
        GAN length is counted in steps, and Lightning's own step counter counts both optimisers.
        """
        resolution = self.generator.resolution
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, resolution, resolution):
            raise DataError(f"expected images shaped (N, 3, {resolution}, {resolution}), got {tuple(images.shape)}")
        seed_everything(self.seed, workers=True, verbose=False)
        data = TensorDataset(images.float())
        batch_size = min(self.batch_size, len(images))
        sampler = RandomSampler(
            data, num_samples=self.max_steps * batch_size, generator=torch.Generator().manual_seed(self.seed)
        )
        loader = DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=True)
        progress = LightningProgress("GAN steps", self.max_steps)
        make_trainer(trainer_cfg, 1, callbacks=[progress]).fit(self, loader)
        return self.cpu()

    def fit_cached(
        self, *, cache_dir: str | Path, key: Mapping[str, Any], images_fn: Callable[[], Tensor], trainer_cfg: Mapping
    ) -> tuple[Path, bool]:
        """Train once per `key` and cache the weights; when the entry exists, load it instead.

        `key` must identify everything the result depends on: the training images and this GAN's whole
        config (the pipeline passes a hash of the pool and the resolved `gan` node). `images_fn` is only
        called on a cache miss, so a hit never loads the data. The trainer config is not part of the key:
        CPU and GPU runs of the same configuration share the entry. Returns `(path, created)`.
        """

        def create(tmp: Path) -> None:
            images = images_fn()
            log.info("Training the image GAN on %d images for %s steps", len(images), self.max_steps)
            self.fit(images, trainer_cfg)
            with open(tmp, "wb") as handle:
                torch.save({name: getattr(self, name).state_dict() for name in _NETWORKS}, handle)

        path, created = get_or_create(Path(cache_dir) / "image_gans" / f"{fingerprint('image-gan-v2', key)}.pt", create)
        if not created:
            state = torch.load(path, map_location="cpu", weights_only=True)
            for name in _NETWORKS:
                getattr(self, name).load_state_dict(state[name])
        return path, created

    @torch.no_grad()
    def check_samples(self, real: Tensor, n: int = 64) -> None:
        """Raise GANDivergedError if the EMA generator's samples (unclamped) are not finite or far outside the
        range of the `real` images: a GAN can blow up without a single NaN loss."""
        generator = self.generator_ema
        check_sample_scale(generator.synthesis(generator.random_latents(n, self.seed)), real, _ADVICE)

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


def _build(network: str, factory: Callable[[], nn.Module]) -> nn.Module:
    """Call a network's partial, putting its key in front of a bad argument (`gan.generator.z_dim=0 ...`)."""
    try:
        return factory()
    except InvalidArgument as error:
        raise InvalidArgument(f"{network}.{error.argument}", error.value, error.expected) from error
