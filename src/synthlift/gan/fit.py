"""Building and fitting the text GAN, and the cached tweet-pretraining stage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning import Callback, seed_everything
from pytorch_lightning.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from synthlift.cache import fingerprint, get_or_create
from synthlift.gan.text_cgan import ConditionalEmbeddingGAN
from synthlift.gan.tricks import TrickSettings
from synthlift.trainer import make_trainer

log = logging.getLogger(__name__)

NETWORK_KEYS = (
    "latent_dim",
    "hidden_dim",
    "num_layers",
    "dropout",
    "lr_generator",
    "lr_discriminator",
    "beta1",
    "beta2",
)


def build_gan(
    gan_cfg: Mapping[str, Any],
    tricks: TrickSettings,
    embedding_dim: int,
    num_classes: int,
    num_real: int,
    teacher: nn.Module | None = None,
) -> ConditionalEmbeddingGAN:
    return ConditionalEmbeddingGAN(
        embedding_dim, num_classes, num_real, tricks, teacher, **{k: gan_cfg[k] for k in NETWORK_KEYS}
    )


def fit_gan(
    gan: ConditionalEmbeddingGAN,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    max_epochs: int,
    trainer_cfg: Mapping[str, Any],
    seed: int,
    loggers: Sequence[Logger] = (),
    callbacks: Sequence[Callback] = (),
) -> ConditionalEmbeddingGAN:
    """Fit on `(x, y)`; batches carry example indices for the per-example instance noise."""
    seed_everything(seed, workers=True, verbose=False)
    data = TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long), torch.arange(len(y)))
    loader = DataLoader(data, batch_size=min(batch_size, len(y)), shuffle=True, drop_last=True)
    make_trainer(trainer_cfg, max_epochs, loggers, callbacks).fit(gan, loader)
    return gan.cpu()


def pretrained_gan_path(
    *,
    cache_dir: str | Path,
    key_parts: Mapping[str, Any],
    load_corpus: Callable[[], tuple[np.ndarray, np.ndarray]],
    gan_cfg: Mapping[str, Any],
    tricks: TrickSettings,
    num_classes: int,
    trainer_cfg: Mapping[str, Any],
) -> tuple[Path, bool]:
    """Pretrain the GAN on the large corpus once per configuration and cache its weights.

    The key covers the corpus, the embedder and every setting that shapes the pretrained weights, so
    every job of a sweep that shares them reuses one checkpoint. Classifier consistency and generator
    selection are off here: both need the scarce target data, which pretraining must not see.
    Returns `(path, created)`.
    """
    pretrain_tricks = replace(tricks, consistency_weight=0.0, early_stopping=False)
    key = fingerprint("text-cgan-pretrain-v1", dict(key_parts), dict(gan_cfg), pretrain_tricks.__dict__)

    def create(tmp: Path) -> None:
        x, y = load_corpus()
        log.info("Pretraining the GAN on %d corpus examples for %d epochs", len(y), tricks.pretrain_epochs)
        with torch.random.fork_rng(devices=[]):  # initial weights set by the seed, whatever ran before
            torch.manual_seed(tricks.pretrain_seed)
            gan = build_gan(gan_cfg, pretrain_tricks, x.shape[1], num_classes, len(y))
        fit_gan(
            gan,
            x,
            y,
            batch_size=int(gan_cfg["batch_size"]),
            max_epochs=tricks.pretrain_epochs,
            trainer_cfg=trainer_cfg,
            seed=tricks.pretrain_seed,
        )
        with open(tmp, "wb") as handle:
            torch.save(
                {"generator": gan.generator.state_dict(), "discriminator": gan.discriminator.state_dict()},
                handle,
            )

    return get_or_create(Path(cache_dir) / "pretrained" / f"{key}.pt", create)


def load_pretrained(gan: ConditionalEmbeddingGAN, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    gan.generator.load_state_dict(state["generator"])
    gan.discriminator.load_state_dict(state["discriminator"])
