"""Each augment strategy builds the training plan it claims, on any track's examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from synthlift.augment.base import TrainingPhase, balanced_labels
from synthlift.augment.mix import Mix
from synthlift.augment.none import RealOnly
from synthlift.augment.replace import Replace
from synthlift.core.errors import InvalidArgument


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
