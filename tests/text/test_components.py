"""Text-track components on their own: the classifier fits any training plan (phases in order, weights in
the loss), quality metrics compute what they claim and refuse clashes, and a new generator is one class
plus one config node — registered nowhere — that runs through the whole pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.core.results import Unmeasured
from synthlift.data.text.examples import EmbeddedExamples, GeneratorSource
from synthlift.downstream.classifier import ClassifierNet, EmbeddingClassifier
from synthlift.generators.text.base import TextFitContext, TextGenerator, TextTrainData
from synthlift.metrics.base import QualityMetric, QualityMetrics, RealReference
from synthlift.metrics.diversity import Diversity, mean_pairwise_distance
from synthlift.metrics.synthetic_as_test import SyntheticAsTest
from synthlift.pipelines.text import run_text_experiment

TRAINER = {"accelerator": "cpu", "devices": 1}


def toy(n: int = 40, seed: int = 0) -> EmbeddedExamples:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return EmbeddedExamples((rng.normal(size=(n, 4)) + 3.0 * y[:, None]).astype(np.float32), y)


def one_phase(examples, weights=None) -> TrainingPlan:
    return TrainingPlan((TrainingPhase(examples, weights),))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # called outside a Trainer on purpose
def test_weights_reach_the_loss():
    net = ClassifierNet(4, 2, [], 0.0, 1e-2, 0.0)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 0, 1])
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 1.0, 0.0])
    expected = (F.cross_entropy(net(x), y, reduction="none") * w).mean()
    assert torch.allclose(net.training_step((x, y, w), 0), expected)
    assert torch.allclose(net.training_step((x, y), 0), F.cross_entropy(net(x), y))


def test_zero_weights_teach_nothing_and_phases_run_in_order():
    classifier = EmbeddingClassifier(lr=0.1, weight_decay=0.0, batch_size=8, max_epochs=20)
    data = toy()
    untrained = classifier.fit(one_phase(data, np.zeros(len(data))), 2, TRAINER, seed=0)
    torch.manual_seed(0)  # what seed_everything(0) gives the first draw: the initial weights
    reference = ClassifierNet(4, 2, [], 0.0, 0.1, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(untrained.parameters(), reference.parameters(), strict=True))

    flipped = EmbeddedExamples(data.x, 1 - data.y)
    first_real = classifier.fit(TrainingPlan((TrainingPhase(flipped), TrainingPhase(data))), 2, TRAINER, seed=0)
    first_flipped = classifier.fit(TrainingPlan((TrainingPhase(data), TrainingPhase(flipped))), 2, TRAINER, seed=0)
    score = lambda model: classifier.evaluate(model, data.x, data.y, 2)["acc"]  # noqa: E731
    assert score(first_real) > 0.9 > 0.1 > score(first_flipped), "the last phase is what the model keeps"


class Jitter(TextGenerator):
    """A complete generator in a dozen lines: each sample is a random same-class training example plus noise."""

    def __init__(self, scale: float = 0.1):
        self.scale = scale

    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        self.x, self.y = train.x, train.y
        return {"jitter_scale": self.scale}

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        rows = [rng.choice(np.flatnonzero(self.y == label)) for label in labels]
        return (self.x[rows] + self.scale * rng.normal(size=(len(rows), self.x.shape[1]))).astype(np.float32)


def test_a_new_generator_is_one_class_and_one_config_node(compose_config, tmp_path):
    cfg = compose_config("text", "experiment=text/smoke", "logger=none", f"paths.cache_dir={tmp_path}")
    cfg.gan = OmegaConf.create({"_target_": f"{__name__}.Jitter", "scale": 0.05})  # what gan/text/jitter.yaml holds
    result = run_text_experiment(cfg, tmp_path)
    metrics = result["metrics"]
    assert metrics["jitter_scale"] == 0.05 and result["sizes"]["synthetic"] == result["sizes"]["train_real"]
    assert metrics["lift"] == pytest.approx(metrics["acc_augmented"] - metrics["acc_real_only"])
    assert metrics["diversity_ratio"] > 0 and 0 <= metrics["synthetic_as_test_acc"] <= 1
    assert (tmp_path / "synthetic.npz").exists()


def fitted_source(real: EmbeddedExamples, scale: float) -> GeneratorSource:
    generator = Jitter(scale)
    generator.fit(TextTrainData([], real.x, real.y, ["a", "b"], embedder=None), context=None)
    return GeneratorSource(generator, 2)


def test_diversity_is_one_for_copies_and_below_one_for_collapsed_samples():
    real = toy()
    reference = RealReference(real, real, 2, seed=0)
    copies = Diversity().evaluate(reference, fitted_source(real, 0.0))
    assert copies["diversity_real"] == pytest.approx(mean_pairwise_distance(real.x, real.y))
    assert 0.7 < copies["diversity_ratio"] < 1.3  # resampled copies: same spread up to duplicates
    collapsed = GeneratorSource(Jitter(0.0), 2)
    collapsed.generator.x, collapsed.generator.y = np.tile(real.x[:2], (20, 1)), np.tile([0, 1], 20)
    assert Diversity().evaluate(reference, collapsed)["diversity_ratio"] == pytest.approx(0.0)
    single = EmbeddedExamples(real.x[:2], real.y[:2])  # one example per class: no within-class distance
    assert isinstance(Diversity().evaluate(RealReference(single, real, 2, 0), collapsed)["diversity_ratio"], Unmeasured)


def test_synthetic_as_test_scores_the_real_only_model_on_synthetic_samples():
    real = toy()
    classifier = EmbeddingClassifier(lr=0.05, batch_size=8, max_epochs=5)
    baseline = classifier.fit(one_phase(real), 2, TRAINER, seed=0)
    reference = RealReference(real, real, 2, 0, baseline, classifier.evaluate)
    assert SyntheticAsTest().evaluate(reference, fitted_source(real, 0.0))["synthetic_as_test_acc"] > 0.9


def test_two_metrics_reporting_the_same_key_are_refused():
    class Constant(QualityMetric):
        def evaluate(self, real, synthetic):
            return {"diversity_ratio": 1.0}

    metrics = QualityMetrics({"diversity": Diversity(), "constant": Constant()})
    real = toy()
    with pytest.raises(ValueError, match=r"metrics.constant reports \['diversity_ratio'\]"):
        metrics.evaluate(RealReference(real, real, 2, 0), fitted_source(real, 0.1))
