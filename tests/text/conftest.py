"""What text generators are fitted with in the tests: a context with its own embedding cache and no teacher."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthlift.embedders.cache import EmbeddingCache
from synthlift.generators.text.base import TextFitContext


def make_context(cache_dir: Path, seed: int = 0) -> TextFitContext:
    return TextFitContext(
        seed=seed,
        trainer={"accelerator": "cpu", "devices": 1},
        cache_dir=cache_dir,
        embeddings=EmbeddingCache(cache_dir),
        held_out_texts=frozenset({"a held-out text"}),
    )


@pytest.fixture
def context(tmp_path) -> TextFitContext:
    return make_context(tmp_path / "cache")
