"""The GAN family of the zoo (`gan=text/wgan_gp|hinge_sn|pacgan`): each objective computes the loss it
claims, the packed discriminator judges packs, spectral norm bounds the layers, critic steps space the
generator updates, and every variant trains and samples through the same generator class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from synthlift.core.build import build
from synthlift.core.errors import ConfigError
from synthlift.core.paths import PROJECT_ROOT
from synthlift.generators.text.base import TextTrainData
from synthlift.generators.text.cgan_module import Discriminator
from synthlift.generators.text.gupta_tricks import TrickSettings
from synthlift.generators.text.objectives.hinge import HingeObjective
from synthlift.generators.text.objectives.wasserstein_gp import WassersteinGP
from tests.text.test_gan import GAN_CFG, build_gan

GAN_CONF = PROJECT_ROOT / "conf" / "gan" / "text"


def test_wasserstein_losses_and_gradient_penalty():
    objective = WassersteinGP(gradient_penalty=10.0)
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -1.0])
    assert objective.discriminator_loss(real, fake, 1.0).item() == pytest.approx(-0.5 - 2.0)
    assert objective.generator_loss(fake).item() == pytest.approx(0.5)
    # A critic with gradient norm exactly 1 everywhere pays no penalty; norm 3 pays 10 * (3 - 1)^2.
    points = torch.randn(5, 4), torch.randn(5, 4)
    unit = torch.tensor([0.6, 0.8, 0.0, 0.0])
    assert objective.penalty(lambda x: x @ unit, *points).item() == pytest.approx(0.0, abs=1e-6)
    assert objective.penalty(lambda x: 3 * x @ unit, *points).item() == pytest.approx(40.0, rel=1e-5)


def test_hinge_losses_stop_at_the_margin():
    objective = HingeObjective()
    confident = objective.discriminator_loss(torch.tensor([2.0, 1.5]), torch.tensor([-3.0, -1.0]), 1.0)
    assert confident.item() == 0.0
    unsure = objective.discriminator_loss(torch.tensor([0.0]), torch.tensor([0.5]), 1.0)
    assert unsure.item() == pytest.approx(1.0 + 1.5)
    assert objective.generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_a_packed_discriminator_gives_one_score_per_pack():
    discriminator = Discriminator(6, 2, 16, 2, 0.0, pack=2)
    assert discriminator(torch.randn(8, 6), torch.zeros(8, dtype=torch.long)).shape == (4,)
    assert discriminator.net[0].in_features == 2 * (6 + 2)
    with pytest.raises(ValueError, match="packs of 2"):
        discriminator(torch.randn(7, 6), torch.zeros(7, dtype=torch.long))


def test_spectral_norm_bounds_every_discriminator_layer():
    discriminator = Discriminator(6, 2, 16, 2, 0.0, spectral_norm=True)
    for _ in range(20):  # power iterations run in training mode
        discriminator(torch.randn(4, 6), torch.zeros(4, dtype=torch.long))
    linears = [m for m in discriminator.net if isinstance(m, torch.nn.Linear)]
    assert all(
        torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() == pytest.approx(1.0, rel=0.05) for m in linears
    )


def test_critic_steps_update_the_generator_once_every_so_many_batches():
    gan = build_gan({**GAN_CFG, "objective": WassersteinGP(critic_steps=3)}, TrickSettings(), 6, 2, 24)
    generator_steps = []
    gan.generator_losses = lambda fake, labels: generator_steps.append(1) or {"total": fake.sum() * 0}
    gan.backward_pass = lambda loss: None
    optimizers = torch.optim.SGD([torch.zeros(1)], lr=0.1), torch.optim.SGD([torch.zeros(1)], lr=0.1)
    batch = (torch.randn(4, 6), torch.tensor([0, 1, 0, 1]), torch.arange(4))
    for _ in range(7):
        gan.adversarial_step(*batch, *optimizers)
    assert len(generator_steps) == 2  # after discriminator updates 3 and 6


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")
@pytest.mark.parametrize("option", ["cgan", "wgan_gp", "hinge_sn", "pacgan"])
def test_every_gan_variant_trains_and_samples_labeled_embeddings(option, context):
    node = OmegaConf.load(GAN_CONF / f"{option}.yaml")
    if "defaults" in node:
        node = OmegaConf.merge(OmegaConf.load(GAN_CONF / "cgan.yaml"), node)
        del node["defaults"]
    tricks = OmegaConf.load(PROJECT_ROOT / "conf" / "tricks" / "text" / "_base.yaml")
    del tricks["defaults"]
    node.tricks = tricks
    node.max_epochs, node.batch_size, node.hidden_dim = 3, 8, 16
    generator = build(node, "gan")
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    x = (rng.normal(size=(24, 6)) + 2.0 * y[:, None]).astype(np.float32)
    generator.fit(TextTrainData([""] * 24, x, y, ["negative", "positive"], embedder=None), context)
    samples = generator.sample(np.array([0, 1, 1]), seed=4)
    assert samples.shape == (3, 6) and samples.dtype == np.float32 and np.isfinite(samples).all()
    assert np.array_equal(samples, generator.sample(np.array([0, 1, 1]), seed=4))
    assert generator.family == "GAN"


def test_an_objective_without_a_real_target_refuses_label_smoothing():
    node = OmegaConf.merge(
        OmegaConf.load(GAN_CONF / "cgan.yaml"),
        {"objective": {"_target_": f"{HingeObjective.__module__}.HingeObjective"}},
    )
    smoothing_on = OmegaConf.load(PROJECT_ROOT / "conf" / "tricks" / "text" / "_base.yaml")
    del smoothing_on["defaults"]
    smoothing_on.label_smoothing.enabled = True
    node.tricks = smoothing_on
    with pytest.raises(ConfigError, match="tricks.label_smoothing is on, but HingeObjective"):
        build(node, "gan")
    node.pack = 3
    node.tricks.label_smoothing.enabled = False
    with pytest.raises(ConfigError, match="gan.batch_size=32 is invalid: expected a multiple of pack=3"):
        build(node, "gan")
