"""Quality metrics against numbers worked out by hand: PRDC (Naeem et al. 2020), the classifier two-sample
test and distance to closest record, on small sets whose answer is known exactly or in the limit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from synthlift.core.build import build
from synthlift.core.errors import InvalidArgument
from synthlift.core.results import Unmeasured
from synthlift.data.text.examples import EmbeddedExamples
from synthlift.metrics.base import QualityMetrics, RealReference
from synthlift.metrics.c2st import ClassifierTwoSampleTest
from synthlift.metrics.dcr import DistanceToClosestRecord
from synthlift.metrics.kid import KernelInceptionDistance
from synthlift.metrics.prdc import PRDC, prdc

NAMES = ("neg", "pos")


def gaussian(count: int, seed: int, shift: float = 0.0, swap_labels: bool = False, dim: int = 8) -> EmbeddedExamples:
    """Two classes, 4 apart along every dimension, the whole cloud moved by `shift`; `swap_labels` gives each
    class the other's points (the overall cloud unchanged, every class wrong)."""
    rng = np.random.default_rng(seed)
    y = np.arange(count) % 2
    x = rng.normal(size=(count, dim)) + 4.0 * (1 - y if swap_labels else y)[:, None] + shift
    return EmbeddedExamples(x.astype(np.float32), y)


@dataclass(frozen=True)
class Gaussian:
    """A SyntheticSource stub drawing fresh `gaussian` samples for every seed."""

    shift: float = 0.0
    swap_labels: bool = False

    def draw(self, count: int, seed: int) -> EmbeddedExamples:
        return gaussian(count, seed + 1000, self.shift, self.swap_labels)


@dataclass(frozen=True)
class Pool:
    """A SyntheticSource stub handing out the first `count` of fixed examples, whatever the seed."""

    examples: EmbeddedExamples

    def draw(self, count: int, seed: int) -> EmbeddedExamples:
        return self.examples.subset(np.arange(count))


def reference(train: EmbeddedExamples, test: EmbeddedExamples | None = None, **kwargs) -> RealReference:
    return RealReference(train, train if test is None else test, 2, seed=0, **kwargs)


def column(values: list[float], label: int = 0) -> EmbeddedExamples:
    """1-d points, all of one class."""
    return EmbeddedExamples(np.array(values, dtype=np.float32)[:, None], np.full(len(values), label))


# --- PRDC ---


def test_prdc_by_hand_on_four_points_with_k_1():
    # real 0, 1, 3, 9: distance to the nearest other real point (k = 1) is 1, 1, 2, 6.
    # synthetic 0.5, 1.5, 2.5, 20: radii 1, 1, 1, 17.5.
    # precision: 0.5, 1.5 and 2.5 lie in a real ball, 20 does not -> 3/4.
    # recall: every real point lies in a synthetic ball (9 in the outlier 20's ball of 17.5) -> 1.
    # density: real balls holding 0.5: {0, 1}; 1.5: {1, 3}; 2.5: {3}; 20: none -> 5 / (k x 4).
    # coverage: the nearest synthetic point is inside the real ball for 0, 1, 3, not for 9 (6.5 > 6) -> 3/4.
    expected = {"precision": 0.75, "recall": 1.0, "density": 1.25, "coverage": 0.75}
    real, synthetic = column([0, 1, 3, 9]), column([0.5, 1.5, 2.5, 20])
    assert prdc(real.x, synthetic.x, k=1) == pytest.approx(expected, abs=1e-12)
    one_class = RealReference(real, real, 1, seed=0, class_names=("all",))
    results = PRDC(nearest_k=1).evaluate(one_class, Pool(synthetic))
    assert results == pytest.approx(expected), "one class: no per-class keys repeating the overall ones"


