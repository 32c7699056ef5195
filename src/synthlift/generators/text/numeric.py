"""What the generators that treat sentence embeddings as plain vectors share (jitter, SMOTE, mixup, CVAE, DDPM).

Two families: `ClassResampler`s build each sample from training rows of the requested class only, with no
training; `StandardisedNetworkGenerator`s train a small conditional network on standardised embeddings for a
fixed number of Adam steps. Those run as plain torch loops on the CPU, not through Lightning: a leaderboard
fits hundreds of them on a few hundred examples, where a Trainer's start-up would cost more than the training.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from synthlift.core.checks import positive, positive_int
from synthlift.core.errors import DataError
from synthlift.generators.divergence import check_loss, check_sample_scale
from synthlift.generators.text.base import TextFitContext, TextGenerator, TextTrainData, activation_bytes_per_example


class ClassResampler(TextGenerator):
    """Base of the generators whose class-c samples are made from class-c training rows alone, so every
    sample carries its label by construction. Fitting only stores the rows (and whatever `_prepare` adds)."""

    family = "cheap baseline"

    divergence_advice: ClassVar[str]  # what to change when the samples blow up (see check_sample_scale)

    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        self.class_names = list(train.class_names)
        self.rows = [train.x[train.y == label].astype(np.float32) for label in range(train.num_classes)]
        self._prepare(train)
        check_sample_scale(self.sample(train.y, context.seed), train.x, self.divergence_advice)
        return {}

    def _prepare(self, train: TextTrainData) -> None:  # noqa: B027 (optional hook, only SMOTE needs one)
        """Precompute what sampling needs beyond the rows of each class."""

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        if not hasattr(self, "rows"):
            raise RuntimeError(f"{type(self).__name__}.sample before fit")
        labels = np.asarray(labels)
        rng = np.random.default_rng(seed)
        samples = np.empty((len(labels), self.rows[0].shape[1]), dtype=np.float32)
        for label in np.unique(labels):
            wanted = labels == label
            if len(self.rows[label]) == 0:
                raise DataError(f"cannot sample class {self.class_names[label]!r}: it has no training examples")
            samples[wanted] = self._draw(int(label), int(wanted.sum()), rng)
        return samples

    @abc.abstractmethod
    def _draw(self, label: int, count: int, rng: np.random.Generator) -> np.ndarray:
        """`count` samples of class `label`, which has at least one training row."""


class Standardiser:
    """Per-dimension z-scoring with the training data's mean and std.

    Embedders differ by orders of magnitude in scale (MiniLM's unit-norm 384-d vectors have per-dimension std
    near 0.05); on z-scores one learning rate, noise level and initialisation suit them all.

    A dimension whose spread is below a millionth of the widest one's (MiniLM has three that are always ~0)
    is divided by that floor instead: dividing by 1 would let a generator's O(1) z-scores come back as O(1)
    values where the real data never leaves ~0, while the floor maps them back to within a negligible distance
    of the constant.
    """

    def __init__(self, x: np.ndarray):
        std = x.std(axis=0)
        floor = max(1e-6 * float(std.max(initial=0.0)), 1e-12)
        self.mean = torch.as_tensor(x.mean(axis=0), dtype=torch.float32)
        self.std = torch.as_tensor(np.maximum(std, floor), dtype=torch.float32)

    def apply(self, x: np.ndarray) -> Tensor:
        return (torch.as_tensor(x, dtype=torch.float32) - self.mean) / self.std

    def undo(self, z: Tensor) -> np.ndarray:
        return (z * self.std + self.mean).numpy().astype(np.float32)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """The global torch RNG seeded with `seed` inside, and restored afterwards: initial weights and training
    noise are a function of the seed alone, whatever ran before, and the caller's random stream is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class StandardisedNetworkGenerator(TextGenerator):
    """Base of the neural generators: a conditional network trained on standardised embeddings with Adam for
    exactly `max_steps` minibatches (drawn with replacement), so the budget does not grow with the data set."""

    divergence_advice: ClassVar[str]  # what to change when the loss or the samples blow up

    def __init__(self, *, max_steps: int, batch_size: int, lr: float):
        self.max_steps = positive_int("max_steps", max_steps)
        self.batch_size = positive_int("batch_size", batch_size)
        self.lr = positive("lr", lr)
        self.network: nn.Module | None = None

    @abc.abstractmethod
    def _build(self, x: Tensor, num_classes: int) -> nn.Module:
        """The untrained network for standardised training embeddings `x`."""

    @abc.abstractmethod
    def _loss(self, x: Tensor, labels: Tensor) -> Tensor:
        """The training loss of `self.network` on one minibatch; its noise comes from the global torch RNG."""

    @abc.abstractmethod
    def _generate(self, labels: Tensor, rng: torch.Generator) -> Tensor:
        """Standardised samples for `labels`, all randomness drawn from `rng`."""

    def fit(self, train: TextTrainData, context: TextFitContext) -> dict[str, float]:
        """Train, then check the samples are data, not a blow-up. Returns the mean loss over the first and the
        last tenth of the steps (`train_loss_start`, `train_loss_end`): whether training got anywhere."""
        self.standardiser = Standardiser(train.x)
        x = self.standardiser.apply(train.x)
        labels = torch.tensor(train.y, dtype=torch.long)  # a copy: the dataset's labels are read-only
        batch_size = min(self.batch_size, len(x))
        losses = []
        with seeded(context.seed):
            self.network = self._build(x, train.num_classes)
            optimizer = torch.optim.Adam(self.network.parameters(), lr=self.lr)
            for step in range(self.max_steps):
                batch = torch.randint(len(x), (batch_size,))
                loss = self._loss(x[batch], labels[batch])
                check_loss(loss, "training", f"step {step}", self.divergence_advice)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        self.network.eval()
        check_sample_scale(self.sample(train.y, context.seed), train.x, self.divergence_advice)
        tenth = max(1, len(losses) // 10)
        return {"train_loss_start": float(np.mean(losses[:tenth])), "train_loss_end": float(np.mean(losses[-tenth:]))}

    def sampling_bytes_per_example(self, dim: int) -> int:
        """The network's activations, plus the float32 arrays of width `dim` a sampling step holds beside them
        (the sample, the predicted noise and clean sample, fresh noise, the next sample, the output)."""
        return activation_bytes_per_example(self.network) + 6 * 4 * dim

    def sample(self, labels: np.ndarray, seed: int) -> np.ndarray:
        if self.network is None:
            raise RuntimeError(f"{type(self).__name__}.sample before fit")
        rng = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return self.standardiser.undo(self._generate(torch.as_tensor(labels, dtype=torch.long), rng))
