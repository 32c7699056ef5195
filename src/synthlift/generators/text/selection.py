"""Early stopping for GANs: "retrain until no improvement". GAN losses say little about sample quality,
so the generator is judged by what we care about downstream: a validation score of a classifier trained
on real + synthetic data. The best generator seen is restored when training ends."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

from pytorch_lightning import Callback, LightningModule, Trainer

log = logging.getLogger(__name__)


class GeneratorSelection(Callback):
    """Every `eval_every` epochs score the generator; stop after `patience` evaluations without
    improvement and put the best generator's weights back."""

    def __init__(self, score: Callable[[LightningModule], float], eval_every: int, patience: int):
        self.score = score
        self.eval_every = eval_every
        self.patience = patience
        self.best_score = float("-inf")
        self.best_epoch = -1
        self.history: list[tuple[int, float]] = []
        self._best_state: dict | None = None
        self._stale = 0

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.eval_every:
            return
        score = self.score(pl_module)
        self.history.append((epoch, score))
        pl_module.log("val/selection_score", score)
        if score > self.best_score:
            self.best_score, self.best_epoch, self._stale = score, epoch, 0
            self._best_state = copy.deepcopy(pl_module.generator.state_dict())
        else:
            self._stale += 1
            if self._stale >= self.patience:
                log.info(
                    "Generator selection: no improvement for %d evaluations, stopping at epoch %d",
                    self.patience,
                    epoch,
                )
                trainer.should_stop = True

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._best_state is not None:
            pl_module.generator.load_state_dict(self._best_state)
            log.info("Generator selection: restored epoch %d (score %.4f)", self.best_epoch, self.best_score)
