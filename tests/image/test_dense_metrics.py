"""Dense metrics against hand-computed values, and batched accumulation equal to one-shot."""

from __future__ import annotations

import math

import pytest
import torch

from synthlift.metrics.dense import PCK, DenseMetrics, dense_metrics


def test_iou_hand_computed_with_absent_class():
    target = torch.tensor([[[0, 0, 1], [0, 1, 1]]])
    pred = torch.tensor([[[0, 0, 0], [0, 1, 1]]])
    out = dense_metrics({"seg": pred}, {"masks": target}, num_classes=3, class_names=["bg", "fg", "hair"])
    # class 0: |{00,01,10}∩{00,01,02,10}| / |∪| = 3/4; class 1: |{02,11,12}∩{11,12}| / 3 = 2/3
    assert out["iou_bg"] == pytest.approx(0.75)
    assert out["iou_fg"] == pytest.approx(2 / 3)
    assert math.isnan(out["iou_hair"])  # absent from both: undefined, not 0 or 1
    assert out["miou"] == pytest.approx((0.75 + 2 / 3) / 2)
    assert out["pixel_acc"] == pytest.approx(5 / 6)
    assert set(out) == {"miou", "pixel_acc", "iou_bg", "iou_fg", "iou_hair"}


def test_class_only_predicted_counts_as_zero():
    target = torch.zeros(1, 2, 3, dtype=torch.long)
    pred = torch.tensor([[[0, 0, 0], [0, 0, 2]]])
    out = dense_metrics({"seg": pred}, {"masks": target}, num_classes=3)
    assert out["iou_0"] == pytest.approx(5 / 6) and out["iou_2"] == 0.0 and math.isnan(out["iou_1"])
    assert out["miou"] == pytest.approx(5 / 12)


def _heatmaps_with_peaks(peaks, size=20):
    heatmaps = torch.zeros(1, len(peaks), size, size)
    for k, (x, y) in enumerate(peaks):
        heatmaps[0, k, y, x] = 1.0
    return heatmaps


def test_pck_threshold_and_visibility():
    # 20 px image: threshold 0.1 * 20 = 2 px. Peaks at x=12; gt 1.95 px away (in), 2.05 px away (out),
    # and an invisible keypoint predicted far off, which must not count.
    heatmaps = _heatmaps_with_peaks([(12, 3), (12, 7), (0, 0)])
    keypoints = torch.tensor([[[10.05, 3.0, 1.0], [9.95, 7.0, 1.0], [15.0, 15.0, 0.0]]])
    metric = PCK()
    metric.update(heatmaps, keypoints)
    assert metric.compute().item() == pytest.approx(0.5)
    assert metric.total.item() == 2


def test_pck_diagonal_and_ref_size():
    heatmaps = _heatmaps_with_peaks([(6, 6)])
    keypoints = torch.tensor([[[5.0, 5.0, 1.0]]])  # sqrt(2) = 1.41 px away
    assert PCK()(heatmaps, keypoints).item() == 1.0
    assert PCK(ref_size=10.0)(heatmaps, keypoints).item() == 0.0  # 0.1 * 10 = 1 px


def test_depth_rmse_absrel_ignore_invalid_pixels():
    gt = torch.tensor([[[2.0, 2.0, 2.0], [2.0, 0.0, 0.0]]])  # two invalid (gt = 0) pixels
    pred = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]]])
    out = dense_metrics({"depth": pred}, {"depth": gt, "masks": None}, num_classes=None)
    assert out == {"depth_rmse": pytest.approx(math.sqrt(1.5)), "depth_absrel": pytest.approx(0.5)}


def test_batched_accumulation_equals_one_shot():
    g = torch.Generator().manual_seed(0)
    n, c, k, h, w = 10, 4, 3, 8, 12
    pred = {
        "seg": torch.randn(n, c, h, w, generator=g),
        "keypoints": torch.randn(n, k, h, w, generator=g),
        "depth": torch.rand(n, h, w, generator=g) + 0.5,
    }
    xy = torch.rand(n, k, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0])
    target = {
        "masks": torch.randint(0, c, (n, h, w), generator=g),
        "keypoints": torch.cat((xy, torch.randint(0, 2, (n, k, 1), generator=g).float()), -1),
        "depth": torch.rand(n, h, w, generator=g) + 0.5,
    }
    one_shot = dense_metrics(pred, target, num_classes=c)
    metrics = DenseMetrics(["seg", "keypoints", "depth"], num_classes=c)
    for batch in (slice(0, 3), slice(3, 4), slice(4, 10)):
        metrics.update({key: v[batch] for key, v in pred.items()}, {key: v[batch] for key, v in target.items()})
    batched = metrics.compute()
    assert (
        set(batched)
        == set(one_shot)
        == {"miou", "pixel_acc", "pck", "depth_rmse", "depth_absrel"} | {f"iou_{i}" for i in range(c)}
    )
    for key, value in one_shot.items():
        assert batched[key] == pytest.approx(value, rel=1e-5), key


def test_only_available_tasks_reported():
    pred = {
        "seg": torch.randn(2, 3, 4, 4),
        "keypoints": torch.randn(2, 2, 4, 4),
        "depth": torch.rand(2, 4, 4),
    }
    target = {"masks": torch.randint(0, 3, (2, 4, 4)), "keypoints": None, "depth": None}
    assert set(dense_metrics(pred, target, num_classes=3)) == {"miou", "pixel_acc", "iou_0", "iou_1", "iou_2"}
