"""The text track, one run: dataset -> embedder -> conditional GAN -> synthetic set -> classifier -> metrics.

The real-only baseline and the augmented classifier share the seed, the hyper-parameters and the
held-out test set, so `lift = acc_augmented - acc_real_only` is a paired measurement.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from pytorch_lightning.loggers import Logger

from synthlift import augment
from synthlift.cache import fingerprint
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


@dataclass
class Embedded:
    """The split as vectors: what every stage after the embedder works on."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


class TextRun:
    """The stages after embedding, sharing one seed and config so every model of the run is paired."""

    def __init__(self, cfg: DictConfig, data: Embedded):
        self.cfg = cfg
        self.data = data
        self.seed = int(cfg.seed)
        self.tricks = TrickSettings.from_config(cfg.tricks)
        self.strategy = augment.strategy(cfg.augment)

    def train_classifier(self, x: np.ndarray, y: np.ndarray):
        return fit_classifier(x, y, self.data.num_classes, self.cfg.classifier, self.cfg.trainer, self.seed)

    def test_scores(self, model, x: np.ndarray | None = None, y: np.ndarray | None = None) -> dict[str, float]:
        """Accuracy and F1 on the held-out real test set (or on the given `x`, `y`)."""
        x, y = (self.data.x_test, self.data.y_test) if x is None else (x, y)
        return evaluate_classifier(model, x, y, self.data.num_classes)

    def training_set(self, gan: ConditionalEmbeddingGAN | None) -> augment.TrainingSet:
        """The augmented model's training set; `gan=None` gives the real data (augment=none)."""

        def sampler(labels: np.ndarray) -> np.ndarray:
            return gan.sample(torch.as_tensor(labels), seed=self.seed).numpy()

        d = self.data
        return self.strategy(d.x_train, d.y_train, sampler if gan else None, self.cfg.augment, d.num_classes, self.seed)

    def validation_score(self, gan: ConditionalEmbeddingGAN) -> float:
        """Generator selection's criterion: validation accuracy of a classifier on real + this G's samples."""
        candidate = self.training_set(gan)
        return self.test_scores(self.train_classifier(candidate.x, candidate.y), self.data.x_val, self.data.y_val)[
            "acc"
        ]

    def train_generator(self, teacher, pretrained: Path | None, loggers: Sequence[Logger]):
        """(Load the tweet-pretrained weights,) fine-tune on the scarce data, keep the best generator by
        validation score. Returns the GAN and the selection's metrics."""
        d, tricks = self.data, self.tricks
        gan = build_gan(self.cfg.gan, tricks, d.x_train.shape[1], d.num_classes, len(d.y_train), teacher)
        if pretrained is not None:
            load_pretrained(gan, pretrained)
        selection = GeneratorSelection(self.validation_score, tricks.eval_every, tricks.patience)
        fit_gan(
            gan,
            d.x_train,
            d.y_train,
            batch_size=int(self.cfg.gan.batch_size),
            max_epochs=int(self.cfg.gan.max_epochs),
            trainer_cfg=self.cfg.trainer,
            seed=self.seed,
            loggers=loggers,
            callbacks=[selection] if tricks.early_stopping else [],
        )
        if not tricks.early_stopping:
            return gan, {}
        return gan, {"selected_epoch": float(selection.best_epoch), "val_acc_selected": selection.best_score}

    def synthetic_diagnostics(self, gan: ConditionalEmbeddingGAN, baseline) -> dict[str, float]:
        """The paper's second evaluation (the real-only classifier scored on synthetic samples) and diversity."""
        d = self.data
        labels = augment.balanced_labels(len(d.y_test), d.num_classes, self.seed + 1)
        as_test = self.test_scores(baseline, gan.sample(torch.as_tensor(labels), seed=self.seed + 1).numpy(), labels)
        same_size = augment.balanced_labels(len(d.y_train), d.num_classes, self.seed + 2)
        diverse = gan.sample(torch.as_tensor(same_size), seed=self.seed + 2).numpy()
        real_spread = mean_pairwise_distance(d.x_train, d.y_train)
        synthetic_spread = mean_pairwise_distance(diverse, same_size)
        return {
            "synthetic_as_test_acc": as_test["acc"],
            "diversity_real": real_spread,
            "diversity_synthetic": synthetic_spread,
            "diversity_ratio": synthetic_spread / real_spread,
        }


