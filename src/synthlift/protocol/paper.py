"""`protocol=paper`: the seed paper's protocol, for reproducing its table — fixed hyper-parameters (the
classifier's `weight_decay`) and `max_epochs` passes over each phase's data, nothing chosen on validation.

Its known bias: the augmented arm trains on more examples for as many epochs, hence more optimisation
steps, and neither arm's regularisation is tuned. `protocol=tuned` (the default) removes both."""

from __future__ import annotations

from synthlift.augment.base import TrainingPlan
from synthlift.data.text.examples import EmbeddedExamples
from synthlift.downstream.classifier import EmbeddingClassifier
from synthlift.protocol.base import FittedClassifier, TrainingProtocol


class PaperProtocol(TrainingProtocol):
    def fit(
        self,
        classifier: EmbeddingClassifier,
        plan: TrainingPlan,
        val: EmbeddedExamples,
        num_classes: int,
        seed: int,
    ) -> FittedClassifier:
        steps = [classifier.epoch_steps(phase) for phase in plan.phases]
        model = classifier.fit(plan, num_classes, seed, weight_decays=[classifier.weight_decay], phase_steps=steps)
        return FittedClassifier(model, {"weight_decay": classifier.weight_decay, "steps": float(sum(steps))})
