"""The text track, one run: dataset -> embedder -> conditional GAN -> synthetic set -> classifier -> metrics.

The real-only baseline and the augmented classifier share the seed, the hyper-parameters and the
held-out test set, so `lift = acc_augmented - acc_real_only` is a paired measurement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from pytorch_lightning.loggers import Logger

from synthlift import augment
from synthlift.data.splits import make_low_resource_split
from synthlift.data.text import load_text_dataset
from synthlift.downstream.classifier import evaluate_classifier, fit_classifier
from synthlift.embed import build_embedder
from synthlift.embed.cache import EmbeddingCache
from synthlift.gan.fit import build_gan, fit_gan, load_pretrained, pretrained_gan_path
from synthlift.gan.selection import GeneratorSelection
from synthlift.gan.text_cgan import ConditionalEmbeddingGAN
from synthlift.gan.tricks import TrickSettings
from synthlift.io import atomic_path
from synthlift.plots import plot_embedding_tsne
from synthlift.timing import StageTimer

log = logging.getLogger(__name__)

LIFT_PAIRS = {"lift": ["acc_augmented", "acc_real_only"], "lift_f1": ["f1_augmented", "f1_real_only"]}


def mean_pairwise_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Average within-class Euclidean distance: a number for "synthetic data is less diverse"."""
    per_class = []
    for label in np.unique(y):
        points = torch.as_tensor(x[y == label], dtype=torch.float32)
        if len(points) > 1:
            dist = torch.cdist(points, points)
            per_class.append(dist.sum().item() / (len(points) * (len(points) - 1)))
    return float(np.mean(per_class))


def run_text_experiment(cfg: DictConfig, run_dir: Path, loggers: Sequence[Logger] = ()) -> dict[str, Any]:
    """Run every stage and return the `metrics`, `sizes`, `timings` and `lift_pairs` of results.json."""
    timer = StageTimer()
    seed = int(cfg.seed)
    tricks = TrickSettings.from_config(cfg.tricks)

    with timer("data"):
        dataset = load_text_dataset(cfg.dataset, data_dir=cfg.paths.data_dir)
        split = make_low_resource_split(
            dataset,
            test_fraction=cfg.dataset.test_fraction,
            val_fraction=cfg.dataset.val_fraction,
            train_per_class=cfg.dataset.train_per_class,
            split_seed=cfg.dataset.split_seed,
            sample_seed=seed,
        )
    num_classes = len(dataset.class_names)
    y_train, y_val, y_test = split.train.labels, split.val.labels, split.test.labels

    with timer("embed"):
        embedder = build_embedder(cfg.embedder).fit(split.train.texts)
        cache = EmbeddingCache(cfg.paths.cache_dir)
        x_train, x_val, x_test = (cache.encode(embedder, part.texts) for part in (split.train, split.val, split.test))

    def train_classifier(x: np.ndarray, y: np.ndarray):
        return fit_classifier(x, y, num_classes, cfg.classifier, cfg.trainer, seed)

    with timer("baseline"):
        baseline = train_classifier(x_train, y_train)
        real_only = evaluate_classifier(baseline, x_test, y_test, num_classes)

    metrics: dict[str, float] = {"acc_real_only": real_only["acc"], "f1_real_only": real_only["f1"]}
    strategy = augment.strategy(cfg.augment)
    gan: ConditionalEmbeddingGAN | None = None
    if augment.uses_synthetic(cfg.augment):
        with timer("gan"):
            gan = _train_generator(
                cfg,
                tricks,
                x_train,
                y_train,
                x_val,
                y_val,
                num_classes,
                baseline,
                embedder,
                cache,
                loggers,
                train_classifier,
                metrics,
            )

    def sampler(labels: np.ndarray) -> np.ndarray:
        return gan.sample(torch.as_tensor(labels), seed=seed).numpy()

    with timer("augmented"):
        training_set = strategy(x_train, y_train, sampler if gan else None, cfg.augment, num_classes, seed)
        augmented = train_classifier(training_set.x, training_set.y)
        scores = evaluate_classifier(augmented, x_test, y_test, num_classes)
    metrics.update(acc_augmented=scores["acc"], f1_augmented=scores["f1"])
    metrics.update({name: metrics[treated] - metrics[base] for name, (treated, base) in LIFT_PAIRS.items()})

    if gan is not None:
        with timer("synthetic_eval"):
            metrics.update(_synthetic_diagnostics(gan, baseline, x_train, y_train, len(y_test), num_classes, seed))
            _save_synthetic(
                run_dir,
                training_set,
                len(y_train),
                dataset.class_names,
                x_train,
                y_train,
                cfg.get("plots", True),
                seed,
            )

    return {
        "metrics": metrics,
        "lift_pairs": LIFT_PAIRS,
        "sizes": {
            "train_real": len(y_train),
            "synthetic": training_set.num_synthetic,
            "val": len(y_val),
            "test": len(y_test),
            "dataset_rows": len(dataset),
            "embedding_dim": int(x_train.shape[1]),
        },
        "timings": timer.seconds,
        "cache": {"embedding_hits": cache.hits, "embedding_misses": cache.misses},
    }


