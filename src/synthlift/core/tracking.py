"""Experiment trackers from the `logger` config group (CSV, wandb). wandb is offline unless asked
otherwise and never prompts: a sweep on a machine without credentials must not hang."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")


def build_loggers(logger_cfg: DictConfig | None) -> list[Logger]:
    if not logger_cfg:
        return []
    loggers = [instantiate(entry) for entry in logger_cfg.values() if entry is not None]
    for logger in loggers:
        # Lightning's WandbLogger always passes `anonymous=None`, which wandb >= 0.19 answers with a
        # deprecation warning on every run; the run starts lazily, so dropping the key here silences it.
        getattr(logger, "_wandb_init", {}).pop("anonymous", None)
    return loggers


def log_run(loggers: Sequence[Logger], config: DictConfig, record: Mapping[str, Any]) -> None:
    """Final test metrics and the resolved config into every tracker, then close them."""
    metrics = {f"test/{name}": value for name, value in record.get("metrics", {}).items()}
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(config, resolve=True))
        if metrics:
            logger.log_metrics(metrics)
        logger.finalize("success" if record["status"] == "ok" else "failed")
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb

        wandb.finish(exit_code=0 if record["status"] == "ok" else 1)
