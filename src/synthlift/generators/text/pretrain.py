"""Fitting the conditional GAN with Lightning, and its cached tweet-pretraining stage (Gupta's second trick)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning import Callback, seed_everything
from pytorch_lightning.loggers import Logger
from torch.utils.data import DataLoader, TensorDataset

from synthlift.core.cache import fingerprint, get_or_create
from synthlift.core.progress import LightningProgress
from synthlift.core.trainer import make_trainer
from synthlift.generators.text.cgan_module import ConditionalEmbeddingGAN
from synthlift.generators.text.gupta_tricks import TrickSettings
from synthlift.generators.text.numeric import seeded

log = logging.getLogger(__name__)


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
    description: str = "cGAN",
) -> ConditionalEmbeddingGAN:
    """Fit on `(x, y)`; batches carry example indices for the per-example instance noise. Batches are whole
    (a packed discriminator cuts them into packs), so fewer examples than `batch_size` make one smaller batch."""
    seed_everything(seed, workers=True, verbose=False)
    data = TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long), torch.arange(len(y)))
    batch_size = min(batch_size, len(y))
    batch_size -= batch_size % gan.discriminator.pack
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    progress = LightningProgress(f"{description} steps", max_epochs * len(loader))
    make_trainer(trainer_cfg, max_epochs, loggers, [*callbacks, progress]).fit(gan, loader)
    return gan.cpu()


def pretrained_checkpoint(
    *,
    cache_dir: str | Path,
    key_parts: Mapping[str, Any],
    load_corpus: Callable[[], tuple[np.ndarray, np.ndarray]],
    build: Callable[[int, int, TrickSettings], ConditionalEmbeddingGAN],
    batch_size: int,
    tricks: TrickSettings,
    trainer_cfg: Mapping[str, Any],
) -> tuple[Path, bool]:
    """Pretrain the GAN on the large corpus once per configuration and cache its weights.

    `key_parts` cover the corpus, the embedder and the network settings, so every job of a sweep that
    shares them reuses one checkpoint; `build(embedding_dim, num_real, tricks)` makes the network.
    Returns `(path, created)`.
    """
    pretrain_tricks = tricks.for_pretraining()
    key = fingerprint("text-cgan-pretrain-v4", dict(key_parts), batch_size, pretrain_tricks.__dict__)

    def create(tmp: Path) -> None:
        x, y = load_corpus()
        log.info("Pretraining the GAN on %d corpus examples for %d epochs", len(y), tricks.pretrain_epochs)
        with seeded(tricks.pretrain_seed):  # initial weights set by the seed, whatever ran before
            gan = build(x.shape[1], len(y), pretrain_tricks)
        fit_gan(
            gan,
            x,
            y,
            batch_size=batch_size,
            max_epochs=tricks.pretrain_epochs,
            trainer_cfg=trainer_cfg,
            seed=tricks.pretrain_seed,
            description="cGAN pretraining",
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