def test_prdc_of_a_set_against_itself_is_one_and_of_far_apart_sets_zero():
    real = gaussian(200, seed=0)
    same = PRDC().evaluate(reference(real, class_names=NAMES), Pool(real))
    keys = [f"{key}{suffix}" for key in ("precision", "recall", "density", "coverage") for suffix in ("", "_class_neg")]
    assert {key: same[key] for key in keys} == pytest.approx(dict.fromkeys(keys, 1.0), abs=1e-12)
    far = PRDC().evaluate(reference(real, class_names=NAMES), Gaussian(shift=100.0))
    assert {key: far[key] for key in keys} == dict.fromkeys(keys, 0.0)


def test_prdc_per_class_catches_swapped_labels_that_the_overall_cloud_hides():
    real = gaussian(400, seed=0)
    results = PRDC().evaluate(reference(real, class_names=NAMES), Gaussian(swap_labels=True))
    assert results["coverage"] > 0.9 and results["density"] > 0.7
    for name in NAMES:
        assert results[f"coverage_class_{name}"] < 0.05 and results[f"precision_class_{name}"] < 0.05


def test_prdc_names_classes_by_index_without_names_and_leaves_small_classes_unmeasured():
    x = gaussian(23, seed=0).x
    real = EmbeddedExamples(x, np.array([0] * 20 + [1] * 3))  # class 1: 3 real examples <= nearest_k = 5
    results = PRDC().evaluate(reference(real), Gaussian())
    assert isinstance(results["precision_class_0"], float) and isinstance(results["coverage"], float)
    for key in ("precision", "recall", "density", "coverage"):
        value = results[f"{key}_class_1"]
        assert isinstance(value, Unmeasured) and "3 real" in value.reason and "nearest_k=5" in value.reason


# --- classifier two-sample test ---


def test_c2st_is_chance_for_one_distribution_and_one_for_far_apart_sets():
    real = gaussian(400, seed=0)
    same = ClassifierTwoSampleTest().evaluate(reference(real, class_names=NAMES), Gaussian())
    assert {key: same[key] for key in ("c2st_acc", "c2st_acc_class_neg", "c2st_acc_class_pos")} == pytest.approx(
        dict.fromkeys(("c2st_acc", "c2st_acc_class_neg", "c2st_acc_class_pos"), 0.5), abs=0.08
    )
    far = ClassifierTwoSampleTest().evaluate(reference(real, class_names=NAMES), Gaussian(shift=20.0))
    assert far["c2st_acc"] == far["c2st_acc_class_neg"] == far["c2st_acc_class_pos"] == 1.0


def test_c2st_per_class_separates_swapped_labels_and_skips_classes_smaller_than_the_folds():
    real = gaussian(400, seed=0)
    swapped = ClassifierTwoSampleTest().evaluate(reference(real, class_names=NAMES), Gaussian(swap_labels=True))
    assert swapped["c2st_acc"] == pytest.approx(0.5, abs=0.08)
    assert swapped["c2st_acc_class_neg"] > 0.95 and swapped["c2st_acc_class_pos"] > 0.95
    small = EmbeddedExamples(real.x[:23], np.array([0] * 20 + [1] * 3))
    results = ClassifierTwoSampleTest(folds=4).evaluate(reference(small), Gaussian())
    assert isinstance(results["c2st_acc_class_0"], float)
    assert isinstance(results["c2st_acc_class_1"], Unmeasured) and "4-fold" in results["c2st_acc_class_1"].reason


# --- distance to closest record ---


def test_dcr_by_hand_on_two_points():
    # train 1, 11; held-out 2, 13 -> closest-record distances 1, 2 (median 1.5, 1% quantile 1.01).
    # synthetic 1 (a copy), 9.5 -> distances 0, 1.5 (median 0.75): ratio 0.5, one exact and one near copy.
    train, holdout, synthetic = column([1, 11]), column([2, 13]), column([1, 9.5])
    results = DistanceToClosestRecord().evaluate(RealReference(train, holdout, 1, seed=0), Pool(synthetic))
    assert results == pytest.approx(
        {
            "dcr_synthetic_median": 0.75,
            "dcr_holdout_median": 1.5,
            "dcr_ratio": 0.5,
            "exact_copies": 0.5,
            "near_copies": 0.5,
        }
    )


