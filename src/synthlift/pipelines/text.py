"""The text track, one run: dataset -> embedder -> generator -> augment strategy -> classifier -> metrics.

Orchestration only: every stage is a component built from its config group, all of them before any work,
so an impossible value fails at start-up with its key. The real-only baseline and the augmented classifier
share the seed, the training protocol (each choosing its own hyper-parameters on validation under
`protocol=tuned`) and the held-out test set, so `lift = acc_augmented - acc_real_only` is a paired
measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger

from synthlift.augment.base import CLASS_LABELS, DOMAIN_HEAD, TEACHER, AugmentStrategy, TrainingPhase, TrainingPlan
from synthlift.core.build import build
from synthlift.core.errors import ConfigError, DegenerateResultError
from synthlift.core.io import atomic_path
from synthlift.core.plots import plot_embedding_tsne
from synthlift.core.timing import StageTimer
from synthlift.data.text.dataset import TextTableDataset
from synthlift.data.text.examples import EmbeddedExamples, GeneratorSource
from synthlift.data.text.table import normalised_text
from synthlift.downstream.classifier import EmbeddingClassifier
from synthlift.embedders.base import Embedder
from synthlift.embedders.cache import EmbeddingCache
from synthlift.generators.text.base import TextFitContext, TextGenerator, TextTrainData
from synthlift.metrics.base import QualityMetrics, RealReference
from synthlift.protocol.base import FittedClassifier, TrainingProtocol

LIFT_PAIRS = {
    "lift": ["acc_augmented", "acc_real_only"],
    "lift_f1": ["f1_augmented", "f1_real_only"],
    "lift_balanced_acc": ["balanced_acc_augmented", "balanced_acc_real_only"],
    # On the validation set, which settings may be chosen on (`hydra/sweeper=optuna_validation`) without looking
    # at the test set. Both arms' classifiers also chose their own hyper-parameters on it (protocol=tuned), so
    # it is optimistic for both; only the test lift is reported as the result.
    "val_lift": ["val_acc_augmented", "val_acc_real_only"],
}


def validation_metric_names(cfg: DictConfig) -> list[str]:
    """The validation metrics a run of `cfg` records, known from the config alone, so that a sweeper
    (`hydra/sweeper=optuna_validation`) refuses an objective no job would return before it trains one: the
    validation lift and the two accuracies it pairs, and `val_acc_selected` where the generator keeps its
    best epoch on validation (`tricks.early_stopping`, read by the generators that take `tricks`). The
    quality metrics are scored on the test set, so none of them is among these."""
    names = ["val_lift", *LIFT_PAIRS["val_lift"]]
    if OmegaConf.select(cfg, "gan.tricks.early_stopping.enabled", default=False):
        names.append("val_acc_selected")
    return names


def build_text_components(cfg: DictConfig) -> dict[str, Any]:
    """Every component of a text run, each checked against the interface its stage needs."""
    components = {
        "dataset": (build(cfg.dataset, "dataset"), TextTableDataset),
        "embedder": (build(cfg.embedder, "embedder"), Embedder),
        "gan": (build(cfg.gan, "gan"), TextGenerator),
        "augment": (build(cfg.augment, "augment"), AugmentStrategy),
        "downstream": (build(cfg.downstream, "downstream"), EmbeddingClassifier),
        "protocol": (build(cfg.protocol, "protocol"), TrainingProtocol),
    }
    for key, (component, interface) in components.items():
        if not isinstance(component, interface):
            raise ConfigError(
                f"{key}._target_ builds {type(component).__name__}, which is not a {interface.__name__}: the text "
                f"track (--config-name text) needs conf/{key}/text/* options"
            )
    built = {key: component for key, (component, _) in components.items()}
    built["metrics"] = QualityMetrics.from_config(cfg.get("metrics"))
    built["gan"].check_labels(built["dataset"].class_names)
    built["augment"].check_track(provides=frozenset({CLASS_LABELS, TEACHER, DOMAIN_HEAD}))
    return built


def run_text_experiment(cfg: DictConfig, run_dir: Path, loggers: Sequence[Logger] = ()) -> dict[str, Any]:
    """Run every stage and return the `metrics`, `sizes`, `timings` and `lift_pairs` of results.json."""
    parts = build_text_components(cfg)
    dataset: TextTableDataset = parts["dataset"]
    embedder: Embedder = parts["embedder"]
    strategy: AugmentStrategy = parts["augment"]
    classifier: EmbeddingClassifier = parts["downstream"]
    protocol: TrainingProtocol = parts["protocol"]
    seed = int(cfg.seed)
    timer = StageTimer()

    with timer("data"):
        table = dataset.load()
        split = dataset.split(table, seed)
    with timer("embed"):
        embedder.fit(split.train.texts)
        cache = EmbeddingCache(cfg.paths.cache_dir)
        real, val, test = (
            EmbeddedExamples(cache.encode(embedder, part.texts), part.labels)
            for part in (split.train, split.val, split.test)
        )
    num_classes = len(table.class_names)

    def train(plan: TrainingPlan) -> FittedClassifier:
        return protocol.fit(classifier, plan, val, num_classes, seed)

    def score(fitted: FittedClassifier, examples: EmbeddedExamples) -> dict[str, Any]:
        return classifier.evaluate(fitted.model, examples.x, examples.y, num_classes)

    def record(arm: str, fitted: FittedClassifier, scores: dict[str, Any]) -> None:
        metrics.update({f"{name}_{arm}": scores[name] for name in ("acc", "f1", "balanced_acc")})
        metrics[f"val_acc_{arm}"] = score(fitted, val)["acc"]
        metrics.update({f"{arm}_{name}": value for name, value in fitted.choices.items()})

    metrics: dict[str, Any] = {}
    with timer("baseline"):
        baseline = train(TrainingPlan((TrainingPhase(real, name="real"),)))
        real_only = score(baseline, test)
    record("real_only", baseline, real_only)

    def teacher(examples: EmbeddedExamples) -> np.ndarray:
        return classifier.probabilities(baseline.model, examples.x)

    source = None
    if strategy.uses_synthetic:
        generator: TextGenerator = parts["gan"]
        source = GeneratorSource(generator, num_classes, real.x.shape[1])

        def validation_score(candidate: TextGenerator) -> float:
            # `plan`, not `measurable_plan`: a candidate whose plan uses no synthetic example scores as the
            # real-only retrain it is, and loses the selection; only the final plan must measure something.
            candidate_source = GeneratorSource(candidate, num_classes, real.x.shape[1])
            return score(train(strategy.plan(real, candidate_source, seed, teacher)), val)["acc"]

        context = TextFitContext(
            seed=seed,
            trainer=cfg.trainer,
            cache_dir=Path(cfg.paths.cache_dir),
            embeddings=cache,
            held_out_texts=frozenset(normalised_text(text) for text in (*split.val.texts, *split.test.texts)),
            teacher=baseline.model,
            validation_score=validation_score,
            loggers=loggers,
        )
        with timer("gan"):
            train_data = TextTrainData(split.train.texts, real.x, real.y, list(table.class_names), embedder)
            metrics.update(generator.fit(train_data, context))

    with timer("augmented"):
        plan = strategy.measurable_plan(real, source, seed, teacher)
        fitted = train(plan)
        augmented = score(fitted, test)
    if augmented["predicted_classes"] == 1 < real_only["predicted_classes"]:
        raise DegenerateResultError(
            f"the augmented classifier predicts one class for all {len(test)} test examples (the real-only one "
            f"predicts {real_only['predicted_classes']}): its training data is degenerate, so no lift is reported. "
            f"Its plan added {plan.num_synthetic} synthetic examples to {len(real)} real ones: check the generator "
            "(gan.*) or lower augment.ratio"
        )
    record("augmented", fitted, augmented)
    metrics.update(plan.diagnostics)
    metrics.update({name: metrics[treated] - metrics[base] for name, (treated, base) in LIFT_PAIRS.items()})

    if source is not None:
        with timer("synthetic_eval"):
            reference = RealReference(
                real, test, num_classes, seed, baseline.model, classifier.evaluate, tuple(table.class_names)
            )
            metrics.update(parts["metrics"].evaluate(reference, source))
            _save_synthetic(run_dir, plan.synthetic, real, table.class_names, cfg.get("plots", True), seed)

    return {
        "metrics": metrics,
        "lift_pairs": LIFT_PAIRS,
        "sizes": {
            "train_real": len(real),
            "synthetic": plan.num_synthetic,
            "val": len(val),
            "test": len(test),
            "dataset_rows": len(table),
            "embedding_dim": int(real.x.shape[1]),
        },
        "timings": timer.seconds,
        "cache": {"embedding_hits": cache.hits, "embedding_misses": cache.misses},
    }


def _save_synthetic(
    run_dir: Path, synthetic: EmbeddedExamples, real: EmbeddedExamples, class_names, plots: bool, seed: int
) -> None:
    """Keep the synthetic set (npz) and a t-SNE of real vs synthetic next to results.json."""
    with atomic_path(Path(run_dir) / "synthetic.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, embeddings=synthetic.x, labels=synthetic.y, class_names=np.array(class_names))
    if plots:
        plot_embedding_tsne(
            real.x, real.y, synthetic.x, synthetic.y, list(class_names), Path(run_dir) / "tsne.png", seed=seed
        )
