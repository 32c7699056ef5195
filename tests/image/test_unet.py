"""U-Net shapes, heatmap targets, flip consistency, seeding, training plans (phases in order, per-example
weights), and that training really learns."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from pytorch_lightning import seed_everything
from torch.utils.data import DataLoader, TensorDataset

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.core.build import build
from synthlift.core.errors import ConfigError
from synthlift.core.paths import CONF_DIR
from synthlift.core.trainer import make_trainer
from synthlift.data.image.examples import DenseExamples
from synthlift.data.image.transforms import keypoint_heatmaps
from synthlift.downstream.unet import DenseTaskModel, DenseUNet, UNet, dense_heads, evaluate_dense_model, hflip

TRAINER_CFG = {"accelerator": "cpu", "devices": 1}


def small_unet(base_channels: int, depth: int = 2) -> functools.partial:
    """A `DenseUNet.network`, as hydra builds it from a `_partial_: true` node."""
    return functools.partial(UNet, base_channels=base_channels, depth=depth)


CFG = {
    "network": small_unet(8),
    "lr": 1e-2,
    "weight_decay": 0.0,
    "batch_size": 8,
    "max_steps": 80,
    "heatmap_sigma": 1.0,
    "loss_weights": {"seg": 1.0, "keypoints": 1.0, "depth": 1.0},
    "flip": False,
}


def plan(*phases: tuple[torch.Tensor, dict], weights: list | None = None) -> TrainingPlan:
    """A plan of (images, labels) phases; `weights[i]` (or None) weighs phase i's examples."""
    weights = weights or [None] * len(phases)
    return TrainingPlan(
        tuple(
            TrainingPhase(DenseExamples(images, labels), w, name=f"phase{i}")
            for i, ((images, labels), w) in enumerate(zip(phases, weights, strict=True))
        )
    )


def fit(images, labels, heads, cfg, seed):
    return DenseUNet(**cfg).fit(plan((images, labels)), heads, TRAINER_CFG, seed)


def flat_weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


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
    untrained = evaluate_dense_model(DenseTaskModel(heads, small_unet(8)), test_images, test_labels, 2)
    model = fit(images, labels, heads, CFG, seed=0)
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
    cfg = {**CFG, "network": small_unet(4), "max_steps": 2, "flip": True}
    runs = [fit(images, labels, heads, cfg, seed) for seed in (3, 3, 4)]
    weights = [flat_weights(run) for run in runs]
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
        fit(images, {**labels, "depth": None}, {"seg": 2, "depth": 1}, CFG, 0)
    with pytest.raises(ConfigError, match=r"downstream\.max_steps=None is invalid: expected .*or set max_epochs"):
        build({"_target_": "synthlift.downstream.unet.DenseUNet", "max_steps": None}, "downstream")


def test_network_is_a_partial_from_yaml_and_its_bad_values_name_the_key():
    node = OmegaConf.load(CONF_DIR / "downstream" / "image" / "unet.yaml")
    dense = build(node, "downstream")
    assert isinstance(dense.network, functools.partial) and dense.network.func is UNet
    assert dense.network.keywords == {"base_channels": 16, "depth": 3}
    assert DenseUNet().network.keywords == dense.network.keywords  # the dataclass default is the yaml's
    net = dense.network(heads={"seg": 3})
    assert isinstance(net, UNet) and net.heads["seg"].in_channels == 16 and len(net.down) == 4
    state = torch.random.get_rng_state()
    build(node, "downstream")  # the trial build of the network leaves the RNG where it was
    assert torch.equal(state, torch.random.get_rng_state())
    bad = {
        "network.base_channels=0": r"downstream\.network\.base_channels=0 is invalid: expected an integer > 0",
        "network.depth=-1": r"downstream\.network\.depth=-1 is invalid: expected an integer >= 0",
        "+network.width=3": r"network\.width is not a known key; the known keys of network are: in_channels, "
        r"base_channels, depth",
        "network=3": r"downstream\.network=3 is invalid: expected a network partial \(_target_ \+ _partial_: true\)",
    }
    for override, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            build(OmegaConf.merge(node, OmegaConf.from_dotlist([override.lstrip("+")])), "downstream")


