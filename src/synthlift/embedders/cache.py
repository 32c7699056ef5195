"""Embeddings cached on disk by (embedder fingerprint, texts), shared by every job of a sweep.

Embedding thousands of texts with MiniLM costs minutes on CPU while a job's GAN and classifier
take seconds, so each text set is embedded once and reused across seeds, GANs and classifiers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthlift.core.cache import fingerprint, get_or_create
from synthlift.core.errors import SynthliftError
from synthlift.embedders.base import Embedder, as_text_list

log = logging.getLogger(__name__)


class EmbeddingCache:
    """`<cache_dir>/embeddings/<key>.npy` per entry; `cache_dir=None` embeds directly (no caching).

    Entries are filled under a file lock and published by atomic rename (`synthlift.core.cache`), so
    concurrent jobs neither corrupt nor duplicate an entry. `hits`/`misses` count this instance's lookups.
    """

    def __init__(self, cache_dir: str | os.PathLike | None):
        self.dir = None if cache_dir is None else Path(cache_dir) / "embeddings"
        self.hits = 0
        self.misses = 0

    def encode(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        texts = as_text_list(texts)
        if self.dir is None:
            return np.asarray(embedder.encode(texts), dtype=np.float32)
        key = fingerprint(embedder.fingerprint(), texts)
        name = type(embedder).__name__

        def create(tmp: Path) -> None:
            vectors = np.asarray(embedder.encode(texts), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(texts):
                raise SynthliftError(
                    f"{name}.encode returned shape {vectors.shape} for {len(texts)} texts; expected (n, dim)"
                )
            with open(tmp, "wb") as handle:  # np.save(path) would append ".npy" to the temp name
                np.save(handle, vectors)

        path, created = get_or_create(self.dir / f"{key}.npy", create)
        if created:
            self.misses += 1
            log.info("Embedding cache miss: %s, %d texts -> %s", name, len(texts), path)
        else:
            self.hits += 1
            log.info("Embedding cache hit: %s, %d texts <- %s", name, len(texts), path)
        return np.load(path)
