"""`augment=filter`: keep only the synthetic examples that the real-only model labels confidently and as
the label they were generated for, then mix them with the real data.

A conditional generator's label is a request, not a guarantee; samples that a model of the real data
reads as the other class (or cannot read at all) are the ones most likely to teach noise. Candidates are
drawn in rounds of `oversample` x the count still needed, up to `max_rounds`, with an equal quota per
class so filtering cannot unbalance the labels. If too few pass, the plan uses those that did; the keep
share of candidates that passed goes into results.json (`filter_pass_rate`, of `filter_candidates`)."""

from __future__ import annotations

import functools

import numpy as np

from synthlift.augment.base import (
    CLASS_LABELS,
    TEACHER,
    DrawingStrategy,
    Examples,
    SyntheticSource,
    Teacher,
    TrainingPhase,
    TrainingPlan,
)
from synthlift.core.checks import positive_int, unit_target
from synthlift.core.errors import ConfigError


class ConfidenceFilter(DrawingStrategy):
    requires = frozenset({CLASS_LABELS, TEACHER})

    def __init__(self, ratio: float = 1.0, min_confidence: float = 0.8, oversample: int = 3, max_rounds: int = 5):
        super().__init__(ratio)
        self.min_confidence = unit_target("min_confidence", min_confidence)
        self.oversample = positive_int("oversample", oversample)
        self.max_rounds = positive_int("max_rounds", max_rounds)

    def plan(
        self, real: Examples, synthetic: SyntheticSource | None, seed: int, teacher: Teacher | None = None
    ) -> TrainingPlan:
        if teacher is None:
            raise ConfigError(f"augment=filter needs {TEACHER}")
        if self.ratio is None:
            raise ConfigError("augment.ratio=null: augment=filter needs a number of synthetic examples per real one")
        num_classes = synthetic.num_classes
        wanted = self.synthetic_count(real, synthetic, candidates_per_example=self.oversample)
        still_needed = np.bincount(np.arange(wanted) % num_classes, minlength=num_classes)
        kept = []
        drawn_count = passed_count = 0
        for round_index in range(self.max_rounds):
            if still_needed.sum() == 0:
                break
            labels = np.repeat(np.arange(num_classes), still_needed * self.oversample)
            candidates = synthetic.draw_labels(labels, seed * 1000 + round_index)
            confident = teacher(candidates)[np.arange(len(labels)), labels] >= self.min_confidence
            drawn_count, passed_count = drawn_count + len(labels), passed_count + int(confident.sum())
            take = np.concatenate(
                [np.flatnonzero(confident & (labels == label))[: still_needed[label]] for label in range(num_classes)]
            )
            still_needed -= np.bincount(labels[take], minlength=num_classes)
            kept.append(candidates.subset(np.sort(take)))
        drawn = functools.reduce(lambda joined, more: joined.concat(more), kept)
        phase = TrainingPhase(real.concat(drawn), name="real+filtered synthetic")
        return TrainingPlan(
            (phase,),
            synthetic=drawn,
            diagnostics={"filter_pass_rate": passed_count / drawn_count, "filter_candidates": drawn_count},
        )

    def why_no_synthetic(self, real: Examples, synthetic: SyntheticSource | None, plan: TrainingPlan) -> str:
        return (
            f"none of {plan.diagnostics['filter_candidates']} candidates drawn in "
            f"augment.max_rounds={self.max_rounds} rounds passed "
            f"augment.min_confidence={self.min_confidence:g} (the real-only model's probability of the conditioned "
            f"label); lower augment.min_confidence or raise augment.max_rounds"
        )
