"""Text -> fixed-size vector embedders, and the shared on-disk cache of their outputs.

Every embedder is built from `conf/embedder/*.yaml` (hydra `_target_`), exposes a `fingerprint()`
that identifies its text->vector mapping, and is wrapped by `EmbeddingCache` so a sweep embeds each
text set once. Heavy libraries (torch, transformers, sklearn) are imported lazily, so a warm cache
never pays for them.
"""

from __future__ import annotations

import hydra.utils

from synthlift.embed.base import Embedder
from synthlift.embed.cache import EmbeddingCache
from synthlift.errors import ConfigError

__all__ = ["Embedder", "EmbeddingCache", "build_embedder"]


def build_embedder(cfg) -> Embedder:
    """Instantiate the embedder config; reject a `_target_` that is not an Embedder early, with its name."""
    embedder = hydra.utils.instantiate(cfg)
    if not isinstance(embedder, Embedder):
        raise ConfigError(
            f"embedder._target_ must build a synthlift.embed.base.Embedder, got {type(embedder).__name__}"
        )
    return embedder
