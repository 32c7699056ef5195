"""Image quality metrics run the text track's metrics in a fixed pretrained feature space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthlift.metrics.base import QualityMetrics
from synthlift.metrics.dcr import DistanceToClosestRecord
from synthlift.metrics.image_features import FeatureSource, ImageFeatureSpace
from synthlift.metrics.prdc import PRDC


def test_the_feature_source_draws_without_replacement_and_at_most_the_pool():
    source = FeatureSource(np.arange(10, dtype=np.float32)[:, None])
    drawn = source.draw(25, seed=0)
    assert len(drawn) == 10 and sorted(drawn.x[:, 0].tolist()) == list(range(10))
    assert np.array_equal(source.draw(4, seed=3).x, source.draw(4, seed=3).x) and set(drawn.y) == {0}


@pytest.fixture(scope="module")
def feature_space() -> ImageFeatureSpace:
    return ImageFeatureSpace(max_images=12, batch_size=8)


def test_features_are_fixed_pooled_and_subsampled(feature_space):
    images = torch.rand(20, 3, 16, 16) * 2 - 1
    features = feature_space.features(images, seed=0)
    assert features.shape[0] == 12 and features.dtype == np.float32 and np.isfinite(features).all()
    assert np.array_equal(features, feature_space.features(images, seed=0))


def test_copies_of_the_training_pool_are_flagged_and_match_it(feature_space):
    generator = torch.Generator().manual_seed(0)
    pool, test = (torch.rand(12, 3, 16, 16, generator=generator) * 2 - 1 for _ in range(2))
    real, source = feature_space.compare(pool, test, pool.clone(), seed=0)
    results = QualityMetrics({"prdc": PRDC(nearest_k=3), "dcr": DistanceToClosestRecord()}).evaluate(real, source)
    assert results["exact_copies"] == pytest.approx(1.0) and results["dcr_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert results["precision"] == pytest.approx(1.0) and results["coverage"] == pytest.approx(1.0)
