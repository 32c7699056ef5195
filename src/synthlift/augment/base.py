"""The strategy interface shared by both tracks.

A strategy does not train anything itself: it turns the real training examples and a source of synthetic
ones into a `TrainingPlan` — the phases the downstream model is fitted on, in order, each with optional
per-example loss weights. One phase of real + synthetic is plain mixing; synthetic then real is
pre-training followed by fine-tuning; weights down-weight synthetic examples. The downstream models
(`synthlift.downstream`) fit any plan, so a new strategy is one module and one yaml.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from synthlift.core.errors import ConfigError, InvalidArgument


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
    """One fit of the downstream model, continuing from the weights the previous phase left.

    `domains` (0 = real, 1 = synthetic per example) asks the model for domain-adversarial training: a domain
    head learns to tell the two apart through a gradient-reversal layer of strength `reversal_weight`, so
    the features the label head reads are pushed to carry no trace of where an example came from.
    """

    examples: Any
    weights: np.ndarray | None = None  # per-example loss weights (None = every example counts 1)
    name: str = "train"
    domains: np.ndarray | None = None
    reversal_weight: float = 0.0

    def __post_init__(self) -> None:
        for what, values in (("weights", self.weights), ("domains", self.domains)):
            if values is not None and len(values) != len(self.examples):
                raise ValueError(f"phase {self.name!r}: {len(values)} {what} for {len(self.examples)} examples")


@dataclass(frozen=True)
class TrainingPlan:
    phases: tuple[TrainingPhase, ...]
    synthetic: Any | None = None  # the synthetic examples the plan uses (saved and plotted beside the results)
    diagnostics: Mapping[str, float] = field(default_factory=dict)  # e.g. a filter's keep rate, for results.json

    @property
    def num_synthetic(self) -> int:
        return 0 if self.synthetic is None else len(self.synthetic)


# The real-only model's class probabilities for a set of examples ((n, classes) array): what a strategy
# may consult to judge synthetic examples (e.g. `augment=filter`). Never trained on anything but real data.
Teacher = Callable[[Any], np.ndarray]


# What a strategy may need beyond examples and a source; a track states what it provides, so that a
# strategy it cannot serve fails at start-up, naming the missing piece.
CLASS_LABELS = "one class label per example and a class-conditional synthetic source"
TEACHER = "the real-only model's class probabilities"
DOMAIN_HEAD = "a downstream model with a domain-adversarial head"


class AugmentStrategy(abc.ABC):
    """Builds the augmented model's training plan. `uses_synthetic=False` lets the pipeline skip the
    generator altogether (the real-only control); `requires` lists what beyond examples it needs."""

    uses_synthetic: ClassVar[bool] = True
    requires: ClassVar[frozenset[str]] = frozenset()

    def check_track(self, provides: frozenset[str], key: str = "augment") -> None:
        """Refuse, before any work, a track that lacks something this strategy needs."""
        if missing := sorted(self.requires - provides):
            raise ConfigError(f"{key}={type(self).__name__} needs {' and '.join(missing)}, which this track lacks")

    @abc.abstractmethod
    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        """The phases that train the augmented model; `synthetic` is None only when `uses_synthetic` is False.
        `teacher` is the real-only model's judgement, for strategies that select synthetic examples."""


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
