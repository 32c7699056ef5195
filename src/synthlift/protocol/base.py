"""The `protocol` group: how the text track's classifier is trained for each arm of a comparison.

A lift is only honest if the real-only baseline is as well trained as the augmented model: a baseline
with untuned regularisation, or one that takes fewer optimisation steps because it has fewer examples,
makes any extra data look useful. A protocol fits a classifier on a training plan, with the validation set
for whatever it chooses, and reports its choices; the pipeline calls it once per arm, independently.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from synthlift.augment.base import TrainingPlan
from synthlift.data.text.examples import EmbeddedExamples
from synthlift.downstream.classifier import ClassifierNet, EmbeddingClassifier


@dataclass(frozen=True)
class FittedClassifier:
    model: ClassifierNet
    choices: dict[str, float]  # the hyper-parameters the protocol used, for results.json


class TrainingProtocol(abc.ABC):
    @abc.abstractmethod
    def fit(
        self,
        classifier: EmbeddingClassifier,
        plan: TrainingPlan,
        val: EmbeddedExamples,
        num_classes: int,
        seed: int,
    ) -> FittedClassifier:
        """Train `classifier` on `plan`; `val` may select hyper-parameters, the test set never."""
