"""How synthetic examples join the real training set (the `augment` config group).

A strategy receives the real set and a sampler `labels -> embeddings` and returns the training set of
the augmented model. New strategies register in `STRATEGIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthlift.errors import ConfigError

Sampler = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TrainingSet:
    x: np.ndarray
    y: np.ndarray
    num_synthetic: int


def balanced_labels(total: int, num_classes: int, seed: int) -> np.ndarray:
    """`total` labels, as equal per class as possible (the remainder goes to random classes), shuffled."""
    rng = np.random.default_rng(seed)
    counts = np.full(num_classes, total // num_classes)
    counts[rng.choice(num_classes, total % num_classes, replace=False)] += 1
    return rng.permutation(np.repeat(np.arange(num_classes), counts))


def real_only(x: np.ndarray, y: np.ndarray, sampler: Sampler | None, cfg, num_classes: int, seed: int) -> TrainingSet:
    return TrainingSet(x, y, 0)


def mix(x: np.ndarray, y: np.ndarray, sampler: Sampler | None, cfg, num_classes: int, seed: int) -> TrainingSet:
    """Real data plus `ratio` x len(real) label-balanced synthetic examples."""
    total = int(round(float(cfg["ratio"]) * len(y)))
    labels = balanced_labels(total, num_classes, seed)
    synthetic = sampler(labels)
    return TrainingSet(np.concatenate([x, synthetic]), np.concatenate([y, labels]), total)


STRATEGIES: dict[str, Callable[..., TrainingSet]] = {"none": real_only, "mix": mix}


def uses_synthetic(cfg: Mapping[str, Any]) -> bool:
    """Whether the strategy needs a generator at all (`none` skips GAN training)."""
    return strategy(cfg) is not real_only


def strategy(cfg: Mapping[str, Any]) -> Callable[..., TrainingSet]:
    name = cfg["name"]
    if name not in STRATEGIES:
        raise ConfigError(f"augment.name={name!r} is unknown; known strategies: {sorted(STRATEGIES)}")
    return STRATEGIES[name]
