"""`gan=text/cvae`: a conditional VAE (Sohn et al., NeurIPS 2015) over standardised sentence embeddings.

Encoder MLP(x, one-hot y) -> (mu, log variance) of q(z | x, y); decoder MLP(z, one-hot y) -> x. The loss is
the negative ELBO with a unit-variance Gaussian likelihood in z-scored units, 0.5·‖x − x̂‖², plus `beta` times
KL(q ‖ N(0, I)). A sample for label c is the decoder's mean at z ~ N(0, I) given c: no observation noise is
added, so the samples' spread comes from the latent space alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.checks import non_negative, positive_int
from synthlift.generators.text.cgan_module import mlp
from synthlift.generators.text.numeric import StandardisedNetworkGenerator


class ConditionalVAENetwork(nn.Module):
    def __init__(self, dim: int, num_classes: int, latent_dim: int, hidden_dim: int, num_layers: int):
        super().__init__()
        self.num_classes, self.latent_dim = num_classes, latent_dim
        self.encoder = mlp([dim + num_classes] + [hidden_dim] * num_layers + [2 * latent_dim])
        self.decoder = mlp([latent_dim + num_classes] + [hidden_dim] * num_layers + [dim])

    def condition(self, labels: Tensor) -> Tensor:
        return F.one_hot(labels, self.num_classes).float()

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        return self.decoder(torch.cat([z, self.condition(labels)], dim=1))


class ConditionalVAE(StandardisedNetworkGenerator):
    family = "VAE"
    divergence_advice = "Lower gan.lr."

    def __init__(
        self,
        latent_dim: int = 16,
        hidden_dim: int = 256,
        num_layers: int = 2,
        beta: float = 1.0,
        lr: float = 1e-3,
        batch_size: int = 64,
        max_steps: int = 1000,
    ):
        super().__init__(max_steps=max_steps, batch_size=batch_size, lr=lr)
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.hidden_dim = positive_int("hidden_dim", hidden_dim)
        self.num_layers = positive_int("num_layers", num_layers)
        self.beta = non_negative("beta", beta)

    def _build(self, x: Tensor, num_classes: int) -> ConditionalVAENetwork:
        return ConditionalVAENetwork(x.shape[1], num_classes, self.latent_dim, self.hidden_dim, self.num_layers)

    def _loss(self, x: Tensor, labels: Tensor) -> Tensor:
        network = self.network
        mu, log_var = network.encoder(torch.cat([x, network.condition(labels)], dim=1)).chunk(2, dim=1)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
        reconstruction = 0.5 * (network.decode(z, labels) - x).square().sum(dim=1)
        kl = 0.5 * (mu.square() + log_var.exp() - 1 - log_var).sum(dim=1)
        return (reconstruction + self.beta * kl).mean()

    def _generate(self, labels: Tensor, rng: torch.Generator) -> Tensor:
        return self.network.decode(torch.randn(len(labels), self.latent_dim, generator=rng), labels)
