"""The ImageNet-pretrained EfficientNet-Lite0 U-Net (the transfer-learning baseline): head shapes at 32 px and
odd sizes, offline ImageNet weights, its yaml, and training through `DenseUNet.fit`."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from omegaconf import OmegaConf

from synthlift.core.build import build
from synthlift.core.errors import ConfigError
from synthlift.core.paths import CONF_DIR
from synthlift.downstream.efficientnet_unet import EfficientNetUNet
from synthlift.downstream.unet import DenseUNet, evaluate_dense_model
from synthlift.perceptual.efficientnet import efficientnet_lite0_state
from tests.image.test_unet import TRAINER_CFG, _toy, plan

HEADS = {"seg": 5, "keypoints": 4, "depth": 1}


@pytest.mark.parametrize(("height", "width"), [(32, 32), (19, 23), (16, 16)])
def test_output_shapes_for_every_head(height, width):
    net = EfficientNetUNet(heads=HEADS, pretrained=False, decoder_channels=8).eval()
    out = net(torch.rand(2, 3, height, width) * 2 - 1)
    assert {name: tuple(t.shape) for name, t in out.items()} == {
        "seg": (2, 5, height, width),
        "keypoints": (2, 4, height, width),
        "depth": (2, height, width),
    }
    assert all(torch.isfinite(t).all() for t in out.values())


@pytest.mark.parametrize(("height", "width"), [(32, 32), (19, 23)])
def test_an_enlarged_encoder_input_keeps_the_output_at_the_images_size(height, width):
    net = EfficientNetUNet(heads=HEADS, pretrained=False, decoder_channels=8, encoder_input_size=64).eval()
    seen = []
    net.encoder.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape[-2:])))
    out = net(torch.rand(2, 3, height, width) * 2 - 1)
    assert seen == [(round(64 * height / width), 64)]  # the encoder saw the enlarged image, aspect kept
    assert {name: tuple(t.shape[-2:]) for name, t in out.items()} == {name: (height, width) for name in HEADS}
    assert all(torch.isfinite(t).all() for t in out.values())


def test_skips_are_at_strides_2_to_16_with_the_channels_of_a_dry_run():
    net = EfficientNetUNet(heads={"seg": 2}, pretrained=False)
    assert all(module.training for module in net.modules())  # the dry run left it in training mode
    assert all(bn.num_batches_tracked == 0 for bn in net.modules() if isinstance(bn, torch.nn.BatchNorm2d))
    features = net.eval().encoder(torch.zeros(1, 3, 32, 32))
    assert [(f.shape[1], f.shape[-1]) for f in features] == [(16, 16), (24, 8), (40, 4), (112, 2)]
    assert len(net.encoder.blocks) == 11  # blocks after the last tap are dropped
    assert net.up[0][0].in_channels == 112 + 40 and net.fuse[0].in_channels == 2 * 32


def test_pretrained_loads_the_offline_imagenet_weights():
    state = efficientnet_lite0_state()
    torch.manual_seed(0)
    pretrained = EfficientNetUNet(heads={"seg": 2}, pretrained=True)
    torch.manual_seed(0)
    scratch = EfficientNetUNet(heads={"seg": 2}, pretrained=False)
    assert torch.equal(pretrained.encoder.stem[0].weight, state["_conv_stem.weight"])
    assert torch.equal(pretrained.encoder.blocks[10]._project_conv.weight, state["_blocks.10._project_conv.weight"])
    assert torch.equal(pretrained.encoder.stem[1].running_mean, state["_bn0.running_mean"])
    assert not torch.equal(scratch.encoder.stem[0].weight, state["_conv_stem.weight"])
    assert pretrained.encoder.stem[0].weight.data_ptr() != state["_conv_stem.weight"].data_ptr()  # fine-tuning copies
    # ImageNet normalisation of images in [-1, 1]: mid-grey (0) is (0.5 - mean) / std.
    grey = ((torch.zeros(1, 3, 1, 1) + 1) / 2 - pretrained.encoder.mean) / pretrained.encoder.std
    torch.testing.assert_close(grey.flatten(), torch.tensor([0.0655, 0.1964, 0.4178]), atol=1e-3, rtol=0)


def test_unknown_head_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="Unknown heads"):
        EfficientNetUNet(heads={"normals": 3}, pretrained=False)
    node = OmegaConf.load(CONF_DIR / "downstream" / "image" / "unet_efficientnet.yaml")
    node.network.pretrained = False
    for key, value, message in [
        ("decoder_channels", 0, r"downstream\.network\.decoder_channels=0 is invalid: expected an integer > 0"),
        ("encoder_input_size", 0, r"downstream\.network\.encoder_input_size=0 is invalid: expected an integer > 0"),
        ("taps", [3, 16], r"downstream\.network\.taps=\[3, 16\] is invalid: expected .* block indices in 0\.\.15"),
        ("base_channels", 16, r"network\.base_channels is not a known key; .*: pretrained, decoder_channels, taps"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build(OmegaConf.merge(node, {"network": {key: value}}), "downstream")


def test_yaml_builds_the_pretrained_network_with_the_scratch_unets_training_settings():
    node = OmegaConf.load(CONF_DIR / "downstream" / "image" / "unet_efficientnet.yaml")
    scratch = OmegaConf.load(CONF_DIR / "downstream" / "image" / "unet.yaml")
    dense = build(node, "downstream")
    assert isinstance(dense.network, functools.partial) and dense.network.func is EfficientNetUNet
    assert set(dense.network.keywords) == {"pretrained", "decoder_channels", "encoder_input_size"}
    assert dense.network.keywords["pretrained"] is True
    # Only the network and the learning rate (chosen on validation by experiment=image/transfer_tuning)
    # differ from the scratch U-Net: same optimiser, steps, batch, losses.
    for key in ("network", "lr"):
        del node[key], scratch[key]
    assert node == scratch


def test_trains_through_dense_unet_fit():
    images, labels = _toy(8, seed=0)
    images = torch.nn.functional.interpolate(images, size=32, mode="nearest")
    labels = {
        "masks": labels["masks"].repeat_interleave(2, 1).repeat_interleave(2, 2),
        "keypoints": labels["keypoints"] * torch.tensor([2.0, 2.0, 1.0]),
        "depth": labels["depth"].repeat_interleave(2, 1).repeat_interleave(2, 2),
    }
    stem = efficientnet_lite0_state()["_conv_stem.weight"].clone()
    network = functools.partial(EfficientNetUNet, pretrained=True, decoder_channels=8)
    dense = DenseUNet(network=network, lr=1e-3, weight_decay=0.0, batch_size=4, max_steps=3)
    heads = {"seg": 2, "keypoints": 1, "depth": 1}
    model = dense.fit(plan((images, labels)), heads, TRAINER_CFG, seed=0)
    assert isinstance(model.net, EfficientNetUNet) and not model.training
    assert not torch.equal(model.net.encoder.stem[0].weight, stem)  # fine-tuned end to end, encoder included
    assert torch.equal(efficientnet_lite0_state()["_conv_stem.weight"], stem)  # the cached weights untouched
    out = model(images)
    losses = model.task_losses(out, labels)
    assert set(losses) == set(heads) and all(math.isfinite(v.item()) for v in losses.values())
    scores = evaluate_dense_model(model, images, labels, 2)
    assert {"miou", "pck", "depth_rmse"} <= set(scores) and all(math.isfinite(v) for v in scores.values())
