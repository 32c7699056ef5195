"""The image GAN of the HandsOff track: generator/discriminator contracts, DiffAugment, building from config
(seeded, generator before discriminator), the training switches (augmentation, R1, EMA), divergence, the
checkpoint cache, and that a tiny GAN learns."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from pytorch_lightning import seed_everything

from synthlift.core.build import build
from synthlift.core.errors import ConfigError, DataError, GANDivergedError
from synthlift.generators.image import gan as gan_module
from synthlift.generators.image.dcgan import DCGANGenerator
from synthlift.generators.image.diffaugment import diff_augment
from synthlift.generators.image.discriminator import Discriminator
from synthlift.generators.image.gan import ImageGAN
from synthlift.generators.image.stylegan import StyleGenerator

TRAINER = dict(accelerator="cpu", devices=1)
STYLE = dict(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, base_channels=8, max_channels=16, convs_per_block=1)
DISCRIMINATOR = dict(resolution=16, base_channels=8, max_channels=16)
TINY = {  # a `gan` config node, as conf/gan/image/stylegan.yaml writes it
    "_target_": "synthlift.generators.image.gan.ImageGAN",
    "generator": {"_target_": "synthlift.generators.image.stylegan.StyleGenerator", "_partial_": True, **STYLE},
    "discriminator": {
        "_target_": "synthlift.generators.image.discriminator.Discriminator",
        "_partial_": True,
        **DISCRIMINATOR,
    },
    "batch_size": 8,
    "max_steps": 3,
}
DCGAN_NODE = {
    "_target_": "synthlift.generators.image.dcgan.DCGANGenerator",
    "_partial_": True,
    "resolution": 16,
    "base_channels": 8,
    "max_channels": 16,
}


def tiny_gan(**overrides) -> ImageGAN:
    """The tiny GAN built from config as the pipeline builds it; overrides replace top-level keys."""
    return build({**TINY, **overrides}, "gan")


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


def fit(gan: ImageGAN, images: torch.Tensor) -> ImageGAN:
    return gan.fit(images, TRAINER)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- generators and discriminator ---------------------------------------------------------------


@pytest.mark.parametrize(
    "generator_class, resolution",
    [(StyleGenerator, 16), (StyleGenerator, 32), (StyleGenerator, 64), (DCGANGenerator, 16), (DCGANGenerator, 32)],
)
def test_generator_shapes_and_coarse_to_fine_features(generator_class, resolution):
    generator = generator_class(resolution, base_channels=8, max_channels=32)
    z = torch.randn(2, generator.z_dim)
    w = generator.mapping(z)
    assert w.shape == (2, generator.w_dim)
    assert generator.mean_w(n=64).shape == (1, generator.w_dim)
    image, features = generator.synthesis(w, return_features=True)
    sampled, sampled_features = generator.sample_with_features(w)  # what the labeler calls
    assert torch.equal(sampled, image) and len(sampled_features) == len(features)
    assert torch.equal(generator.random_latents(3, seed=1), generator.random_latents(3, seed=1))
    assert image.shape == (2, 3, resolution, resolution)
    assert [f.shape[1] for f in features] == generator.feature_channels
    assert [f.shape[-1] for f in features] == [4 * 2**i for i in range(len(features))]
    assert features[-1].shape[-1] == resolution
    assert generator.hypercolumn_dim == sum(generator.feature_channels)
    assert generator(z).shape == image.shape


def test_dcgan_mapping_is_the_identity():
    generator = DCGANGenerator(16, z_dim=8, base_channels=8, max_channels=16)
    z = torch.randn(3, 8)
    assert generator.w_dim == generator.z_dim and torch.equal(generator.mapping(z), z)


def test_style_generator_depends_on_w_and_features_carry_gradients_to_w():
    generator = StyleGenerator(16, z_dim=16, w_dim=16, mapping_layers=2, base_channels=8, max_channels=16).eval()
    w = generator.mapping(torch.randn(2, 16))
    first, second = generator.synthesis(w[:1]), generator.synthesis(w[1:])
    assert not torch.allclose(first, second), "different w must give different images"
    assert torch.equal(first, generator.synthesis(w[:1])), "in eval mode the image is a function of w"

    w = generator.mean_w(n=64).requires_grad_(True)
    _, features = generator.synthesis(w, return_features=True)
    for feature in features:  # every level, as the per-pixel labeler and latent optimisation need
        (grad,) = torch.autograd.grad(feature.square().mean(), w, retain_graph=True)
        assert grad.abs().sum() > 0


def test_style_generator_accepts_one_w_per_layer():
    generator = StyleGenerator(16, z_dim=16, w_dim=16, mapping_layers=2, base_channels=8, max_channels=16).eval()
    w = generator.mapping(torch.randn(2, 16))
    w_plus = w.unsqueeze(1).repeat(1, generator.num_ws, 1)
    assert torch.allclose(generator.synthesis(w_plus), generator.synthesis(w))
    w_plus[:, -1] = torch.randn(2, 16)
    assert not torch.allclose(generator.synthesis(w_plus), generator.synthesis(w))


@pytest.mark.parametrize("resolution, mbstd_group", [(16, 4), (32, 0)])
def test_discriminator_logits_and_features(resolution, mbstd_group):
    discriminator = Discriminator(resolution, base_channels=8, max_channels=16, mbstd_group=mbstd_group)
    x = torch.randn(6, 3, resolution, resolution)  # 6 is not a multiple of the mbstd group of 4
    assert discriminator(x).shape == (6,)
    features = discriminator.features(x)
    assert [f.shape[-1] for f in features] == [resolution // 2**i for i in range(len(features))]
    assert features[-1].shape[-1] == 4


def test_bad_config_values_name_their_key():
    with pytest.raises(ConfigError, match=r"gan\.generator\.resolution=24 is invalid: expected a power of two"):
        tiny_gan(generator={**TINY["generator"], "resolution": 24})
    with pytest.raises(ConfigError, match=r"gan\.discriminator\.mbstd_group=-1 is invalid"):
        tiny_gan(discriminator={**TINY["discriminator"], "mbstd_group": -1})
    with pytest.raises(ConfigError, match=r"gan\.diffaugment='color,rotate' is invalid: expected .*color"):
        tiny_gan(diffaugment="color,rotate")
    with pytest.raises(ConfigError, match=r"gan\.lr=0 is invalid: expected a number > 0"):
        tiny_gan(lr=0)
    with pytest.raises(ConfigError, match=r"gan\.arch is not a known key; the known keys of gan are: .*batch_size"):
        tiny_gan(arch="style")


# --- building from config -------------------------------------------------------------------------


def test_config_build_is_seeded_and_builds_the_generator_before_the_discriminator():
    """The weights a seed gives are those of `seed_everything(seed)`, then the generator, then the
    discriminator (the order before the GAN was built from config), whatever ran before."""
    torch.randn(100)  # some earlier use of the global random state must not matter
    gan = tiny_gan(seed=5)
    seed_everything(5, verbose=False)
    generator, discriminator = StyleGenerator(**STYLE), Discriminator(**DISCRIMINATOR)
    assert same_weights(snapshot(gan.generator), snapshot(generator))
    assert same_weights(snapshot(gan.generator_ema), snapshot(generator))
    assert same_weights(snapshot(gan.discriminator), snapshot(discriminator))
    assert same_weights(snapshot(tiny_gan(seed=5).generator), snapshot(generator))
    assert not same_weights(snapshot(tiny_gan(seed=6).generator), snapshot(generator))


# --- DiffAugment --------------------------------------------------------------------------------


def test_diffaugment_keeps_shape_passes_gradients_and_is_seeded():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    out = diff_augment(x, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = diff_augment(x, generator=torch.Generator().manual_seed(1))
    other = diff_augment(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_empty_policy_is_the_identity():
    x = torch.randn(2, 3, 8, 8)
    assert diff_augment(x, "") is x


def test_color_changes_values_but_not_geometry():
    x = torch.zeros(8, 3, 16, 16)
    x[:, 0, 3, 5] = 1.0
    out = diff_augment(x, "color", torch.Generator().manual_seed(0))
    assert not torch.allclose(out, x)
    # Colour acts per pixel the same way everywhere: every background pixel of a sample keeps one value.
    background = out.clone()
    background[:, :, 3, 5] = background[:, :, 0, 0]
    assert torch.allclose(background, background[:, :, :1, :1].expand_as(background))


def test_translation_shifts_content_by_at_most_an_eighth():
    x = torch.zeros(32, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    out = diff_augment(x, "translation", torch.Generator().manual_seed(0))
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(32)), "the pixel moves, it is not lost or copied"
    position = out[:, 0].flatten(1).argmax(1)
    rows, cols = position // 16, position % 16
    assert (rows - 8).abs().max() <= 2 and (cols - 8).abs().max() <= 2
    assert ((rows != 8) | (cols != 8)).any(), "some samples must be shifted"
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 1, "shifts differ per sample"


def test_translation_fills_with_zeros():
    out = diff_augment(torch.ones(32, 3, 16, 16), "translation", torch.Generator().manual_seed(0))
    assert (out == 0).any() and ((out == 0) | (out == 1)).all()


def test_cutout_zeroes_a_half_size_square():
    out = diff_augment(torch.ones(16, 3, 16, 16), "cutout", torch.Generator().manual_seed(0))
    zeroed = (out == 0).all(dim=1)  # the same region in every channel
    assert ((out == 0) | (out == 1)).all()
    for mask in zeroed:
        rows, cols = mask.any(1).nonzero().squeeze(1), mask.any(0).nonzero().squeeze(1)
        assert 0 < mask.sum() <= 64 and len(rows) <= 8 and len(cols) <= 8
        assert mask.sum() == len(rows) * len(cols), "the region is one axis-aligned rectangle"


# --- ImageGAN training ---------------------------------------------------------------------------


def test_training_steps_update_both_networks_and_sample(images):
    gan = tiny_gan()
    before_g, before_d = snapshot(gan.generator), snapshot(gan.discriminator)
    fit(gan, images)
    assert not same_weights(before_g, snapshot(gan.generator))
    assert not same_weights(before_d, snapshot(gan.discriminator))
    metrics = gan.trainer.callback_metrics
    assert {"train/d_loss", "train/g_loss"} <= set(metrics)
    samples = gan.sample(5, seed=3)
    assert samples.shape == (5, 3, 16, 16) and samples.abs().max() <= 1
    assert torch.equal(samples, gan.sample(5, seed=3))


def test_training_works_for_dcgan(images):
    gan = tiny_gan(generator=DCGAN_NODE, lr=2e-4, beta1=0.5, max_steps=2)
    assert isinstance(gan.generator, DCGANGenerator)
    before = snapshot(gan.generator)
    fit(gan, images)
    assert not same_weights(before, snapshot(gan.generator))
    assert not same_weights(snapshot(gan.generator_ema), snapshot(gan.generator))


def _discriminator_inputs(gan, images) -> tuple[list[torch.Tensor], mock.MagicMock]:
    seen: list[torch.Tensor] = []
    gan.discriminator.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    with mock.patch.object(gan_module, "diff_augment", wraps=diff_augment) as spy:
        fit(gan, images[:8])
    return seen, spy


def test_diffaugment_switch_decides_what_the_discriminator_sees(images):
    dataset = {tuple(image.flatten().tolist()) for image in images[:8]}

    seen, spy = _discriminator_inputs(tiny_gan(diffaugment="", max_steps=1), images)
    assert spy.call_count == 0
    assert {tuple(image.flatten().tolist()) for image in seen[0]} == dataset, "D sees the raw real batch"

    policy = "color,translation,cutout"
    seen, spy = _discriminator_inputs(tiny_gan(diffaugment=policy, max_steps=1), images)
    assert spy.call_count == 3, "real and fake for D, fake for G"
    assert all(call.args[1] == policy for call in spy.call_args_list)
    assert not {tuple(image.flatten().tolist()) for image in seen[0]} & dataset, "D sees augmented reals"


def test_ema_lags_the_generator_and_equals_it_with_zero_decay(images):
    gan = tiny_gan(ema_decay=0.999)
    fit(gan, images)
    assert not same_weights(snapshot(gan.generator_ema), snapshot(gan.generator))
    assert not gan.generator_ema.training, "the EMA generator stays in eval mode"

    gan = tiny_gan(ema_decay=0.0)
    fit(gan, images)
    assert same_weights(snapshot(gan.generator_ema), snapshot(gan.generator))


def test_lazy_r1_runs_every_r1_every_steps_only_when_on(images):
    with mock.patch.object(gan_module, "r1_penalty", wraps=gan_module.r1_penalty) as spy:
        gan = fit(tiny_gan(r1_gamma=1.0, r1_every=2), images)
    assert spy.call_count == 2  # steps 0 and 2 of 3
    assert "train/r1" in gan.trainer.callback_metrics

    with mock.patch.object(gan_module, "r1_penalty", wraps=gan_module.r1_penalty) as spy:
        gan = fit(tiny_gan(r1_gamma=0.0, r1_every=1), images)
    assert spy.call_count == 0
    assert "train/r1" not in gan.trainer.callback_metrics


def test_r1_penalty_is_the_squared_input_gradient():
    x = torch.randn(3, 3, 4, 4, requires_grad=True)
    logits = (2.0 * x).sum(dim=(1, 2, 3))  # dD/dx = 2 everywhere
    assert torch.isclose(gan_module.r1_penalty(x, logits), torch.tensor(4.0 * 48))


def test_huge_learning_rate_raises_gan_diverged_error(images):
    gan = tiny_gan(lr=1e8, max_steps=20)
    with pytest.raises(GANDivergedError, match=r"(discriminator|generator) loss became .* at step \d+"):
        fit(gan, images)


def test_samples_far_outside_the_data_count_as_divergence(images):
    gan = tiny_gan()
    gan.check_samples(images)  # an untrained generator's samples are of the data's scale
    with torch.no_grad():
        gan.generator_ema.blocks[-1].to_rgb.bias.fill_(1e6)  # finite, but no image
    with pytest.raises(GANDivergedError, match=r"samples reach \|x\| = .* over 100 x the real data"):
        gan.check_samples(images)


def test_fit_rejects_images_of_the_wrong_size(images):
    with pytest.raises(DataError, match="16, 16"):
        fit(tiny_gan(), images[:, :, :8, :8])


def test_trained_gan_is_cached_once_and_loads_back(tmp_path, images):
    images_fn = mock.Mock(return_value=images)
    kwargs = dict(cache_dir=tmp_path, images_fn=images_fn, trainer_cfg=TRAINER)
    trained = tiny_gan()
    path, created = trained.fit_cached(key={"data": "toy"}, **kwargs)
    assert created and path.exists() and images_fn.call_count == 1
    loaded = tiny_gan()
    again, created = loaded.fit_cached(key={"data": "toy"}, **kwargs)
    assert again == path and not created and images_fn.call_count == 1, "a cache hit never loads data"
    for name in ("generator", "generator_ema", "discriminator"):
        assert same_weights(snapshot(getattr(loaded, name)), snapshot(getattr(trained, name)))
    assert not same_weights(snapshot(tiny_gan().generator_ema), snapshot(trained.generator_ema))
    assert torch.equal(loaded.sample(4, seed=0), trained.sample(4, seed=0))
    other, created = tiny_gan().fit_cached(key={"data": "other"}, **kwargs)
    assert other != path and created


def test_a_tiny_gan_learns_the_colour_of_its_data():
    """Cheap but real: on constant-colour images the samples' mean colour moves to the data's."""
    colour = torch.tensor([0.6, -0.5, 0.2])
    data = colour.view(1, 3, 1, 1).expand(64, 3, 16, 16).clone()
    generator = {**TINY["generator"], "z_dim": 8, "w_dim": 8}
    gan = tiny_gan(generator=generator, diffaugment="", ema_decay=0.99, batch_size=16, max_steps=200)

    def colour_error() -> float:
        return (gan.sample(64, seed=0).mean(dim=(0, 2, 3)) - colour).abs().max().item()

    before = colour_error()
    fit(gan, data)
    after = colour_error()
    assert after < 0.1 and after < before / 3, (before, after)