def reference_fit(phases, heads, cfg, seed, steps):
    """The U-Net fit as it was before plans existed (seed, build, then one Lightning fit of `steps[i]` steps
    per data set)."""
    seed_everything(seed, workers=True, verbose=False)
    model = DenseTaskModel(heads, cfg["network"], cfg["lr"], cfg["weight_decay"], cfg["loss_weights"], 1.0)
    for (images, labels), phase_steps in zip(phases, steps, strict=True):
        data = TensorDataset(images.float(), *(labels[name] for name in ("masks", "keypoints", "depth")))
        trainer = make_trainer({**TRAINER_CFG, "max_steps": phase_steps}, -1)
        trainer.fit(model, DataLoader(data, batch_size=cfg["batch_size"], shuffle=True))
    return model


def test_plan_phases_run_in_order_continuing_the_weights_and_share_the_step_budget():
    first, second = _toy(8, seed=0), _toy(8, seed=1)
    heads = {"seg": 2, "keypoints": 1, "depth": 1}
    cfg = {**CFG, "network": small_unet(4), "max_steps": 5}
    unet = DenseUNet(**cfg)
    one_phase = unet.fit(plan(first), heads, TRAINER_CFG, seed=0)
    assert torch.equal(flat_weights(one_phase), flat_weights(reference_fit([first], heads, cfg, 0, [5])))
    # Two phases share the 5 steps (2 + 3): synthetic pre-training cannot win by training longer.
    in_order = unet.fit(plan(first, second), heads, TRAINER_CFG, seed=0)
    assert torch.equal(flat_weights(in_order), flat_weights(reference_fit([first, second], heads, cfg, 0, [2, 3])))
    reversed_order = unet.fit(plan(second, first), heads, TRAINER_CFG, seed=0)
    assert not torch.equal(flat_weights(in_order), flat_weights(reversed_order))
    assert not torch.equal(flat_weights(in_order), flat_weights(one_phase))


def test_weighted_loss_scales_each_examples_terms():
    images, labels = _toy(4, seed=2)
    torch.manual_seed(0)
    model = DenseTaskModel({"seg": 2, "keypoints": 1, "depth": 1}, small_unet(4), heatmap_sigma=1.0)
    out = model(images)
    weights = torch.tensor([0.0, 1.0, 2.0, 0.5])
    weighted = model.task_losses(out, labels, weights)
    unweighted = model.task_losses(out, labels)
    ones = model.task_losses(out, labels, torch.ones(4))
    for task in unweighted:
        torch.testing.assert_close(ones[task], unweighted[task])  # weights of 1 are no weights
    seg = F.cross_entropy(out["seg"], labels["masks"], reduction="none").mean((1, 2))
    torch.testing.assert_close(weighted["seg"], (weights * seg).mean())
    valid = (labels["depth"] > 0).float()
    depth = ((out["depth"] - labels["depth"]).abs() * valid).sum((1, 2))
    torch.testing.assert_close(weighted["depth"], (weights * depth).sum() / valid.sum())


def test_a_phase_with_zero_weights_leaves_the_parameters_unchanged():
    first, second = _toy(8, seed=0), _toy(8, seed=1)
    heads = {"seg": 2, "keypoints": 1, "depth": 1}
    unet = DenseUNet(**{**CFG, "network": small_unet(4), "max_steps": 4})  # no weight decay: a zero loss moves nothing
    alone = DenseUNet(**{**CFG, "network": small_unet(4), "max_steps": 2}).fit(plan(first), heads, TRAINER_CFG, seed=0)
    ignored = unet.fit(plan(first, second, weights=[None, np.zeros(8)]), heads, TRAINER_CFG, seed=0)
    assert torch.equal(flat_weights(alone), flat_weights(ignored))
    counted = unet.fit(plan(first, second, weights=[None, np.ones(8)]), heads, TRAINER_CFG, seed=0)
    assert not torch.equal(flat_weights(alone), flat_weights(counted))
