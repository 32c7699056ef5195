"""The report figures: valid PNGs from small inputs, including the degenerate one-seed case."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from synthlift.core.plots import _subsample, plot_budget_curve, plot_embedding_tsne, plot_forest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5000, "suspiciously small: an empty figure?"
    assert not list(path.parent.glob(".*.tmp")), "the atomic write left a temporary file"


def test_tsne_of_real_and_synthetic_writes_png(tmp_path: Path):
    rng = np.random.default_rng(0)
    real_x = rng.normal(size=(40, 16))
    synthetic_x = rng.normal(scale=0.2, size=(30, 4, 4))  # any per-sample shape is flattened
    path = tmp_path / "tsne.png"
    plot_embedding_tsne(
        real_x,
        rng.integers(0, 3, 40),
        synthetic_x,
        rng.integers(0, 3, 30),
        ["neg", "neu", "pos"],
        path,
        max_points=50,
    )
    _assert_png(path)


def test_tsne_rejects_too_few_points(tmp_path: Path):
    with pytest.raises(ValueError, match="at least 3 points"):
        plot_embedding_tsne(np.zeros((1, 2)), [0], np.zeros((1, 2)), [0], ["a"], tmp_path / "t.png")


@pytest.mark.parametrize(
    ("n_real", "n_synthetic", "expected"),
    [(100, 1000, (25, 25)), (10, 1000, (10, 40)), (1000, 5, (45, 5)), (3, 4, (3, 4))],
)
def test_subsample_balances_sources_within_budget(n_real, n_synthetic, expected):
    real_idx, synthetic_idx = _subsample(n_real, n_synthetic, 50, np.random.default_rng(0))
    assert (len(real_idx), len(synthetic_idx)) == expected
    assert len(set(real_idx)) == len(real_idx) and real_idx.max() < n_real


def test_forest_plot_panels_with_one_seed_and_no_seeds(tmp_path: Path):
    rows = [
        ("gan=dcgan, tricks=all, a very long override list that must be shortened", 1.2, 0.4, 2.0, "helps"),
        ("gan=dcgan, tricks=none", 0.5, math.nan, math.nan, "too few seeds"),  # one seed: a dot, no CI
        ("gan=big", math.nan, math.nan, math.nan, "not measured"),  # every run failed: left out
        ("gan=tiny", -0.2, -0.6, 0.3, "equivalent"),
    ]
    path = tmp_path / "sub" / "forest.png"
    plot_forest({"MR": rows, "CR": rows[:2]}, path, margin=1.0, title="lift (pts)")
    _assert_png(path)
    single = tmp_path / "single.png"
    plot_forest({"": rows}, single, margin=1.0, title="one panel")
    _assert_png(single)


def test_budget_curve_one_line_per_method(tmp_path: Path):
    curve = {"smote": [(8, 2.0, 0.5, 3.5), (16, 1.0, -0.2, 2.2), (50, 0.1, -1.0, 1.2)], "cvae": [(8, -0.5, -2, 1)]}
    path = tmp_path / "budget.png"
    plot_budget_curve({"horse": curve, "faces": {"smote": curve["smote"]}}, path, margin=1.0, title="lift vs labels")
    _assert_png(path)