def run_text_experiment(cfg: DictConfig, run_dir: Path, loggers: Sequence[Logger] = ()) -> dict[str, Any]:
    """Run every stage and return the `metrics`, `sizes`, `timings` and `lift_pairs` of results.json."""
    timer = StageTimer()
    with timer("data"):
        dataset = load_text_dataset(cfg.dataset, data_dir=cfg.paths.data_dir)
        split = make_low_resource_split(
            dataset,
            test_fraction=cfg.dataset.test_fraction,
            val_fraction=cfg.dataset.val_fraction,
            train_per_class=cfg.dataset.train_per_class,
            split_seed=cfg.dataset.split_seed,
            sample_seed=int(cfg.seed),
        )
    with timer("embed"):
        embedder = build_embedder(cfg.embedder).fit(split.train.texts)
        cache = EmbeddingCache(cfg.paths.cache_dir)
        x_train, x_val, x_test = (cache.encode(embedder, part.texts) for part in (split.train, split.val, split.test))
    run = TextRun(
        cfg,
        Embedded(
            x_train, split.train.labels, x_val, split.val.labels, x_test, split.test.labels, len(dataset.class_names)
        ),
    )

    with timer("baseline"):
        baseline = run.train_classifier(x_train, split.train.labels)
        real_only = run.test_scores(baseline)
    metrics: dict[str, float] = {"acc_real_only": real_only["acc"], "f1_real_only": real_only["f1"]}

    gan: ConditionalEmbeddingGAN | None = None
    if augment.uses_synthetic(cfg.augment):
        with timer("gan"):
            held_out = set(split.val.texts) | set(split.test.texts)
            pretrained = _pretrained_gan(cfg, run.tricks, embedder, cache, run.data.num_classes, held_out)
            gan, selection = run.train_generator(baseline, pretrained, loggers)
            metrics.update(selection)

    with timer("augmented"):
        training_set = run.training_set(gan)
        scores = run.test_scores(run.train_classifier(training_set.x, training_set.y))
    metrics.update(acc_augmented=scores["acc"], f1_augmented=scores["f1"])
    metrics.update({name: metrics[treated] - metrics[base] for name, (treated, base) in LIFT_PAIRS.items()})

    if gan is not None:
        with timer("synthetic_eval"):
            metrics.update(run.synthetic_diagnostics(gan, baseline))
            _save_synthetic(run_dir, training_set, run.data, dataset.class_names, cfg.get("plots", True), run.seed)

    return {
        "metrics": metrics,
        "lift_pairs": LIFT_PAIRS,
        "sizes": {
            "train_real": len(x_train),
            "synthetic": training_set.num_synthetic,
            "val": len(x_val),
            "test": len(x_test),
            "dataset_rows": len(dataset),
            "embedding_dim": int(x_train.shape[1]),
        },
        "timings": timer.seconds,
        "cache": {"embedding_hits": cache.hits, "embedding_misses": cache.misses},
    }


def _pretrained_gan(
    cfg: DictConfig, tricks: TrickSettings, embedder, cache: EmbeddingCache, num_classes: int, held_out: set[str]
):
    """Path of the GAN pretrained on the tweet corpus (trained once, then cached), or None if the trick is off.

    Corpus texts that are in the run's validation or test set are dropped first: when the corpus and the
    target data overlap (e.g. `dataset=sentiment140_random tricks=paper`), pretraining must not see them.
    """
    if not tricks.pretrain:
        return None
    corpus_cfg = cfg.tricks.pretrain.corpus

    def load_corpus() -> tuple[np.ndarray, np.ndarray]:
        corpus = load_text_dataset(corpus_cfg, data_dir=cfg.paths.data_dir)
        keep = [i for i, text in enumerate(corpus.texts) if text not in held_out]
        if len(keep) < len(corpus):
            log.info("Pretraining corpus: dropped %d texts of the validation/test set", len(corpus) - len(keep))
        corpus = corpus.subset(keep)
        return cache.encode(embedder, corpus.texts), corpus.labels

    path, created = pretrained_gan_path(
        cache_dir=cfg.paths.cache_dir,
        key_parts={
            "corpus": dict(corpus_cfg),
            "embedder": embedder.fingerprint(),
            "held_out": fingerprint(sorted(held_out)),
        },
        load_corpus=load_corpus,
        gan_cfg=cfg.gan,
        tricks=tricks,
        num_classes=num_classes,
        trainer_cfg=cfg.trainer,
    )
    log.info("%s pretrained GAN %s", "Trained" if created else "Reusing cached", path.name)
    return path


def _save_synthetic(
    run_dir: Path, training_set: augment.TrainingSet, data: Embedded, class_names, plots: bool, seed: int
) -> None:
    """Keep the synthetic set (npz) and a t-SNE of real vs synthetic next to results.json."""
    num_real = len(data.y_train)
    synthetic_x, synthetic_y = training_set.x[num_real:], training_set.y[num_real:]
    with atomic_path(Path(run_dir) / "synthetic.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, embeddings=synthetic_x, labels=synthetic_y, class_names=np.array(class_names))
    if plots:
        plot_embedding_tsne(
            data.x_train,
            data.y_train,
            synthetic_x,
            synthetic_y,
            list(class_names),
            Path(run_dir) / "tsne.png",
            seed=seed,
        )