def _train_generator(
    cfg,
    tricks,
    x_train,
    y_train,
    x_val,
    y_val,
    num_classes,
    teacher,
    embedder,
    cache,
    loggers,
    train_classifier,
    metrics,
) -> ConditionalEmbeddingGAN:
    """(Pretrain on tweets,) fine-tune on the scarce data, keep the best generator by validation score."""
    gan = build_gan(cfg.gan, tricks, x_train.shape[1], num_classes, len(y_train), teacher)
    if tricks.pretrain:
        corpus_cfg = cfg.tricks.pretrain.corpus

        def load_corpus() -> tuple[np.ndarray, np.ndarray]:
            corpus = load_text_dataset(corpus_cfg, data_dir=cfg.paths.data_dir)
            return cache.encode(embedder, corpus.texts), corpus.labels

        path, created = pretrained_gan_path(
            cache_dir=cfg.paths.cache_dir,
            key_parts={"corpus": dict(corpus_cfg), "embedder": embedder.fingerprint()},
            load_corpus=load_corpus,
            gan_cfg=cfg.gan,
            tricks=tricks,
            num_classes=num_classes,
            trainer_cfg=cfg.trainer,
        )
        log.info("%s pretrained GAN %s", "Trained" if created else "Reusing cached", path.name)
        load_pretrained(gan, path)

    callbacks = []
    if tricks.early_stopping:
        strategy = augment.strategy(cfg.augment)

        def validation_score(module: ConditionalEmbeddingGAN) -> float:
            def sampler(labels: np.ndarray) -> np.ndarray:
                return module.sample(torch.as_tensor(labels), seed=int(cfg.seed)).numpy()

            candidate = strategy(x_train, y_train, sampler, cfg.augment, num_classes, int(cfg.seed))
            model = train_classifier(candidate.x, candidate.y)
            return evaluate_classifier(model, x_val, y_val, num_classes)["acc"]

        selection = GeneratorSelection(validation_score, tricks.eval_every, tricks.patience)
        callbacks.append(selection)

    fit_gan(
        gan,
        x_train,
        y_train,
        batch_size=int(cfg.gan.batch_size),
        max_epochs=int(cfg.gan.max_epochs),
        trainer_cfg=cfg.trainer,
        seed=int(cfg.seed),
        loggers=loggers,
        callbacks=callbacks,
    )
    if tricks.early_stopping:
        metrics.update(selected_epoch=float(selection.best_epoch), val_acc_selected=selection.best_score)
    return gan


def _synthetic_diagnostics(gan, baseline, x_train, y_train, n_samples, num_classes, seed) -> dict[str, float]:
    """The paper's second evaluation (the real-only classifier scored on synthetic samples) and diversity."""
    labels = augment.balanced_labels(n_samples, num_classes, seed + 1)
    synthetic = gan.sample(torch.as_tensor(labels), seed=seed + 1).numpy()
    as_test = evaluate_classifier(baseline, synthetic, labels, num_classes)
    same_size = augment.balanced_labels(len(y_train), num_classes, seed + 2)
    diverse = gan.sample(torch.as_tensor(same_size), seed=seed + 2).numpy()
    real_spread = mean_pairwise_distance(x_train, y_train)
    synthetic_spread = mean_pairwise_distance(diverse, same_size)
    return {
        "synthetic_as_test_acc": as_test["acc"],
        "diversity_real": real_spread,
        "diversity_synthetic": synthetic_spread,
        "diversity_ratio": synthetic_spread / real_spread,
    }


def _save_synthetic(run_dir, training_set, num_real, class_names, x_train, y_train, plots, seed) -> None:
    """Keep the synthetic set (npz) and a t-SNE of real vs synthetic next to results.json."""
    synthetic_x, synthetic_y = training_set.x[num_real:], training_set.y[num_real:]
    with atomic_path(Path(run_dir) / "synthetic.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, embeddings=synthetic_x, labels=synthetic_y, class_names=np.array(class_names))
    if plots:
        plot_embedding_tsne(
            x_train,
            y_train,
            synthetic_x,
            synthetic_y,
            list(class_names),
            Path(run_dir) / "tsne.png",
            seed=seed,
        )
