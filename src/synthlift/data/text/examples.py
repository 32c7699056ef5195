"""The text track's training examples as the augment strategies see them, and its synthetic source."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthlift.augment.base import balanced_labels
from synthlift.core.errors import ConfigError
from synthlift.generators.text.base import TextGenerator


@dataclass(frozen=True, eq=False)
class EmbeddedExamples:
    """Embeddings `x` (n, dim) with class labels `y` (n,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def concat(self, other: EmbeddedExamples) -> EmbeddedExamples:
        return EmbeddedExamples(np.concatenate([self.x, other.x]), np.concatenate([self.y, other.y]))


@dataclass(frozen=True, eq=False)
class GeneratorSource:
    """Label-balanced samples of a fitted text generator, drawn on demand."""

    generator: TextGenerator
    num_classes: int

    def draw(self, count: int | None, seed: int) -> EmbeddedExamples:
        if count is None:
            raise ConfigError(
                "augment.ratio=null asks for the whole synthetic pool, but a text generator samples on demand: "
                "set augment.ratio (synthetic examples per real one)"
            )
        labels = balanced_labels(count, self.num_classes, seed)
        return EmbeddedExamples(self.generator.sample(labels, seed), labels)
