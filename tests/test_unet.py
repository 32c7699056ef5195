"""U-Net shapes, heatmap targets, flip consistency, seeding, and that training really learns."""

from __future__ import annotations

import pytest
import torch

from synthlift.data.images import keypoint_heatmaps
from synthlift.downstream.unet import (
    DenseTaskModel,
    UNet,
    dense_heads,
    evaluate_dense_model,
    fit_dense_model,
    hflip,
)

TRAINER_CFG = {"accelerator": "cpu", "devices": 1}
CFG = {
    "base_channels": 8,
    "depth": 2,
    "lr": 1e-2,
    "weight_decay": 0.0,
    "batch_size": 8,
    "max_steps": 80,
    "heatmap_sigma": 1.0,
    "loss_weights": {"seg": 1.0, "keypoints": 1.0, "depth": 1.0},
    "flip": False,
}


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize(
    "heads", [{"seg": 5, "keypoints": 4, "depth": 1}, {"seg": 3}, {"depth": 1}, {"seg": 2, "keypoints": 7}]
)
def test_unet_output_shapes(size, heads):
    out = UNet(base_channels=4, depth=3, heads=heads).eval()(torch.randn(2, 3, size, size))
    expected = {
        "seg": (2, heads.get("seg"), size, size),
        "keypoints": (2, heads.get("keypoints"), size, size),
    }
    expected["depth"] = (2, size, size)
    assert {name: tuple(t.shape) for name, t in out.items()} == {name: expected[name] for name in heads}


def test_unet_odd_size_and_unknown_head():
    out = UNet(base_channels=4, depth=2, heads={"seg": 2}).eval()(torch.randn(1, 3, 19, 23))
    assert out["seg"].shape == (1, 2, 19, 23)
    with pytest.raises(ValueError, match="Unknown heads"):
        UNet(heads={"normals": 3})


def test_keypoint_heatmaps_peak_and_invisible():
    keypoints = torch.tensor([[[3.0, 5.0, 1.0], [7.0, 2.0, 0.0]]])
    heatmaps = keypoint_heatmaps(keypoints, height=8, width=10, sigma=1.0)
    assert heatmaps.shape == (1, 2, 8, 10)
    assert heatmaps[0, 0, 5, 3] == 1.0 and heatmaps[0, 0].max() == 1.0
    assert heatmaps[0, 0, 5, 4] == pytest.approx(torch.exp(torch.tensor(-0.5)).item())
    assert heatmaps[0, 1].abs().sum() == 0


def test_hflip_keeps_labels_consistent():
    n, h, w = 2, 4, 5
    images = torch.zeros(n, 3, h, w)
    images[:, :, 2, 1] = 1.0  # bright pixel at row 2, column 1
    masks = (images[:, 0] > 0).long()
    depth = 1.0 + images[:, 0]
    keypoints = torch.tensor([[[1.0, 2.0, 1.0]], [[1.0, 2.0, 1.0]]])
    labels = {"masks": masks, "depth": depth, "keypoints": keypoints}
    flipped, out = hflip(images, labels, torch.tensor([True, False]))
    assert flipped[0, :, 2, w - 1 - 1].eq(1).all() and flipped[0].sum() == 3
    assert out["masks"][0, 2, 3] == 1 and out["masks"][0].sum() == 1 and out["depth"][0, 2, 3] == 2.0
    assert out["keypoints"][0].tolist() == [[3.0, 2.0, 1.0]]  # x -> W-1-x, y and visibility kept
    # The keypoint still sits on the bright pixel, and the unselected sample is untouched.
    x, y = out["keypoints"][0, 0, :2].long()
    assert flipped[0, 0, y, x] == 1
    assert torch.equal(flipped[1], images[1]) and torch.equal(out["keypoints"][1], keypoints[1])
    assert torch.equal(out["masks"][1], masks[1]) and torch.equal(out["depth"][1], depth[1])


def _toy(n: int, seed: int):
    """Mask = bright pixels, depth = 2 - brightness, one keypoint = centre of a red 3x3 patch."""
    g = torch.Generator().manual_seed(seed)
    gray = torch.rand(n, 1, 16, 16, generator=g) * 2 - 1
    images = gray.repeat(1, 3, 1, 1) + 0.05 * torch.randn(n, 3, 16, 16, generator=g)
    masks = (gray[:, 0] > 0.2).long()
    depth = 2.0 - gray[:, 0]
    xy = torch.randint(2, 14, (n, 2), generator=g)
    for i, (x, y) in enumerate(xy):
        images[i, :, y - 1 : y + 2, x - 1 : x + 2] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)
        masks[i, y - 1 : y + 2, x - 1 : x + 2] = 0
        depth[i, y - 1 : y + 2, x - 1 : x + 2] = 1.0
    keypoints = torch.cat((xy.float(), torch.ones(n, 1)), 1)[:, None]
    return images, {"masks": masks, "keypoints": keypoints, "depth": depth}


def test_training_learns_all_tasks():
    images, labels = _toy(32, seed=0)
    test_images, test_labels = _toy(32, seed=1)
    heads = dense_heads(labels, num_classes=2)
    assert heads == {"seg": 2, "keypoints": 1, "depth": 1}
    torch.manual_seed(0)
    untrained = evaluate_dense_model(DenseTaskModel(heads, 8, 2), test_images, test_labels, 2)
    model = fit_dense_model(images, labels, heads, CFG, TRAINER_CFG, seed=0)
    trained = evaluate_dense_model(model, test_images, test_labels, 2, ["dark", "bright"], batch_size=10)
    assert set(trained) == {
        "miou",
        "pixel_acc",
        "iou_dark",
        "iou_bright",
        "pck",
        "depth_rmse",
        "depth_absrel",
    }
    assert untrained["miou"] < 0.5 < 0.8 < trained["miou"]
    assert trained["pck"] > 0.8 > untrained["pck"]
    assert trained["depth_rmse"] < 0.5 < untrained["depth_rmse"]


def test_same_seed_same_weights_and_flip_runs():
    images, labels = _toy(8, seed=0)
    labels["depth"] = None
    heads = dense_heads(labels, num_classes=2)
    assert heads == {"seg": 2, "keypoints": 1}
    cfg = {**CFG, "base_channels": 4, "max_steps": 2, "flip": True}
    runs = [fit_dense_model(images, labels, heads, cfg, TRAINER_CFG, seed) for seed in (3, 3, 4)]
    weights = [torch.cat([p.detach().flatten() for p in run.parameters()]) for run in runs]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])
    assert set(evaluate_dense_model(runs[0], images, labels, 2)) == {
        "miou",
        "pixel_acc",
        "iou_0",
        "iou_1",
        "pck",
    }


def test_fit_rejects_heads_without_labels_or_budget():
    images, labels = _toy(4, seed=0)
    with pytest.raises(ValueError, match="no labels"):
        fit_dense_model(images, {**labels, "depth": None}, {"seg": 2, "depth": 1}, CFG, TRAINER_CFG, 0)
    with pytest.raises(ValueError, match="max_steps or max_epochs"):
        fit_dense_model(images, labels, {"seg": 2}, {**CFG, "max_steps": None}, TRAINER_CFG, 0)
