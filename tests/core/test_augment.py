"""Each augment strategy builds the training plan it claims, on any track's examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from synthlift.augment.base import TrainingPhase, balanced_labels
from synthlift.augment.dann import SYNTHETIC_DOMAIN, DomainAdversarial
from synthlift.augment.filter import ConfidenceFilter
from synthlift.augment.mix import Mix
from synthlift.augment.none import RealOnly
from synthlift.augment.rebalance import Rebalance
from synthlift.augment.replace import Replace
from synthlift.augment.synthetic_pretrain import SyntheticPretrain
from synthlift.augment.weighted import Weighted
from synthlift.core.errors import ConfigError, DegenerateResultError, InvalidArgument
from synthlift.data.text.examples import EmbeddedExamples


@dataclass
class Items:
    """Minimal Examples: a list of tags, so tests can see exactly which examples a phase holds."""

    tags: list[str]

    def __len__(self) -> int:
        return len(self.tags)

    def concat(self, other: Items) -> Items:
        return Items(self.tags + other.tags)


class RecordingSource:
    """A synthetic source that remembers what it was asked for."""

    def __init__(self, pool: int | None = None):
        self.pool, self.calls = pool, []

    def draw(self, count, seed):
        self.calls.append((count, seed))
        return Items([f"s{i}" for i in range(self.pool if count is None else count)])


REAL = Items(["r0", "r1", "r2", "r3"])


def test_real_only_trains_on_the_real_examples_and_needs_no_generator():
    plan = RealOnly().plan(REAL, None, seed=0)
    assert not RealOnly.uses_synthetic and plan.num_synthetic == 0
    assert [phase.examples.tags for phase in plan.phases] == [REAL.tags]


def test_mix_is_one_phase_of_real_then_ratio_times_as_many_synthetic():
    source = RecordingSource()
    plan = Mix(ratio=1.5).plan(REAL, source, seed=7)
    assert source.calls == [(6, 7)]  # round(1.5 x 4) synthetic examples, drawn with the run's seed
    assert [phase.examples.tags for phase in plan.phases] == [REAL.tags + [f"s{i}" for i in range(6)]]
    assert plan.num_synthetic == 6 and plan.phases[0].weights is None


def test_replace_trains_on_synthetic_examples_only():
    plan = Replace(ratio=0.5).plan(REAL, RecordingSource(), seed=1)
    assert [phase.examples.tags for phase in plan.phases] == [["s0", "s1"]]


def test_ratio_null_takes_the_whole_synthetic_pool():
    source = RecordingSource(pool=9)
    plan = Mix(ratio=None).plan(REAL, source, seed=0)
    assert source.calls == [(None, 0)] and plan.num_synthetic == 9


@pytest.mark.parametrize("ratio", [0, -1, True, "2"])
def test_an_impossible_ratio_names_the_argument(ratio):
    with pytest.raises(InvalidArgument, match=rf"ratio={ratio!r} is invalid: expected a number > 0"):
        Mix(ratio=ratio)


def test_a_phase_refuses_weights_that_do_not_match_its_examples():
    TrainingPhase(REAL, weights=np.ones(4))
    with pytest.raises(ValueError, match="3 weights for 4 examples"):
        TrainingPhase(REAL, weights=np.ones(3))


def test_balanced_labels_are_as_equal_as_possible_and_seeded():
    labels = balanced_labels(10, 3, seed=4)
    assert sorted(np.bincount(labels, minlength=3)) == [3, 3, 4]
    assert np.array_equal(labels, balanced_labels(10, 3, seed=4))


def test_weighted_gives_real_examples_weight_one_and_synthetic_ones_their_weight():
    (phase,) = Weighted(ratio=0.5, synthetic_weight=0.25).plan(REAL, RecordingSource(), seed=0).phases
    assert phase.examples.tags == ["r0", "r1", "r2", "r3", "s0", "s1"]
    assert phase.weights.tolist() == [1, 1, 1, 1, 0.25, 0.25]


def test_synthetic_pretrain_runs_synthetic_first_then_real():
    plan = SyntheticPretrain(ratio=1.0).plan(REAL, RecordingSource(), seed=0)
    assert [phase.examples.tags for phase in plan.phases] == [["s0", "s1", "s2", "s3"], REAL.tags]
    assert plan.synthetic.tags == ["s0", "s1", "s2", "s3"]


def test_dann_marks_each_example_with_its_domain_and_the_reversal_strength():
    (phase,) = DomainAdversarial(ratio=0.5, reversal_weight=0.3).plan(REAL, RecordingSource(), seed=0).phases
    assert phase.domains.tolist() == [0, 0, 0, 0, SYNTHETIC_DOMAIN, SYNTHETIC_DOMAIN]
    assert phase.reversal_weight == 0.3


class LabelSource:
    """A class-conditional source: embedding = (label, draw index), so tests can see what was drawn."""

    num_classes = 2

    def draw_labels(self, labels, seed):
        labels = np.asarray(labels, dtype=np.int64)
        return EmbeddedExamples(np.stack([labels, np.arange(len(labels)) + 100 * seed], 1).astype(np.float32), labels)


def test_rebalance_fills_only_the_minority_class_up_to_the_majority():
    real = EmbeddedExamples(np.zeros((12, 2), np.float32), np.array([0] * 2 + [1] * 10))
    plan = Rebalance(fraction=1.0).plan(real, LabelSource(), seed=0)
    assert plan.synthetic.y.tolist() == [0] * 8
    assert np.bincount(plan.phases[0].examples.y).tolist() == [10, 10]
    assert len(Rebalance(fraction=0.5).plan(real, LabelSource(), seed=0).synthetic) == 3


def test_filter_keeps_only_confident_samples_of_their_conditioned_label_with_equal_quotas():
    real = EmbeddedExamples(np.zeros((8, 2), np.float32), np.arange(8) % 2)

    def teacher(examples):  # confident in the conditioned label for even draw indices only
        confident = examples.x[:, 1] % 2 == 0
        p_label = np.where(confident, 0.95, 0.4)
        probabilities = np.empty((len(examples), 2))
        probabilities[np.arange(len(examples)), examples.y] = p_label
        probabilities[np.arange(len(examples)), 1 - examples.y] = 1 - p_label
        return probabilities

    for passes in ("agrees", "confident"):
        strategy = ConfidenceFilter(ratio=1.0, passes=passes, min_confidence=0.8, oversample=2)
        plan = strategy.plan(real, LabelSource(), 0, teacher)
        assert len(plan.synthetic) == 8 and np.bincount(plan.synthetic.y).tolist() == [4, 4]
        assert (plan.synthetic.x[:, 1] % 2 == 0).all()
        assert plan.diagnostics["filter_pass_rate"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="real-only model"):
        ConfidenceFilter().plan(real, LabelSource(), 0, teacher=None)
    with pytest.raises(InvalidArgument, match="passes"):
        ConfidenceFilter(passes="threshold")


def test_the_default_filter_does_not_depend_on_the_scale_of_the_probabilities():
    """A strongly regularised real-only model (its weight decay is tuned) is never 0.8 sure of anything; the
    default keeps the candidates it reads as their label, the most probable first, as a fixed threshold cannot."""
    real = EmbeddedExamples(np.zeros((4, 2), np.float32), np.arange(4) % 2)

    def timid_teacher(examples):  # p(conditioned label): 0.45 for every third draw, else in (0.5, 0.6) by draw index
        index = examples.x[:, 1]
        p_label = np.where(index % 3 == 0, 0.45, 0.5 + 0.1 * index / 12)
        probabilities = np.empty((len(examples), 2))
        probabilities[np.arange(len(examples)), examples.y] = p_label
        probabilities[np.arange(len(examples)), 1 - examples.y] = 1 - p_label
        return probabilities

    # 2 per class wanted, 6 candidates each: class 0 draws 0-5, class 1 draws 6-11; draws 0, 3, 6, 9 disagree.
    plan = ConfidenceFilter(ratio=1.0, oversample=3).plan(real, LabelSource(), 0, timid_teacher)
    assert plan.synthetic.x[:, 1].tolist() == [4, 5, 10, 11] and plan.synthetic.y.tolist() == [0, 0, 1, 1]
    assert plan.diagnostics["filter_pass_rate"] == pytest.approx(8 / 12)
    strict = ConfidenceFilter(ratio=1.0, passes="confident", min_confidence=0.8, oversample=3, max_rounds=1)
    assert len(strict.plan(real, LabelSource(), 0, timid_teacher).synthetic) == 0


def test_filter_with_nothing_passing_is_no_measurement_and_says_what_to_lower():
    real = EmbeddedExamples(np.zeros((4, 2), np.float32), np.arange(4) % 2)
    never_confident = lambda ex: np.full((len(ex), 2), 0.5)  # noqa: E731
    always_the_other_class = lambda ex: np.eye(2)[1 - ex.y]  # noqa: E731
    for strategy, teacher, says in (
        (ConfidenceFilter(passes="confident", max_rounds=2), never_confident, r"min_confidence=0\.8"),
        (ConfidenceFilter(max_rounds=2), always_the_other_class, r"passes=agrees \(the real-only model's most"),
    ):
        plan = strategy.plan(real, LabelSource(), 0, teacher=teacher)
        assert len(plan.synthetic) == 0 and plan.diagnostics == {"filter_pass_rate": 0.0, "filter_candidates": 24}
        with pytest.raises(DegenerateResultError, match=rf"no synthetic example.*none of 24 candidates.*{says}"):
            strategy.measurable_plan(real, LabelSource(), 0, teacher=teacher)


def test_rebalance_on_balanced_data_is_no_measurement_and_names_the_class_counts():
    balanced = EmbeddedExamples(np.zeros((6, 2), np.float32), np.arange(6) % 2)
    with pytest.raises(DegenerateResultError, match=r"class counts \[3, 3\].*augment=mix"):
        Rebalance(fraction=1.0).measurable_plan(balanced, LabelSource(), seed=0)


def test_a_ratio_that_rounds_to_no_synthetic_example_is_no_measurement():
    with pytest.raises(
        DegenerateResultError,
        match=r"augment=mix used no synthetic example.*augment.ratio=0.01 x 4 real examples rounds to 0",
    ):
        Mix(ratio=0.01).measurable_plan(REAL, RecordingSource(), seed=0)
    assert RealOnly().measurable_plan(REAL, None, seed=0).num_synthetic == 0  # the control uses none by design