def test_dcr_counts_copied_training_rows_and_is_about_one_for_fresh_samples():
    train, test = gaussian(200, seed=0, dim=32), gaussian(200, seed=1, dim=32)
    fresh = gaussian(200, seed=2, dim=32)
    copied = EmbeddedExamples(np.concatenate([train.x[:50], fresh.x[50:]]), fresh.y)  # 50 of 200 copy a row
    leaky = DistanceToClosestRecord().evaluate(reference(train, test), Pool(copied))
    assert leaky["exact_copies"] == 0.25 and leaky["near_copies"] >= 0.25 and leaky["dcr_ratio"] < 1
    clean = DistanceToClosestRecord().evaluate(reference(train, test), Pool(fresh))
    assert clean["exact_copies"] == 0 and clean["near_copies"] < 0.1 and clean["dcr_ratio"] == pytest.approx(1, abs=0.1)


def test_dcr_ratio_is_unmeasured_when_held_out_rows_duplicate_the_training_rows():
    train = gaussian(20, seed=0)
    results = DistanceToClosestRecord().evaluate(reference(train, train), Gaussian())
    assert results["dcr_holdout_median"] == 0.0
    assert isinstance(results["dcr_ratio"], Unmeasured) and "duplicate a training row" in results["dcr_ratio"].reason


# --- arguments and wiring ---


# --- KID ---


def test_kid_is_about_zero_for_one_distribution_and_grows_with_the_shift():
    real = reference(gaussian(200, seed=0), gaussian(200, seed=1))
    kid = KernelInceptionDistance(subsets=20, subset_size=50)
    same, near, far = (kid.evaluate(real, Gaussian(shift))["kid"] for shift in (0.0, 0.5, 2.0))
    real_floor = kid.evaluate(real, Gaussian())["kid_real"]
    assert abs(same) < 0.1 * near and abs(real_floor) < 0.1 * near  # unbiased: centred on 0, not positive
    assert near < far


def test_kid_is_unmeasured_with_fewer_than_two_samples():
    results = KernelInceptionDistance().evaluate(reference(gaussian(10, seed=0), gaussian(1, seed=1)), Gaussian())
    assert set(results) == {"kid", "kid_std", "kid_real"}
    assert all(isinstance(value, Unmeasured) and "at least 2" in value.reason for value in results.values())


@pytest.mark.parametrize(
    ("metric", "argument", "value"),
    [
        (PRDC, "nearest_k", 0),
        (ClassifierTwoSampleTest, "folds", 1),
        (ClassifierTwoSampleTest, "folds", 2.5),
        (DistanceToClosestRecord, "near_copy_quantile", 1.0),
        (KernelInceptionDistance, "subset_size", 0),
    ],
)
def test_impossible_arguments_are_refused_naming_the_key(metric, argument, value):
    with pytest.raises(InvalidArgument, match=rf"^{argument}={value!r} is invalid"):
        metric(**{argument: value})


def test_class_names_must_match_the_number_of_classes():
    real = gaussian(10, seed=0)
    with pytest.raises(ValueError, match="1 class names for 2 classes"):
        reference(real, class_names=("only",))


def test_the_default_metrics_compose_build_and_report_distinct_keys(compose_config):
    metrics = compose_config("text").metrics
    quality = QualityMetrics({name: build(node, f"metrics.{name}") for name, node in metrics.items()})
    assert {"synthetic_as_test", "diversity", "prdc", "c2st", "dcr"} <= set(quality.metrics)
    real = reference(gaussian(60, seed=0), class_names=NAMES, baseline_evaluate=lambda *_: {"acc": 0.5})
    results = quality.evaluate(real, Gaussian())
    expected = {"precision", "coverage_class_pos", "c2st_acc", "c2st_acc_class_neg", "dcr_ratio", "exact_copies"}
    assert expected <= set(results)
