"""`downstream=text/logreg|text/mlp`: a sentiment classifier on embeddings. The same code, seed and
hyper-parameters train the real-only baseline and the augmented model, so their difference is the lift.

The component holds the hyper-parameters; `fit` trains a fresh network on a `TrainingPlan` — its phases in
order, each continuing from the weights the previous one left, with per-example loss weights where a
phase has them — so any augment strategy's plan trains the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule, seed_everything
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from synthlift.augment.base import TrainingPlan
from synthlift.core.checks import layer_sizes, non_negative, positive, positive_int, probability
from synthlift.core.trainer import make_trainer


class ClassifierNet(LightningModule):
    """No hidden layer = logistic regression; hidden layers = MLP with ReLU and dropout."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        hidden_sizes: list[int],
        dropout: float,
        lr: float,
        weight_decay: float,
    ):
        super().__init__()
        self.lr = lr
        self.weight_decay = weight_decay
        layers: list[nn.Module] = []
        width = input_dim
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Sequence[Tensor], batch_idx: int) -> Tensor:
        """Batches are (x, y) or, in a weighted phase, (x, y, weight): the mean of weighted example losses."""
        x, y = batch[0], batch[1]
        if len(batch) == 3:
            loss = (F.cross_entropy(self(x), y, reduction="none") * batch[2]).mean()
        else:
            loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class EmbeddingClassifier:
    """Hyper-parameters of the classifier and how it is trained (Adam, `max_epochs` per phase)."""

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (),
        dropout: float = 0.0,
        lr: float = 1e-2,
        weight_decay: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 100,
    ):
        self.hidden_sizes = layer_sizes("hidden_sizes", hidden_sizes, allow_empty=True)
        self.dropout = probability("dropout", dropout)
        self.lr = positive("lr", lr)
        self.weight_decay = non_negative("weight_decay", weight_decay)
        self.batch_size = positive_int("batch_size", batch_size)
        self.max_epochs = positive_int("max_epochs", max_epochs)

    def fit(self, plan: TrainingPlan, num_classes: int, trainer_cfg: Mapping[str, Any], seed: int) -> ClassifierNet:
        """Train from a seeded initialisation: two calls with the same seed start from identical weights."""
        seed_everything(seed, workers=True, verbose=False)
        first = plan.phases[0].examples
        model = ClassifierNet(
            first.x.shape[1], num_classes, self.hidden_sizes, self.dropout, self.lr, self.weight_decay
        )
        for phase in plan.phases:
            tensors = [
                torch.tensor(phase.examples.x, dtype=torch.float32),
                torch.tensor(phase.examples.y, dtype=torch.long),
            ]
            if phase.weights is not None:
                tensors.append(torch.tensor(phase.weights, dtype=torch.float32))
            loader = DataLoader(TensorDataset(*tensors), batch_size=self.batch_size, shuffle=True)
            make_trainer(trainer_cfg, self.max_epochs).fit(model, loader)
        return model.cpu().eval()

    @staticmethod
    @torch.no_grad()
    def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, Any]:
        """Accuracy and macro-F1 (torchmetrics) of `model` on `(x, y)`, and how many classes it predicts."""
        logits = model(torch.tensor(x, dtype=torch.float32))
        target = torch.tensor(y, dtype=torch.long)
        return {
            "acc": MulticlassAccuracy(num_classes, average="micro")(logits, target).item(),
            "f1": MulticlassF1Score(num_classes, average="macro")(logits, target).item(),
            "predicted_classes": int(logits.argmax(1).unique().numel()),
        }
