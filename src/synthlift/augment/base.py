"""The strategy interface shared by both tracks.

A strategy does not train anything itself: it turns the real training examples and a source of synthetic
ones into a `TrainingPlan` — the phases the downstream model is fitted on, in order, each with optional
per-example loss weights. One phase of real + synthetic is plain mixing; synthetic then real is
pre-training followed by fine-tuning; weights down-weight synthetic examples. The downstream models
(`synthlift.downstream`) fit any plan, so a new strategy is one module and one yaml.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from synthlift.core.errors import InvalidArgument


class Examples(Protocol):
    """A track's labeled training examples (`EmbeddedExamples` for text, `DenseExamples` for images)."""

    def __len__(self) -> int: ...

    def concat(self, other: Any) -> Any:
        """These examples followed by `other`'s, as one set of the same type."""


class SyntheticSource(Protocol):
    """Where a strategy draws synthetic examples from: a generator sampled on demand (text) or the
    finite pool a generation stage produced (images)."""

    def draw(self, count: int | None, seed: int) -> Any:
        """`count` label-balanced synthetic examples, reproducible by `seed`; `None` = the whole pool
        (a source with no finite pool refuses it)."""


@dataclass(frozen=True)
class TrainingPhase:
    """One fit of the downstream model, continuing from the weights the previous phase left."""

    examples: Any
    weights: np.ndarray | None = None  # per-example loss weights (None = every example counts 1)
    name: str = "train"

    def __post_init__(self) -> None:
        if self.weights is not None and len(self.weights) != len(self.examples):
            raise ValueError(f"phase {self.name!r}: {len(self.weights)} weights for {len(self.examples)} examples")


@dataclass(frozen=True)
class TrainingPlan:
    phases: tuple[TrainingPhase, ...]
    synthetic: Any | None = None  # the synthetic examples the plan uses (saved and plotted beside the results)

    @property
    def num_synthetic(self) -> int:
        return 0 if self.synthetic is None else len(self.synthetic)


class AugmentStrategy(abc.ABC):
    """Builds the augmented model's training plan. `uses_synthetic=False` lets the pipeline skip the
    generator altogether (the real-only control)."""

    uses_synthetic: ClassVar[bool] = True

    @abc.abstractmethod
    def plan(self, real: Examples, synthetic: SyntheticSource | None, seed: int) -> TrainingPlan:
        """The phases that train the augmented model; `synthetic` is None only when `uses_synthetic` is False."""


class DrawingStrategy(AugmentStrategy):
    """A strategy that draws `ratio` synthetic examples per real one (`ratio=None`: the whole pool the
    generation stage made, e.g. the image track's filtered synthetic images)."""

    def __init__(self, ratio: float | None = 1.0):
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | float) or not ratio > 0):
            raise InvalidArgument(
                "ratio",
                ratio,
                "a number > 0 (synthetic examples per real one) or null (every synthetic example the generation "
                "stage made); for real data only use augment=none",
            )
        self.ratio = None if ratio is None else float(ratio)

    def draw(self, real: Examples, synthetic: SyntheticSource, seed: int) -> Any:
        count = None if self.ratio is None else int(round(self.ratio * len(real)))
        return synthetic.draw(count, seed)


def balanced_labels(total: int, num_classes: int, seed: int) -> np.ndarray:
    """`total` labels, as equal per class as possible (the remainder goes to random classes), shuffled."""
    rng = np.random.default_rng(seed)
    counts = np.full(num_classes, total // num_classes)
    counts[rng.choice(num_classes, total % num_classes, replace=False)] += 1
    return rng.permutation(np.repeat(np.arange(num_classes), counts))
