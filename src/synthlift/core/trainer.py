"""One place that builds Lightning Trainers from the run's `trainer` config group (cpu/gpu)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from pytorch_lightning import Callback, Trainer
from pytorch_lightning.loggers import Logger

# Lightning's per-fit banners ("GPU available", "LOCAL_RANK") repeat for every small fit of a run.
for _name in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# A frozen teacher classifier inside the GAN is meant to stay in eval mode.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
# Lightning's own use of a deprecated torch API, printed once per process; nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def make_trainer(
    trainer_cfg: Mapping[str, Any],
    max_epochs: int,
    loggers: Sequence[Logger] | bool = False,
    callbacks: Sequence[Callback] = (),
) -> Trainer:
    """A Trainer without progress bars or checkpoint files: a run makes many small fits."""
    return Trainer(
        **dict(trainer_cfg),
        max_epochs=max_epochs,
        logger=list(loggers) if loggers else False,
        callbacks=list(callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
    )
