"""`metrics=text/c2st`: a classifier two-sample test (Lopez-Paz & Oquab 2017, "Revisiting Classifier
Two-Sample Tests", ICLR): can a classifier tell synthetic embeddings from real ones?

If it cannot, the generator has matched what that classifier sees of the real data; the held-out accuracy
of the real-versus-synthetic classifier says by how much it has not: about 0.5 when the two are
indistinguishable, towards 1 when they are separable. It needs no density estimate and reads in one number.
The classifier is a logistic regression on standardised embeddings, so the test sees the directions along
which the two sets differ on average (samples in the wrong region, or of the wrong class when run per class),
not a difference in spread alone: PRDC and the diversity ratio cover that. The accuracy is measured by
stratified k-fold cross-validation (`folds`), so every example is scored once by a model that never saw it.

Keys: `c2st_acc` (real training examples against as many synthetic samples) and `c2st_acc_class_<name>`
(real class c against synthetic class c). The score is balanced accuracy: equal to accuracy when the two
sets are equally large (the overall test), and still 0.5 at chance within a class whose real count differs
from the label-balanced synthetic draw.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from synthlift.augment.base import SyntheticSource
from synthlift.core.checks import positive_int
from synthlift.core.errors import InvalidArgument
from synthlift.core.results import Unmeasured
from synthlift.metrics.base import QualityMetric, RealReference

SEED_OFFSET = 4  # the samples' seed is the run's + this, so they differ from the training samples


class ClassifierTwoSampleTest(QualityMetric):
    def __init__(self, folds: int = 5):
        self.folds = positive_int("folds", folds)
        if self.folds < 2:
            raise InvalidArgument("folds", folds, "an integer >= 2 (cross-validation needs a held-out fold)")

    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        seed = real.seed + SEED_OFFSET
        samples = synthetic.draw(len(real.train), seed)
        results = {"c2st_acc": self.accuracy(real.train.x, samples.x, seed, "over all classes")}
        for name, real_x, synthetic_x in real.by_class(samples):
            results[f"c2st_acc_class_{name}"] = self.accuracy(real_x, synthetic_x, seed, f"in class {name}")
        return results

    def accuracy(self, real: np.ndarray, synthetic: np.ndarray, seed: int, where: str) -> float | Unmeasured:
        """Cross-validated balanced accuracy of logistic regression telling `real` (0) from `synthetic` (1)."""
        if min(len(real), len(synthetic)) < self.folds:
            return Unmeasured(
                f"{len(real)} real and {len(synthetic)} synthetic examples {where}: stratified {self.folds}-fold "
                f"cross-validation needs at least {self.folds} of each"
            )
        x = np.concatenate([real, synthetic])
        is_synthetic = np.concatenate([np.zeros(len(real), dtype=int), np.ones(len(synthetic), dtype=int)])
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        folds = StratifiedKFold(self.folds, shuffle=True, random_state=seed)
        return float(cross_val_score(model, x, is_synthetic, cv=folds, scoring="balanced_accuracy").mean())
