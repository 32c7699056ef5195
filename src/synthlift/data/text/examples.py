"""The text track's training examples as the augment strategies see them, and its synthetic source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from synthlift.augment.base import balanced_labels
from synthlift.core.errors import ConfigError


class LabelConditionedSampler(Protocol):
    """What the data layer needs of a fitted text generator (`synthlift.generators.text.base.TextGenerator`
    is one): samples for requested labels. Declared here so that data does not depend on the generators."""

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """(len(labels), dim) float32 embeddings, one per requested label, reproducible by `seed`."""
        ...

    def sampling_bytes_per_example(self, dim: int) -> int:
        """Peak memory one sample costs while `sample` makes all of them at once, its output included."""
        ...


@dataclass(frozen=True, eq=False)
class EmbeddedExamples:
    """Embeddings `x` (n, dim) with class labels `y` (n,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def concat(self, other: EmbeddedExamples) -> EmbeddedExamples:
        return EmbeddedExamples(np.concatenate([self.x, other.x]), np.concatenate([self.y, other.y]))

    def subset(self, indices: np.ndarray) -> EmbeddedExamples:
        return EmbeddedExamples(self.x[indices], self.y[indices])


@dataclass(frozen=True, eq=False)
class GeneratorSource:
    """Label-balanced samples of a fitted text generator, drawn on demand."""

    generator: LabelConditionedSampler
    num_classes: int
    dim: int  # embedding width (an empty draw still has it)

    def draw(self, count: int | None, seed: int) -> EmbeddedExamples:
        if count is None:
            raise ConfigError(
                "augment.ratio=null asks for the whole synthetic pool, but a text generator samples on demand: "
                "set augment.ratio (synthetic examples per real one)"
            )
        return self.draw_labels(balanced_labels(count, self.num_classes, seed), seed)

    def drawing_bytes_per_example(self) -> int:
        """Memory one drawn example costs while it is drawn (the generator's working memory, the embedding and
        its int64 label), so that a strategy can refuse a count that cannot fit before sampling any."""
        return self.generator.sampling_bytes_per_example(self.dim) + np.dtype(np.int64).itemsize

    def draw_labels(self, labels: np.ndarray, seed: int) -> EmbeddedExamples:
        """One sample per requested label (strategies that choose the classes, e.g. `augment=rebalance`)."""
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) == 0:
            return EmbeddedExamples(np.zeros((0, self.dim), dtype=np.float32), labels)
        return EmbeddedExamples(self.generator.sample(labels, seed), labels)
