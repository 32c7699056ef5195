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

from synthlift.core.errors import ConfigError, DegenerateResultError, InvalidArgument
from synthlift.core.resources import check_fits, nbytes


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

    @property
    def option(self) -> str:
        """The name a user gives on the command line (`augment=filter`): `conf/augment/` mirrors this package."""
        return type(self).__module__.rsplit(".", 1)[-1]

    def check_track(self, provides: frozenset[str], key: str = "augment") -> None:
        """Refuse, before any work, a track that lacks something this strategy needs."""
        if missing := sorted(self.requires - provides):
            raise ConfigError(f"{key}={self.option} needs {' and '.join(missing)}, which this track lacks")

    def measurable_plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        """`plan`, refused when a strategy that uses synthetic data ends up with none of it.

        Such a plan trains the augmented model on the real data alone, so its "lift" compares the real-only
        model with a retrain of itself: a measurement of nothing that would read as "+0.00 points" and be
        averaged into the report. Whatever the reason (a filter nothing passes, a ratio that rounds to zero,
        an empty synthetic pool), the run is recorded as failed with it, the way a diverged GAN is."""
        plan = self.plan(real, synthetic, seed, teacher)
        if self.uses_synthetic and plan.num_synthetic == 0:
            raise self.no_synthetic_error(real, self.why_no_synthetic(real, synthetic, plan))
        return plan

    def no_synthetic_error(self, real: Examples, reason: str) -> DegenerateResultError:
        return DegenerateResultError(
            f"augment={self.option} used no synthetic example for {len(real)} real ones, so there is no lift to "
            f"measure: {reason}"
        )

    def why_no_synthetic(self, real: Examples, synthetic: SyntheticSource | None, plan: TrainingPlan) -> str:
        """What to change when `plan` drew no synthetic example (strategies that select say why they did)."""
        return "raise augment.ratio, or check that the generation stage produced synthetic examples"

    @abc.abstractmethod
    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        """The phases that train the augmented model; `synthetic` is None only when `uses_synthetic` is False.
        `teacher` is the real-only model's judgement, for strategies that select synthetic examples."""


# Copies of the synthetic examples a drawing strategy holds beyond its draw: the real + synthetic training set
# joined from them, and the downstream model's tensors of that set.
_JOINED_COPIES = 2


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

    def why_no_synthetic(self, real: Examples, synthetic: SyntheticSource | None, plan: TrainingPlan) -> str:
        return "augment.ratio=null takes the whole synthetic pool, and it is empty: check the generation stage's filter"

    def synthetic_count(
        self, real: Examples, synthetic: SyntheticSource, candidates_per_example: int = 1
    ) -> int | None:
        """How many synthetic examples `ratio` asks for beside `real` (None: the whole pool). Refused before any
        is drawn when the ratio rounds to none (there would be no lift to measure) or they would not fit in
        memory: the count is only known now (it scales with the real training set), and a generator would
        otherwise sample until the kernel kills the job.
        `candidates_per_example`: how many a strategy that selects draws for each example it keeps."""
        if self.ratio is None:
            return None
        count = int(round(self.ratio * len(real)))
        if count == 0:
            reason = f"augment.ratio={self.ratio:g} x {len(real)} real examples rounds to 0; raise augment.ratio"
            raise self.no_synthetic_error(real, reason)
        # A source that makes examples on demand says what making one costs; drawing from a finite pool (the
        # image track's) takes a view of it, which costs nothing until the training set is joined.
        drawing = getattr(synthetic, "drawing_bytes_per_example", None)
        joined = _JOINED_COPIES * nbytes(real) / max(len(real), 1)  # a synthetic example is shaped like a real one
        check_fits(
            "augment.ratio",
            self.ratio,
            items=count,
            item=f"synthetic examples ({self.ratio:g} per real one)",
            bytes_per_item=candidates_per_example * (drawing() if drawing else 0) + joined,
            counting=f"sampling {candidates_per_example} candidate(s) with the generator's working memory, then "
            f"{_JOINED_COPIES} copies in the joined training set",
        )
        return count

    def draw(self, real: Examples, synthetic: SyntheticSource, seed: int) -> Any:
        return synthetic.draw(self.synthetic_count(real, synthetic), seed)


def balanced_labels(total: int, num_classes: int, seed: int) -> np.ndarray:
    """`total` labels, as equal per class as possible (the remainder goes to random classes), shuffled."""
    rng = np.random.default_rng(seed)
    counts = np.full(num_classes, total // num_classes)
    counts[rng.choice(num_classes, total % num_classes, replace=False)] += 1
    return rng.permutation(np.repeat(np.arange(num_classes), counts))
