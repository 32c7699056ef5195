"""The text generator interface: anything that can produce labeled sentence embeddings.

A GAN, a VAE, a diffusion model, an LLM prompted per label, SMOTE, Gaussian jitter or text-level EDA are
each one class with `fit(train, context)` and `sample(labels, seed)`. `train` carries the raw texts as well
as their embeddings and the run's embedder, so generators that write text embed it the way the real data
was embedded; `context` carries what a generator may use beyond its training data (and what it must not
touch: the held-out texts).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pytorch_lightning.loggers import Logger
from torch import nn

from synthlift.embedders.base import Embedder
from synthlift.embedders.cache import EmbeddingCache


@dataclass(frozen=True, eq=False)
class TextTrainData:
    """The scarce real training set in every form a generator may learn from."""

    texts: list[str]
    x: np.ndarray  # (n, dim) float32 embeddings of `texts`
    y: np.ndarray  # (n,) class indices
    class_names: list[str]
    embedder: Embedder

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True, eq=False)
class TextFitContext:
    """What a run lends its generator beyond the training data."""

    seed: int
    trainer: Mapping[str, Any]  # Lightning Trainer settings (`trainer` group)
    cache_dir: Path  # shared by every job of a sweep: expensive stages (e.g. pretraining) are cached there
    embeddings: EmbeddingCache
    held_out_texts: frozenset[str]  # validation and test texts, as `normalised_text`: no generator may train on them
    teacher: nn.Module | None = None  # the real-only classifier, frozen
    # Validation accuracy of the downstream model trained, as the run's augment strategy says, with a
    # candidate generator's samples: the criterion for choosing among generators (never the test set).
    validation_score: Callable[[TextGenerator], float] | None = None
    loggers: Sequence[Logger] = ()


class TextGenerator(abc.ABC):
    """Learns from labeled real examples, then samples embeddings for any requested labels.

    `family` groups generators in reports (the leaderboard asks whether any GAN beats the best cheap
    baseline): "GAN", "VAE", "diffusion", "language model", "cheap baseline" or "other".
    """

    family: ClassVar[str] = "other"

    def check_labels(self, class_names: list[str]) -> None:  # noqa: B027 (optional hook, most need none)
        """Start-up check against the run's dataset, before any work (e.g. a pretraining corpus's classes)."""

    @abc.abstractmethod
    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        """Train on `train`; returns diagnostics for results.json (e.g. the selected epoch)."""

    @abc.abstractmethod
    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """(len(labels), dim) float32 embeddings, one per requested label, reproducible by `seed`."""

    def sampling_bytes_per_example(self, dim: int) -> int:
        """Peak memory one sample costs while `sample` makes all of them at once, its output included: what a
        strategy multiplies by the count it is about to draw, to refuse one that cannot fit before sampling.
        This default suits generators that copy and perturb training rows: the float32 output and two float64
        working arrays (the noise and its sum with the row). Neural generators add their activations."""
        return dim * (4 + 2 * 8)


def activation_bytes_per_example(network: nn.Module) -> int:
    """Bytes one example's activations take in a no-grad forward pass through `network`'s linear layers (each
    layer's float32 output and the nonlinearity's result): a network run on every requested label at once holds
    this much per sample, often far more than the embedding it outputs."""
    return sum(2 * 4 * layer.out_features for layer in network.modules() if isinstance(layer, nn.Linear))
