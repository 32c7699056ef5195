"""TF-IDF + truncated SVD (LSA) features, learned from the scarce training texts only."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from synthlift.core.cache import fingerprint
from synthlift.core.checks import non_negative_int, positive_int
from synthlift.core.errors import DataError, InvalidArgument, SynthliftError
from synthlift.embedders.base import Embedder, as_text_list, package_version

log = logging.getLogger(__name__)


class NotFittedError(SynthliftError):
    """A learned embedder was used before `fit` saw the training texts."""


class TfidfSvdEmbedder(Embedder):
    """Fitted on training texts only, so no vocabulary or IDF statistic leaks from the test set."""

    def __init__(self, n_components: int = 100, max_features: int = 20000, seed: int = 0):
        self.n_components = positive_int("n_components", n_components)
        # At least 2 terms: one term is one TF-IDF column, which no SVD can reduce to a component.
        self.max_features = positive_int("max_features", max_features)
        if self.max_features < 2:
            raise InvalidArgument("max_features", max_features, "an integer >= 2 (the terms SVD reduces)")
        self.seed = non_negative_int("seed", seed)
        self._vectorizer = None
        self._svd = None
        self._fit_hash: str | None = None

    def fit(self, texts: Sequence[str]) -> TfidfSvdEmbedder:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = as_text_list(texts)
        if not texts:
            raise DataError("TfidfSvdEmbedder.fit got no training texts")
        vectorizer = TfidfVectorizer(max_features=self.max_features)
        try:
            tfidf = vectorizer.fit_transform(texts)
        except ValueError as exc:  # e.g. every training text is empty
            raise DataError(f"TfidfSvdEmbedder cannot fit on these training texts: {exc}") from None
        n_docs, vocab = tfidf.shape
        if vocab < 2:
            raise DataError(
                f"TfidfSvdEmbedder needs at least 2 distinct terms in the training texts, got {vocab}: the training "
                "set (dataset.train_per_class) is too small or its texts too short for embedder=tfidf_svd"
            )
        # TruncatedSVD needs fewer components than both documents and terms; a few-shot training
        # set can have fewer than the configured 100.
        k = max(1, min(self.n_components, n_docs - 1, vocab - 1))
        if k != self.n_components:
            log.info(
                "tfidf_svd: n_components clipped from %d to %d (%d training texts, vocabulary %d)",
                self.n_components,
                k,
                n_docs,
                vocab,
            )
        svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=self.seed)
        svd.fit(tfidf)
        self._vectorizer, self._svd = vectorizer, svd
        self._fit_hash = fingerprint(texts)
        return self

    def _require_fitted(self) -> None:
        if self._svd is None:
            raise NotFittedError(
                "TfidfSvdEmbedder must be fitted on the training texts (call .fit(train_texts)) before "
                "it can encode or be fingerprinted"
            )

    def fingerprint(self) -> str:
        self._require_fitted()
        return "|".join(
            [
                "tfidf_svd",
                f"n_components={self.n_components}",
                f"max_features={self.max_features}",
                f"seed={self.seed}",
                f"scikit-learn={package_version('scikit-learn')}",
                f"fit={self._fit_hash}",
            ]
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self._require_fitted()
        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._svd.transform(self._vectorizer.transform(texts)), dtype=np.float32)

    @property
    def dim(self) -> int:
        self._require_fitted()
        return self._svd.n_components
