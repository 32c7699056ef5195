"""Conditional GAN over sentence embeddings (Gupta, ICASSP 2019): it generates an embedding together
with the one-hot sentiment label it was conditioned on, so every sample is labeled by construction.

The objective (cross-entropy, Wasserstein-GP, hinge) is a component of its own
(`generators/text/objectives/`); the discriminator can be spectrally normalised and can judge packs of
samples (PacGAN), so the GAN family of the zoo shares this one network and training loop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule
from torch import Tensor, nn
from torch.optim import Optimizer

from synthlift.generators.divergence import check_loss
from synthlift.generators.text.gupta_tricks import TrickSettings
from synthlift.generators.text.objectives.base import GANObjective


def mlp(sizes: list[int], dropout: float = 0.0, spectral_norm: bool = False) -> nn.Sequential:
    """Linear layers with LeakyReLU (and optional dropout) between them; the last layer is linear.
    `spectral_norm` divides every weight by its largest singular value (Miyato et al. 2018), bounding the
    network's Lipschitz constant."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(fan_in, fan_out)
        layers.append(nn.utils.parametrizations.spectral_norm(linear) if spectral_norm else linear)
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


DIVERGENCE_ADVICE = "Lower gan.lr_generator/gan.lr_discriminator or change the tricks."


