"""Perceptual distances and GAN inversion, against a tiny generator defined here."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.build import build
from synthlift.core.errors import ConfigError
from synthlift.data.image.transforms import to_uint8_images
from synthlift.generators.image.base import GANGenerator
from synthlift.generators.image.stylegan import StyleGenerator
from synthlift.inversion.encoder import (
    EncoderInversion,
    InversionEncoder,
    finetune_encoder_perceptual,
    invert,
    reconstruction_quality,
    train_encoder_on_pairs,
)
from synthlift.inversion.optimize import optimize_latents
from synthlift.perceptual.discriminator import DiscriminatorPerceptual
from synthlift.perceptual.efficientnet import EfficientNetPerceptual
from synthlift.perceptual.lpips import LPIPSPerceptual


class TinyGenerator(GANGenerator):
    """z -> MLP -> w -> 4x4 map -> two upsampling convs -> 16x16 image."""

    def __init__(self, z_dim: int = 8, w_dim: int = 8, resolution: int = 16) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.feature_channels = [16, 8]
        self.mapping_net = nn.Sequential(nn.Linear(z_dim, 32), nn.LeakyReLU(0.2), nn.Linear(32, w_dim))
        self.const = nn.Linear(w_dim, 16 * 4 * 4)
        self.block1 = nn.Conv2d(16, 16, 3, padding=1)
        self.block2 = nn.Conv2d(16, 8, 3, padding=1)
        self.to_rgb = nn.Conv2d(8, 3, 1)

    def mapping(self, z: Tensor) -> Tensor:
        return self.mapping_net(z)

    def synthesis(self, w: Tensor, return_features: bool = False):
        h = 12 * self.const(w).view(-1, 16, 4, 4)  # the gain makes images differ visibly between latents
        f1 = F.leaky_relu(self.block1(F.interpolate(h, scale_factor=2)), 0.2)
        f2 = F.leaky_relu(self.block2(F.interpolate(f1, scale_factor=2)), 0.2)
        image = torch.tanh(2 * self.to_rgb(f2))
        return (image, [f1, f2]) if return_features else image


class StubDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def features(self, x: Tensor) -> list[Tensor]:
        f1 = F.leaky_relu(self.conv1(x), 0.2)
        f2 = F.leaky_relu(self.conv2(f1), 0.2)
        return [f1, f2, f2.mean((2, 3))]


@pytest.fixture(scope="module")
def efficientnet() -> EfficientNetPerceptual:
    return EfficientNetPerceptual()


@pytest.fixture(scope="module")
def generator() -> TinyGenerator:
    torch.manual_seed(0)
    return TinyGenerator().eval()


def smooth_images(n: int, size: int, seed: int) -> Tensor:
    """Natural-ish images: upsampled coarse noise, in [-1, 1]."""
    coarse = torch.randn(n, 3, size // 8, size // 8, generator=torch.Generator().manual_seed(seed))
    return torch.tanh(F.interpolate(coarse, size=size, mode="bilinear", align_corners=False))


def test_efficientnet_distance_is_zero_on_identical_images_and_grows_with_noise(efficientnet):
    x = smooth_images(4, 32, seed=0)
    assert efficientnet(x, x).shape == (4,)
    assert efficientnet(x, x).abs().max() < 1e-6
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    distances = [efficientnet((x + level * noise).clamp(-1, 1), x) for level in (0.05, 0.2, 0.6)]
    assert all((near < far).all() for near, far in zip(distances, distances[1:], strict=False))


def test_efficientnet_is_frozen_but_passes_gradients_to_the_images(efficientnet):
    y = smooth_images(2, 32, seed=2)
    x = (y + 0.1 * torch.randn_like(y)).requires_grad_(True)
    efficientnet.train()  # a parent's train() must not unfreeze batch norm statistics
    efficientnet(x, y).sum().backward()
    assert not efficientnet.training
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    assert all(not p.requires_grad and p.grad is None for p in efficientnet.parameters())


def test_discriminator_perceptual_uses_a_frozen_copy_of_the_features():
    discriminator = StubDiscriminator()
    partial = build({"_target_": "synthlift.perceptual.discriminator.DiscriminatorPerceptual", "_partial_": True}, "p")
    assert isinstance(partial, functools.partial), "the discriminator exists only after GAN training"
    distance = partial(discriminator=discriminator)
    assert isinstance(distance, DiscriminatorPerceptual)
    y = smooth_images(3, 16, seed=3)
    x = (y + 0.3 * torch.randn_like(y)).requires_grad_(True)
    assert distance(y, y).abs().max() < 1e-6
    d = distance(x, y)
    assert d.shape == (3,) and (d > 0).all()
    d.sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.requires_grad and p.grad is None for p in discriminator.parameters())


def test_perceptual_config_errors_name_the_key_and_the_alternatives(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` fail even where installed
    with pytest.raises(ConfigError, match="install lpips.*perceptual=efficientnet or perceptual=discriminator"):
        LPIPSPerceptual()
    with pytest.raises(ConfigError, match=r"perceptual\.net='vgg16' is invalid: expected one of 'alex', 'vgg'"):
        build({"_target_": "synthlift.perceptual.lpips.LPIPSPerceptual", "net": "vgg16"}, "perceptual")
    with pytest.raises(ConfigError, match=r"perceptual\.taps=\[0, 99\] is invalid: expected .* block indices"):
        build({"_target_": "synthlift.perceptual.efficientnet.EfficientNetPerceptual", "taps": [0, 99]}, "perceptual")
    with pytest.raises(ConfigError, match="discriminator"):
        DiscriminatorPerceptual(nn.Linear(2, 2))


def test_encoder_trained_on_generated_pairs_beats_random_and_mean_latents(generator, efficientnet):
    torch.manual_seed(0)
    encoder = InversionEncoder(generator.mean_w(), width=8, num_downsamples=2, hidden_dim=32)
    assert torch.allclose(invert(encoder, smooth_images(2, 16, seed=0), 2), generator.mean_w().expand(2, -1))
    history = train_encoder_on_pairs(encoder, generator, steps=200, batch_size=16, lr=3e-3, seed=1)
    assert len(history) == 200 and sum(history[-20:]) < sum(history[:20])
    assert all(p.requires_grad for p in generator.parameters())

    with torch.no_grad():
        held_out_w = generator.mapping(torch.randn(64, 8, generator=torch.Generator().manual_seed(99)))
        images = generator.synthesis(held_out_w)
        random_w = generator.mapping(torch.randn(64, 8, generator=torch.Generator().manual_seed(7)))

        def mse(w: Tensor) -> float:
            return F.mse_loss(generator.synthesis(w), images).item()

        encoded = mse(invert(encoder, images, batch_size=16))
        assert encoded < 0.5 * mse(random_w)
        assert encoded < 0.5 * mse(generator.mean_w().expand(64, -1))
    quality = reconstruction_quality(encoder, generator, images, efficientnet, batch_size=16)
    assert quality["inversion_mse"] == pytest.approx(encoded, rel=1e-4)
    assert set(quality) == {"inversion_mse", "inversion_perceptual"}


def test_perceptual_finetuning_respects_the_step_cap(generator, efficientnet):
    encoder = InversionEncoder(generator.mean_w(), width=8, num_downsamples=2, hidden_dim=32)
    real = smooth_images(6, 16, seed=4)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    assert (
        finetune_encoder_perceptual(encoder, generator, real, efficientnet, steps=0, batch_size=4, lr=1e-3, seed=0)
        == []
    )
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())

    history = finetune_encoder_perceptual(
        encoder, generator, real, efficientnet, steps=3, batch_size=4, lr=1e-3, seed=0
    )
    assert len(history) == 3
    assert not all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


def test_latent_optimisation_never_worsens_any_image_and_improves_on_average(generator, efficientnet):
    with torch.no_grad():
        w_true = generator.mapping(torch.randn(5, 8, generator=torch.Generator().manual_seed(5)))
        images = generator.synthesis(w_true)
    # Image 0 starts at its exact latent: every Adam step leaves the optimum, so only keep-best saves it.
    w_init = torch.cat([w_true[:1], generator.mean_w().expand(4, -1)])

    @torch.no_grad()
    def losses(w: Tensor) -> Tensor:
        x_hat = generator.synthesis(w)
        return 10 * efficientnet(x_hat, images) + (x_hat - images).pow(2).flatten(1).mean(1)

    w = optimize_latents(generator, images, w_init, efficientnet, steps=15, lr=0.05)
    assert w.shape == w_init.shape
    start, end = losses(w_init), losses(w)
    assert (end <= start + 1e-5).all()
    assert end.mean() < 0.8 * start.mean()
    assert torch.equal(optimize_latents(generator, images, w_init, efficientnet, steps=0, lr=0.05), w_init)


def test_encoder_stage_is_cached_and_its_initial_weights_depend_on_its_seed_only(tmp_path, generator, efficientnet):
    """The cached encoder must not depend on what used the global random state before it was built (e.g.
    whether the GAN came from the cache or was just trained)."""
    inversion = EncoderInversion(width=8, num_downsamples=2, hidden_dim=32, pair_steps=5, finetune_steps=2, seed=3)
    unlabeled = to_uint8_images(smooth_images(6, 16, seed=6))
    key = {"gan": "tiny", "perceptual": "efficientnet"}

    def trained(cache_dir, global_seed: int) -> dict[str, Tensor]:
        torch.manual_seed(global_seed)
        encoder = inversion.trained_encoder(generator, efficientnet, unlabeled, cache_dir=cache_dir, key=key)
        return {k: v.clone() for k, v in encoder.state_dict().items()}

    first = trained(tmp_path / "a", global_seed=0)
    for other in (trained(tmp_path / "b", global_seed=1), trained(tmp_path / "a", global_seed=2)):
        assert first.keys() == other.keys() and all(torch.equal(first[k], other[k]) for k in first)
    assert len(list((tmp_path / "a" / "encoders").glob("*.pt"))) == 1
    # Settings that only act after the encoder (latent optimisation, batch size) reuse its cache entry.
    EncoderInversion(**{**vars(inversion), "optimize_steps": 3, "eval_batch_size": 2}).trained_encoder(
        generator, efficientnet, unlabeled, cache_dir=tmp_path / "a", key=key
    )
    assert len(list((tmp_path / "a" / "encoders").glob("*.pt"))) == 1


def test_encoder_stage_latents_refine_only_when_optimisation_is_on(generator, efficientnet):
    encoder = InversionEncoder(generator.mean_w(), width=8, num_downsamples=2, hidden_dim=32)
    images = smooth_images(3, 16, seed=8)
    plain = EncoderInversion(optimize_steps=0).latents(encoder, generator, efficientnet, images)
    assert torch.equal(plain, invert(encoder, images, batch_size=32))
    refined = EncoderInversion(optimize_steps=3).latents(encoder, generator, efficientnet, images)
    assert refined.shape == plain.shape and not torch.equal(refined, plain)
    quality = EncoderInversion().quality(encoder, generator, efficientnet, images)
    assert set(quality) == {"inversion_mse", "inversion_perceptual"}
    assert np.isfinite(list(quality.values())).all()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("pair_steps", 0, "an integer > 0"), ("finetune_steps", -1, "an integer >= 0"), ("pair_lr", 0, "a number > 0")],
)
def test_encoder_stage_config_errors_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=rf"inversion\.{key}={value} is invalid: expected {expected}"):
        build({"_target_": "synthlift.inversion.encoder.EncoderInversion", key: value}, "inversion")


@pytest.fixture(scope="module")
def style_generator() -> StyleGenerator:
    torch.manual_seed(0)
    return StyleGenerator(16, z_dim=8, w_dim=8, mapping_layers=2, base_channels=8, max_channels=16, convs_per_block=1)


def test_w_plus_gives_one_latent_per_synthesis_layer_and_fits_real_images_better(
    tmp_path, style_generator, efficientnet
):
    generator = style_generator.eval()
    assert generator.num_ws == 6  # 4, 8 and 16 px blocks: one conv and one toRGB each
    unlabeled = to_uint8_images(smooth_images(6, 16, seed=6))
    stage = EncoderInversion(latent_space="w_plus", width=8, num_downsamples=2, hidden_dim=32, pair_steps=5)
    encoder = stage.trained_encoder(generator, efficientnet, unlabeled, cache_dir=tmp_path, key={"gan": "style"})
    images = smooth_images(4, 16, seed=9)
    w_plus = stage.latents(encoder, generator, efficientnet, images)
    assert w_plus.shape == (4, 6, 8)

    # Same start, same steps: the per-layer latents reach closer to images the generator cannot make exactly.
    w_start = generator.mean_w().expand(4, -1)
    fits = {}
    for space, start in (("w", w_start), ("w_plus", w_start.unsqueeze(1).expand(-1, 6, -1))):
        w = optimize_latents(generator, images, start, efficientnet, steps=20, lr=0.05)
        with torch.no_grad():
            fits[space] = (generator.synthesis(w) - images).pow(2).mean().item()
    assert fits["w_plus"] < fits["w"], fits


def test_w_plus_needs_a_generator_with_per_layer_latents(tmp_path, generator, efficientnet):
    stage = EncoderInversion(latent_space="w_plus", pair_steps=1, finetune_steps=0)
    with pytest.raises(ConfigError, match=r"inversion\.latent_space=w_plus needs .* TinyGenerator has a single w"):
        stage.trained_encoder(generator, efficientnet, np.zeros((2, 16, 16, 3), np.uint8), cache_dir=tmp_path, key={})
    with pytest.raises(ConfigError, match=r"inversion\.latent_space='z' is invalid: expected one of 'w', 'w_plus'"):
        build({"_target_": "synthlift.inversion.encoder.EncoderInversion", "latent_space": "z"}, "inversion")
