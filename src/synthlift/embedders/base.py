"""The embedder interface: a deterministic text -> vector mapping with a stable identity for caching."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from importlib import metadata

import numpy as np


class Embedder(abc.ABC):
    """Maps texts to float32 vectors of a fixed width.

    Embedders that learn from text (e.g. TF-IDF) override `fit`; they must only ever be fitted on
    training texts, so that nothing about the test set leaks into the features.
    """

    def fit(self, texts: Sequence[str]) -> Embedder:
        """Learn from training texts; fixed (pretrained) embedders need nothing, hence a no-op."""
        return self

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """Identity of the text -> vector mapping (parameters, vector source, fit state).

        It is the embedder part of the cache key: two embedders with equal fingerprints must give
        the same vectors for the same texts, and it must be cheap (no model loading).
        """

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim)."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Width of the vectors `encode` returns."""


def as_text_list(texts: Sequence[str]) -> list[str]:
    """A bare string is a Sequence[str] too; embedding it character by character is always a bug."""
    if isinstance(texts, str):
        raise TypeError("encode/fit take a sequence of texts, not a single string")
    return list(texts)


def package_version(name: str) -> str:
    """Installed version without importing the package (importing torch just to key a cache is slow)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"
