"""Fitting the conditional GAN with Lightning, and its cached tweet-pretraining stage (Gupta's second trick)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning import Callback, seed_everything
from pytorch_lightning.loggers import Logger
from torch import Tensor

from synthlift.core.cache import fingerprint, get_or_create
from synthlift.core.progress import LightningProgress
from synthlift.core.trainer import make_trainer
from synthlift.generators.text.cgan_module import ConditionalEmbeddingGAN
from synthlift.generators.text.gupta_tricks import TrickSettings
from synthlift.generators.text.numeric import seeded

log = logging.getLogger(__name__)


class ShuffledEpochs:
    """The training data as Lightning sees it: one item per epoch, that epoch's minibatches (a fresh shuffle
    each epoch, whole batches only). The GAN loops over them inside one training step, so Lightning's
    per-step overhead (hooks, batch transfer, logging) is paid once per epoch instead of once per minibatch."""

    def __init__(self, tensors: tuple[Tensor, ...], batch_size: int):
        self.tensors = tensors
        self.batch_size = batch_size
        self.batches_per_epoch = len(tensors[0]) // batch_size

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[list[tuple[Tensor, ...]]]:
        order = torch.randperm(len(self.tensors[0]))  # the global RNG, seeded by fit_gan
        chosen = order[: self.batches_per_epoch * self.batch_size].split(self.batch_size)
        yield [tuple(tensor[rows] for tensor in self.tensors) for rows in chosen]


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
    tensors = (torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long), torch.arange(len(y)))
    batch_size = min(batch_size, len(y))
    batch_size -= batch_size % gan.discriminator.pack
    progress = LightningProgress(f"{description} epochs", max_epochs)
    make_trainer(trainer_cfg, max_epochs, loggers, [*callbacks, progress]).fit(gan, ShuffledEpochs(tensors, batch_size))
    return gan.cpu()


def pretrained_checkpoint(
    *,
    cache_dir: str | Path,
    key_parts: Mapping[str, Any],
    load_corpus: Callable[[], tuple[np.ndarray, np.ndarray]],
    build: Callable[[int, int, TrickSettings], ConditionalEmbeddingGAN],
    tricks: TrickSettings,
    trainer_cfg: Mapping[str, Any],
) -> tuple[Path, bool]:
    """Pretrain the GAN on the large corpus once per configuration and cache its weights.

    `key_parts` cover the corpus, the embedder and the network settings, so every job of a sweep that
    shares them reuses one checkpoint; `build(embedding_dim, num_real, tricks)` makes the network.
    Returns `(path, created)`.
    """
    pretrain_tricks = tricks.for_pretraining()
    key = fingerprint("text-cgan-pretrain-v5", dict(key_parts), pretrain_tricks.__dict__)

    def create(tmp: Path) -> None:
        x, y = load_corpus()
        log.info("Pretraining the GAN on %d corpus examples for %d epochs", len(y), tricks.pretrain_epochs)
        with seeded(tricks.pretrain_seed):  # initial weights set by the seed, whatever ran before
            gan = build(x.shape[1], len(y), pretrain_tricks)
        gan.lr_generator = gan.lr_discriminator = tricks.pretrain_lr
        fit_gan(
            gan,
            x,
            y,
            batch_size=tricks.pretrain_batch_size,
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
