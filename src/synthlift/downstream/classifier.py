"""Sentiment classifier on embeddings (logistic regression or MLP). The same code, seed and
hyper-parameters train the real-only baseline and the augmented model, so their difference is the lift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule, seed_everything
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from synthlift.trainer import make_trainer


class EmbeddingClassifier(LightningModule):
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

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit_classifier(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    cfg: Mapping[str, Any],
    trainer_cfg: Mapping[str, Any],
    seed: int,
) -> EmbeddingClassifier:
    """Train from a seeded initialisation: two calls with the same seed start from identical weights."""
    seed_everything(seed, workers=True, verbose=False)
    model = EmbeddingClassifier(
        x.shape[1], num_classes, list(cfg["hidden_sizes"]), cfg["dropout"], cfg["lr"], cfg["weight_decay"]
    )
    data = TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long))
    loader = DataLoader(data, batch_size=int(cfg["batch_size"]), shuffle=True)
    trainer = make_trainer(trainer_cfg, int(cfg["max_epochs"]))
    trainer.fit(model, loader)
    return model.cpu().eval()


@torch.no_grad()
def evaluate_classifier(model: nn.Module, x: np.ndarray | Tensor, y: np.ndarray | Tensor, num_classes: int) -> dict:
    """Accuracy and macro-F1 (torchmetrics) of `model` on `(x, y)`."""
    logits = model(torch.as_tensor(x, dtype=torch.float32))
    target = torch.as_tensor(y, dtype=torch.long)
    return {
        "acc": MulticlassAccuracy(num_classes, average="micro")(logits, target).item(),
        "f1": MulticlassF1Score(num_classes, average="macro")(logits, target).item(),
    }