class Generator(nn.Module):
    """G(noise, one-hot label) -> embedding."""

    def __init__(self, latent_dim: int, num_classes: int, hidden_dim: int, num_layers: int, output_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.net = mlp([latent_dim + num_classes] + [hidden_dim] * num_layers + [output_dim])

    def forward(self, noise: Tensor, labels: Tensor) -> Tensor:
        return self.net(torch.cat([noise, F.one_hot(labels, self.num_classes).float()], dim=1))


class Discriminator(nn.Module):
    """D(embedding, one-hot label) -> real/fake score: it judges the (embedding, label) pair.

    With `pack` > 1 it judges `pack` pairs at once, all real or all generated (PacGAN, Lin et al. 2018): a
    generator that collapses onto a few modes produces packs of near-duplicates, which a packed
    discriminator sees at a glance, so collapse is penalised. A batch of n pairs gets n / pack scores.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        hidden_dim: int,
        num_layers: int,
        dropout: float,
        spectral_norm: bool = False,
        pack: int = 1,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.pack = pack
        sizes = [pack * (input_dim + num_classes)] + [hidden_dim] * num_layers + [1]
        self.net = mlp(sizes, dropout, spectral_norm)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        pairs = torch.cat([embeddings, F.one_hot(labels, self.num_classes).float()], dim=1)
        if len(pairs) % self.pack:
            raise ValueError(f"a batch of {len(pairs)} cannot be cut into packs of {self.pack}")
        return self.net(pairs.reshape(len(pairs) // self.pack, -1)).squeeze(1)


class ConditionalEmbeddingGAN(LightningModule):
    """Trains G and D by hand (two optimisers) so each trick can act where it belongs.

    Batches are `(embedding, label, index)`; the index picks the example's instance-noise pattern.
    `teacher` is the classifier trained on the scarce real data only; with classifier consistency on,
    G is also penalised when the teacher disagrees with the label G was conditioned on.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        num_real: int,
        tricks: TrickSettings,
        teacher: nn.Module | None = None,
        *,
        objective: GANObjective,
        spectral_norm: bool,
        pack: int,
        latent_dim: int,
        hidden_dim: int,
        num_layers: int,
        dropout: float,
        lr_generator: float,
        lr_discriminator: float,
        beta1: float,
        beta2: float,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.objective = objective
        self.discriminator_updates = 0
        self.loss_scaling = False
        self.tricks = tricks
        self.num_classes = num_classes
        self.num_real = num_real
        self.betas = (beta1, beta2)
        self.lr_generator = lr_generator
        self.lr_discriminator = lr_discriminator
        self.generator = Generator(latent_dim, num_classes, hidden_dim, num_layers, embedding_dim)
        self.discriminator = Discriminator(
            embedding_dim, num_classes, hidden_dim, num_layers, dropout, spectral_norm=spectral_norm, pack=pack
        )
        if tricks.consistency_weight > 0 and teacher is None:
            raise ValueError("classifier consistency is on but no teacher classifier was given")
        self.teacher = teacher if tricks.consistency_weight > 0 else None
        if self.teacher is not None:
            self.teacher.eval().requires_grad_(False)
        self.noise_std = tricks.instance_noise_std
        self.epoch_noise: Tensor | None = None

    def configure_optimizers(self):
        return (
            torch.optim.Adam(self.generator.parameters(), lr=self.lr_generator, betas=self.betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.lr_discriminator, betas=self.betas),
        )

    def on_fit_start(self) -> None:
        """Lightning's optimiser wrapper and `manual_backward` run hooks around every call that nothing here
        uses, about a tenth of a step of this small network; the one thing they add is loss scaling under
        16-bit mixed precision, so they are used only then."""
        self.loss_scaling = getattr(self.trainer.precision_plugin, "scaler", None) is not None

    def backward_pass(self, loss: Tensor) -> None:
        if self.loss_scaling:
            self.manual_backward(loss)
        else:
            loss.backward()

    def on_train_epoch_start(self) -> None:
        """Instance noise: one fresh pattern per real example for this epoch, so D never sees the
        exact same point twice and cannot memorise the scarce training set."""
        if self.noise_std > 0:
            dim = self.generator.net[-1].out_features
            self.epoch_noise = torch.randn(self.num_real, dim, device=self.device) * self.noise_std

    def on_train_epoch_end(self) -> None:
        self.noise_std *= self.tricks.instance_noise_decay

    def discriminator_loss(self, real: Tensor, fake: Tensor, labels: Tensor) -> Tensor:
        """The objective's loss (with one-sided label smoothing's `real_target` where it has one), plus its
        penalty (e.g. WGAN-GP's gradient penalty)."""
        loss = self.objective.discriminator_loss(
            self.discriminator(real, labels), self.discriminator(fake, labels), self.tricks.real_target
        )
        return loss + self.objective.penalty(lambda points: self.discriminator(points, labels), real, fake)

    def generator_losses(self, fake: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Adversarial loss, plus (consistency on) the teacher's cross-entropy on the conditioned label."""
        losses = {"adversarial": self.objective.generator_loss(self.discriminator(fake, labels))}
        total = losses["adversarial"]
        if self.teacher is not None:
            losses["consistency"] = F.cross_entropy(self.teacher(fake), labels)
            total = total + self.tricks.consistency_weight * losses["consistency"]
        losses["total"] = total
        return losses

    def training_step(self, epoch: Sequence[tuple[Tensor, Tensor, Tensor]], epoch_index: int) -> None:
        """One Lightning step is one epoch: every minibatch of it (see `fit_gan`), so Lightning's per-step
        bookkeeping is paid once per epoch, not per minibatch. The epoch's mean losses are checked for
        divergence and logged once; a blow-up mid-epoch carries into the mean (NaN, inf or huge)."""
        g_opt, d_opt = self.optimizers(use_pl_optimizer=self.loss_scaling)
        sums: dict[str, Tensor] = {}
        counts: Counter[str] = Counter()
        for real, labels, index in epoch:
            for name, value in self.adversarial_step(real, labels, index, g_opt, d_opt).items():
                sums[name] = sums.get(name, 0) + value
                counts[name] += 1
        means = {name: total / counts[name] for name, total in sums.items()}
        where = f"epoch {self.current_epoch} (mean over its {counts['d_loss']} minibatches)"
        check_loss(means["d_loss"], "discriminator", where, DIVERGENCE_ADVICE)
        if "g_total" in means:
            check_loss(means["g_total"], "generator", where, DIVERGENCE_ADVICE)
        self.log_epoch_means(means)

    def log_epoch_means(self, means: dict[str, Tensor]) -> None:
        """The epoch's mean losses, straight to the run's loggers (CSV, wandb) with the epoch as step.
        Lightning's `self.log` moves its whole result store to the value's device on every call: about 1 ms
        each, 13% of a 50-per-class GAN fit, for curves that nothing in the run reads back."""
        if not self.loggers:
            return
        metrics = {f"train/{name}": value.item() for name, value in means.items()}
        for logger in self.loggers:
            logger.log_metrics(metrics | {"epoch": self.current_epoch}, step=self.current_epoch)

    def adversarial_step(
        self, real: Tensor, labels: Tensor, index: Tensor, g_opt: Optimizer, d_opt: Optimizer
    ) -> dict[str, Tensor]:
        """One discriminator update on a minibatch; one generator update every `objective.critic_steps` of them.
        Returns the detached losses of the updates made."""
        if self.epoch_noise is not None and self.noise_std > 0:
            real = real + self.epoch_noise[index]
        noise = torch.randn(len(labels), self.generator.latent_dim, device=real.device)
        fake = self.generator(noise, labels)

        d_loss = self.discriminator_loss(real, fake.detach(), labels)
        d_opt.zero_grad()
        self.backward_pass(d_loss)
        d_opt.step()
        self.discriminator_updates += 1
        losses = {"d_loss": d_loss.detach()}
        if self.discriminator_updates % self.objective.critic_steps:
            return losses

        g_losses = self.generator_losses(fake, labels)
        g_opt.zero_grad()
        self.backward_pass(g_losses["total"])
        g_opt.step()
        return losses | {f"g_{name}": value.detach() for name, value in g_losses.items()}

    @torch.no_grad()
    def sample(self, labels: Tensor, seed: int) -> Tensor:
        """Embeddings for the given labels, reproducible by `seed` regardless of the global RNG."""
        rng = torch.Generator(device="cpu").manual_seed(seed)
        noise = torch.randn(len(labels), self.generator.latent_dim, generator=rng).to(self.device)
        was_training = self.generator.training
        self.generator.eval()
        out = self.generator(noise, labels.to(self.device)).cpu()
        self.generator.train(was_training)
        return out
