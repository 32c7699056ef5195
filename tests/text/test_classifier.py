"""The text classifier and the training protocols: weights, phases and domain labels act as claimed, the
grid of copies is the same as separate fits, and the tuned protocol chooses on validation within a step
budget that does not grow with the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.data.text.examples import EmbeddedExamples
from synthlift.downstream.classifier import ClassifierNet, EmbeddingClassifier, GradientReversal
from synthlift.protocol.paper import PaperProtocol
from synthlift.protocol.tuned import TunedProtocol


def toy(n: int = 40, seed: int = 0, shift: float = 3.0) -> EmbeddedExamples:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return EmbeddedExamples((rng.normal(size=(n, 4)) + shift * y[:, None]).astype(np.float32), y)


def one_phase(examples, weights=None) -> TrainingPlan:
    return TrainingPlan((TrainingPhase(examples, weights),))


def test_weights_reach_the_loss_and_each_copy_gets_its_own_l2_term():
    net = ClassifierNet(4, 2, [], 0.0, copies=2)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 0, 1])
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 1.0, 0.0])
    decays = torch.tensor([0.0, 0.3])
    squared = sum(p[1].pow(2).sum() for p in net.parameters())
    expected = 2 * (F.cross_entropy(net(x)[0], y, reduction="none") * w).mean() + 0.15 * squared
    assert torch.allclose(net.loss(x, y, w, None, 0.0, decays), expected)


def test_gradient_reversal_flips_the_sign_of_the_gradient():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    (GradientReversal.apply(x, 0.5) * torch.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [-1.5, -2.0]


def test_domain_labels_add_the_domain_loss_and_the_reversal_reaches_the_features():
    net = ClassifierNet(4, 2, [8], 0.0)
    x, y, domains = torch.randn(6, 4), torch.tensor([0, 1] * 3), torch.tensor([0, 0, 0, 1, 1, 1])
    plain = net.loss(x, y, None, None, 0.0, torch.zeros(1))
    with_domains = net.loss(x, y, None, domains, 1.0, torch.zeros(1))
    assert with_domains > plain
    hidden_weight = net.hidden[0]
    grads = {}
    for reversal in (0.0, 1.0):
        net.zero_grad()
        (net.loss(x, y, None, domains, reversal, torch.zeros(1)) - plain.detach()).backward()
        grads[reversal] = hidden_weight.grad.clone()
    net.zero_grad()
    net.loss(x, y, None, None, 0.0, torch.zeros(1)).backward()
    label_only = hidden_weight.grad.clone()
    # With reversal weight 1 the domain head's gradient reaches the features with its sign flipped.
    assert torch.allclose(grads[0.0], label_only)
    assert not torch.allclose(grads[1.0], label_only)


def test_zero_weights_teach_nothing_and_the_last_phase_is_what_the_model_keeps():
    classifier = EmbeddingClassifier(lr=0.1, batch_size=8)
    data = toy()
    untrained = classifier.fit(one_phase(data, np.zeros(len(data))), 2, 0, weight_decays=[0.0], phase_steps=[50])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        reference = ClassifierNet(4, 2, [], 0.0)
    assert all(torch.equal(a, b) for a, b in zip(untrained.parameters(), reference.parameters(), strict=True))

    flipped = EmbeddedExamples(data.x, 1 - data.y)

    def fitted(*phases):
        plan = TrainingPlan(tuple(TrainingPhase(p) for p in phases))
        return classifier.fit(plan, 2, 0, weight_decays=[0.0], phase_steps=[60] * len(phases))

    score = lambda model: classifier.evaluate(model, data.x, data.y, 2)["acc"]  # noqa: E731
    assert score(fitted(flipped, data)) > 0.9 > 0.1 > score(fitted(data, flipped))


def test_a_copy_of_the_grid_is_the_model_that_weight_decay_trains_alone():
    # (without dropout: with it, each copy draws its own masks)
    classifier = EmbeddingClassifier(hidden_sizes=[8], dropout=0.0, lr=0.05, batch_size=8)
    plan, decays = one_phase(toy()), [0.0, 1e-2, 1e-1]
    grid = classifier.fit(plan, 2, 3, weight_decays=decays, phase_steps=[30])
    alone = classifier.fit(plan, 2, 3, weight_decays=[decays[2]], phase_steps=[30])
    x = torch.as_tensor(toy(seed=1).x)
    assert torch.allclose(grid.select(2)(x), alone(x), atol=1e-5)
    assert not torch.allclose(grid.select(0)(x), alone(x), atol=1e-3)


def test_fitting_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    EmbeddingClassifier(dropout=0.5, hidden_sizes=[4]).fit(one_phase(toy()), 2, 0, weight_decays=[0], phase_steps=[5])
    assert torch.equal(torch.rand(3), expected)


class StepCounter(EmbeddingClassifier):
    def fit(self, plan, num_classes, seed, **kwargs):
        self.phase_steps = list(kwargs["phase_steps"])
        return super().fit(plan, num_classes, seed, **kwargs)


def test_tuned_protocol_budget_is_steps_shared_by_phases_whatever_the_data_size():
    protocol = TunedProtocol(weight_decays=[0.0, 0.1], max_steps=40, eval_every=10)
    classifier = StepCounter(batch_size=8)
    for size in (20, 80):
        protocol.fit(classifier, one_phase(toy(size)), toy(20, seed=1), 2, seed=0)
        assert classifier.phase_steps == [40]
    two_phases = TrainingPlan((TrainingPhase(toy(20)), TrainingPhase(toy(80))))
    protocol.fit(classifier, two_phases, toy(20, seed=1), 2, seed=0)
    assert classifier.phase_steps == [20, 20]
    PaperProtocol().fit(classifier, two_phases, toy(20, seed=1), 2, seed=0)
    assert classifier.phase_steps == [100 * 3, 100 * 10], "the paper's epochs: more data, more steps"


def test_tuned_protocol_returns_the_snapshot_with_the_best_validation_accuracy():
    train, val = toy(20, shift=1.0), toy(200, seed=1, shift=1.0)
    classifier = EmbeddingClassifier(lr=0.05, batch_size=8)
    protocol = TunedProtocol(weight_decays=[0.0, 1e-2, 1.0], max_steps=60, eval_every=5)
    fitted = protocol.fit(classifier, one_phase(train), val, 2, seed=0)
    assert fitted.choices["weight_decay"] in (0.0, 1e-2, 1.0) and 5 <= fitted.choices["steps"] <= 60
    assert classifier.evaluate(fitted.model, val.x, val.y, 2)["acc"] == pytest.approx(fitted.choices["val_acc"])
    every_candidate = [
        classifier.evaluate(classifier.fit(one_phase(train), 2, 0, weight_decays=[d], phase_steps=[s]), val.x, val.y, 2)
        for d in (0.0, 1e-2, 1.0)
        for s in range(5, 61, 5)
    ]
    assert fitted.choices["val_acc"] == pytest.approx(max(c["acc"] for c in every_candidate))


def test_evaluate_reports_balanced_accuracy_as_mean_recall():
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[1.0, 0.0]]).expand(len(x), -1)

    scores = EmbeddingClassifier.evaluate(Constant(), np.zeros((10, 2)), np.array([0] * 8 + [1] * 2), 2)
    assert scores["acc"] == pytest.approx(0.8) and scores["balanced_acc"] == pytest.approx(0.5)
    assert scores["predicted_classes"] == 1
