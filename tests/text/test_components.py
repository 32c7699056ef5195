"""Text-track components on their own: quality metrics compute what they claim and refuse clashes, and a new
generator is one class plus one config node — registered nowhere — that runs through the whole pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.core.results import Unmeasured
from synthlift.data.text.examples import EmbeddedExamples, GeneratorSource
from synthlift.downstream.classifier import EmbeddingClassifier
from synthlift.generators.text.base import TextFitContext, TextGenerator, TextTrainData
from synthlift.metrics.base import QualityMetric, QualityMetrics, RealReference
from synthlift.metrics.diversity import Diversity, mean_pairwise_distance
from synthlift.metrics.synthetic_as_test import SyntheticAsTest
from synthlift.pipelines.text import run_text_experiment


def toy(n: int = 40, seed: int = 0) -> EmbeddedExamples:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return EmbeddedExamples((rng.normal(size=(n, 4)) + 3.0 * y[:, None]).astype(np.float32), y)


class ResampleRows(TextGenerator):
    """A complete generator in a few lines, registered nowhere: each sample is a random same-class training row."""

    def __init__(self, tag: str = "demo"):
        self.tag = tag

    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        self.x, self.y = train.x, train.y
        return {f"fitted_{self.tag}": 1.0}

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return self.x[[rng.choice(np.flatnonzero(self.y == label)) for label in labels]]


def test_a_new_generator_is_one_class_and_one_config_node(compose_config, tmp_path):
    cfg = compose_config("text", "experiment=text/smoke", "logger=none", f"paths.cache_dir={tmp_path}")
    cfg.gan = OmegaConf.create({"_target_": f"{__name__}.ResampleRows", "tag": "rows"})  # what a gan yaml would hold
    result = run_text_experiment(cfg, tmp_path)
    metrics = result["metrics"]
    assert metrics["fitted_rows"] == 1.0 and result["sizes"]["synthetic"] == result["sizes"]["train_real"]
    assert metrics["lift"] == pytest.approx(metrics["acc_augmented"] - metrics["acc_real_only"])
    assert metrics["diversity_ratio"] > 0 and 0 <= metrics["synthetic_as_test_acc"] <= 1
    assert (tmp_path / "synthetic.npz").exists()


def fitted_source(real: EmbeddedExamples) -> GeneratorSource:
    generator = ResampleRows()
    generator.fit(TextTrainData([], real.x, real.y, ["a", "b"], embedder=None), context=None)
    return GeneratorSource(generator, 2, real.x.shape[1])


def test_diversity_is_one_for_copies_and_below_one_for_collapsed_samples():
    real = toy()
    reference = RealReference(real, real, 2, seed=0)
    copies = Diversity().evaluate(reference, fitted_source(real))
    assert copies["diversity_real"] == pytest.approx(mean_pairwise_distance(real.x, real.y))
    assert 0.7 < copies["diversity_ratio"] < 1.3  # resampled copies: same spread up to duplicates
    collapsed = GeneratorSource(ResampleRows(), 2, real.x.shape[1])
    collapsed.generator.x, collapsed.generator.y = np.tile(real.x[:2], (20, 1)), np.tile([0, 1], 20)
    assert Diversity().evaluate(reference, collapsed)["diversity_ratio"] == pytest.approx(0.0)
    single = EmbeddedExamples(real.x[:2], real.y[:2])  # one example per class: no within-class distance
    assert isinstance(Diversity().evaluate(RealReference(single, real, 2, 0), collapsed)["diversity_ratio"], Unmeasured)


def test_synthetic_as_test_scores_the_real_only_model_on_synthetic_samples():
    real = toy()
    classifier = EmbeddingClassifier(lr=0.05, batch_size=8)
    plan = TrainingPlan((TrainingPhase(real),))
    baseline = classifier.fit(plan, 2, seed=0, weight_decays=[0.0], phase_steps=[25])
    reference = RealReference(real, real, 2, 0, baseline, classifier.evaluate)
    assert SyntheticAsTest().evaluate(reference, fitted_source(real))["synthetic_as_test_acc"] > 0.9


def test_two_metrics_reporting_the_same_key_are_refused():
    class Constant(QualityMetric):
        def evaluate(self, real, synthetic):
            return {"diversity_ratio": 1.0}

    metrics = QualityMetrics({"diversity": Diversity(), "constant": Constant()})
    real = toy()
    with pytest.raises(ValueError, match=r"metrics.constant reports \['diversity_ratio'\]"):
        metrics.evaluate(RealReference(real, real, 2, 0), fitted_source(real))
