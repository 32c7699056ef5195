"""Embedders and the shared embedding cache: cache hits skip encoding, concurrent fills compute once."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from synthlift.core.build import build
from synthlift.core.errors import DataError, SynthliftError
from synthlift.embedders.avg_word import AverageWordEmbedder
from synthlift.embedders.base import Embedder
from synthlift.embedders.cache import EmbeddingCache
from synthlift.embedders.minilm import MiniLMEmbedder, load_minilm
from synthlift.embedders.tfidf_svd import TfidfSvdEmbedder


class SpyEmbedder(Embedder):
    """Deterministic vectors from text lengths; counts encode calls and can log each compute to a file."""

    def __init__(self, tag: str = "spy", delay: float = 0.0, log_path: str | None = None):
        self.tag, self.delay, self.log_path = tag, delay, log_path
        self.calls = 0

    def fingerprint(self) -> str:
        return f"spy|{self.tag}"

    def encode(self, texts):
        self.calls += 1
        if self.log_path:
            with open(self.log_path, "a") as handle:
                handle.write(f"{os.getpid()}\n")
        time.sleep(self.delay)
        lengths = np.array([len(t) for t in texts], dtype=np.float32)
        return np.stack([lengths, lengths * 2, np.full_like(lengths, len(self.tag))], axis=1)

    @property
    def dim(self) -> int:
        return 3


TEXTS = ["a good film", "terrible", "so-so plot"]


def test_cache_hit_skips_encode_and_returns_identical_array(tmp_path):
    spy = SpyEmbedder()
    cache = EmbeddingCache(tmp_path)
    first = cache.encode(spy, TEXTS)
    assert (cache.misses, cache.hits, spy.calls) == (1, 0, 1)
    assert first.dtype == np.float32 and first.shape == (3, 3)
    assert list((tmp_path / "embeddings").glob("*.npy"))

    fresh_spy, fresh_cache = SpyEmbedder(), EmbeddingCache(tmp_path)
    second = fresh_cache.encode(fresh_spy, TEXTS)
    assert fresh_spy.calls == 0
    assert (fresh_cache.misses, fresh_cache.hits) == (0, 1)
    np.testing.assert_array_equal(first, second)


def test_cache_misses_on_other_texts_or_fingerprint(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.encode(SpyEmbedder(), TEXTS)
    other_texts_spy = SpyEmbedder()
    cache.encode(other_texts_spy, TEXTS[:2])
    other_fp_spy = SpyEmbedder(tag="other")
    out = cache.encode(other_fp_spy, TEXTS)
    assert other_texts_spy.calls == 1 and other_fp_spy.calls == 1
    assert (cache.misses, cache.hits) == (3, 0)
    assert out[0, 2] == len("other")
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 3


def test_no_cache_dir_encodes_directly():
    spy = SpyEmbedder()
    cache = EmbeddingCache(None)
    cache.encode(spy, TEXTS)
    cache.encode(spy, TEXTS)
    assert spy.calls == 2


def _fill(cache_dir: str, log_path: str, out_path: str, barrier) -> None:
    barrier.wait()
    vectors = EmbeddingCache(cache_dir).encode(SpyEmbedder(delay=1.0, log_path=log_path), TEXTS)
    np.save(out_path, vectors)


def test_concurrent_fills_compute_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    log_path = tmp_path / "computes.log"
    outs = [tmp_path / f"out{i}.npy" for i in range(2)]
    procs = [
        ctx.Process(target=_fill, args=(str(tmp_path / "cache"), str(log_path), str(out), barrier)) for out in outs
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert len(log_path.read_text().splitlines()) == 1
    a, b = (np.load(out) for out in outs)
    np.testing.assert_array_equal(a, b)
    entries = list((tmp_path / "cache" / "embeddings").iterdir())
    npys = [p for p in entries if p.suffix == ".npy"]
    assert len(npys) == 1
    np.testing.assert_array_equal(np.load(npys[0]), a)
    assert not [p for p in entries if p.name.endswith(".tmp")]


def test_tfidf_svd_fit_on_train_then_encode_unseen():
    emb = TfidfSvdEmbedder(n_components=100)
    with pytest.raises(SynthliftError, match="fitted on the training texts"):
        emb.encode(["anything"])
    train = [
        "great acting and a great plot",
        "dull plot, bad acting",
        "great fun",
        "bad and dull",
        "fun film",
    ]
    assert emb.fit(train) is emb
    out = emb.encode(["a great film", "words never seen before", "dull"])
    assert out.dtype == np.float32
    assert out.shape == (3, 4)  # clipped to n_docs - 1
    assert emb.dim == 4
    assert not out[1].any()  # no training-vocabulary word -> zero TF-IDF -> zero vector
    fp = emb.fingerprint()
    assert TfidfSvdEmbedder(n_components=100).fit(train).fingerprint() == fp
    assert TfidfSvdEmbedder(n_components=100).fit([*train[:-1], "fun movie"]).fingerprint() != fp
    assert TfidfSvdEmbedder(n_components=3).fit(train).fingerprint() != fp


@pytest.fixture
def glove_file(tmp_path) -> Path:
    path = tmp_path / "glove.txt"
    path.write_text("good 1 2 3\nfilm 3 0 -1\nbad -1 -2 -3\n", encoding="utf-8")
    return path


def test_avg_word_glove_mean(glove_file):
    emb = AverageWordEmbedder(glove_path=glove_file)
    assert emb.dim == 3
    out = emb.encode(["Good film!", "zzz qqq", "GOOD, good... bad"])
    assert out.dtype == np.float32 and out.shape == (3, 3)
    np.testing.assert_array_equal(out[0], [2.0, 1.0, 1.0])  # mean of good and film; "!" dropped
    np.testing.assert_array_equal(out[1], [0.0, 0.0, 0.0])  # OOV only
    np.testing.assert_allclose(out[2], [1 / 3, 2 / 3, 1.0], rtol=1e-6)
    assert "glove" in emb.fingerprint() and str(glove_file) in emb.fingerprint()


def test_avg_word_glove_fingerprint_tracks_file(glove_file):
    before = AverageWordEmbedder(glove_path=glove_file).fingerprint()
    glove_file.write_text("good 1 2 3\nfilm 3 0 -1\nbad -1 -2 -3\nawful -2 -2 -2\n", encoding="utf-8")
    assert AverageWordEmbedder(glove_path=glove_file).fingerprint() != before


def test_avg_word_glove_errors(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(DataError, match="nope.txt"):
        AverageWordEmbedder(glove_path=missing)
    bad = tmp_path / "bad.txt"
    bad.write_text("good 1 2 3\nfilm 3 x -1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.txt, line 2"):
        AverageWordEmbedder(glove_path=bad).encode(["good"])
    short = tmp_path / "short.txt"
    short.write_text("good 1 2 3\n\nfilm 3 0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short\.txt, line 3"):
        AverageWordEmbedder(glove_path=short).encode(["good"])


def test_build_embedder_from_config(glove_file):
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "embedder" / "avg_word.yaml")
    cfg.glove_path = str(glove_file)
    emb = build(cfg, "embedder")
    assert isinstance(emb, AverageWordEmbedder) and emb.dim == 3


def test_minilm_lazy_real_model_and_token_table(tmp_path):
    emb = MiniLMEmbedder(batch_size=8)
    cache = EmbeddingCache(tmp_path)
    emb.fingerprint()
    assert load_minilm.cache_info().currsize == 0  # fingerprinting alone loads nothing
    sentences = [
        "I absolutely loved this movie, it was wonderful.",
        "This was a terrible, boring waste of time.",
    ]
    out = cache.encode(emb, sentences)
    model = load_minilm("cpu")  # the instance encode just loaded, kept for the token-table check below
    assert out.shape == (2, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert float(out[0] @ out[1]) < 0.9

    # A warm cache must not load the model: a new process would skip the load entirely.
    load_minilm.cache_clear()
    again = EmbeddingCache(tmp_path).encode(MiniLMEmbedder(), sentences)
    assert load_minilm.cache_info().currsize == 0
    np.testing.assert_array_equal(again, out)

    # Without GloVe, avg_word averages MiniLM's own input token embeddings (special tokens excluded).
    table = model[0].auto_model.embeddings.word_embeddings.weight.detach().cpu().numpy()
    avg = AverageWordEmbedder().encode([*sentences, "", "!!"])
    assert avg.shape == (4, 384)
    ids = model.tokenizer(sentences[0], add_special_tokens=False)["input_ids"]
    np.testing.assert_allclose(avg[0], table[ids].mean(axis=0), rtol=1e-5, atol=1e-6)
    assert not avg[2].any()
    assert avg[3].any()
