"""The five tricks of Gupta (ICASSP 2019), built from `conf/tricks/text/*.yaml`.

Each trick is an independent switch with its settings; `GuptaTricks` checks them and hands the conditional
GAN a flat, typed `TrickSettings` (a trick that is off carries its neutral value, e.g. a consistency weight
of 0), plus the tweet corpus that pretraining reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from synthlift.core.checks import non_negative_int, positive, positive_int, unit_target
from synthlift.core.errors import InvalidArgument
from synthlift.data.text.dataset import TextTableDataset


@dataclass(frozen=True)
class TrickSettings:
    consistency_weight: float = 0.0  # 0 = classifier consistency off
    pretrain: bool = False
    pretrain_epochs: int = 0
    pretrain_batch_size: int = 256
    pretrain_lr: float = 1e-3  # both networks'
    pretrain_seed: int = 0
    instance_noise_std: float = 0.0  # 0 = instance noise off
    instance_noise_decay: float = 1.0
    real_target: float = 1.0  # < 1 = one-sided label smoothing on
    early_stopping: bool = False
    eval_every: int = 10
    patience: int = 5

    def for_pretraining(self) -> TrickSettings:
        """Classifier consistency and generator selection need the scarce target data, which pretraining
        must not see: both are off while the GAN learns from the corpus."""
        return replace(self, consistency_weight=0.0, early_stopping=False)


class GuptaTricks:
    """The `tricks` group of the text track: every trick's `enabled` switch and its settings."""

    def __init__(
        self,
        classifier_consistency: Mapping[str, Any],
        pretrain: Mapping[str, Any],
        instance_noise: Mapping[str, Any],
        label_smoothing: Mapping[str, Any],
        early_stopping: Mapping[str, Any],
    ):
        def on(name: str, switch: Mapping[str, Any]) -> bool:
            if not isinstance(switch.get("enabled"), bool):
                raise InvalidArgument(f"{name}.enabled", switch.get("enabled"), "true or false")
            return switch["enabled"]

        corpus = pretrain.get("corpus")
        if on("pretrain", pretrain) and not isinstance(corpus, TextTableDataset):
            raise InvalidArgument("pretrain.corpus", corpus, "a text dataset config (conf/dataset/text/*.yaml)")
        self.corpus = corpus if pretrain["enabled"] else None
        # Settings are checked whether or not their trick is on, so a sweep that switches it on cannot fail late.
        weight = positive("classifier_consistency.weight", classifier_consistency["weight"])
        noise_std = positive("instance_noise.std", instance_noise["std"])
        real_target = unit_target("label_smoothing.real_target", label_smoothing["real_target"])
        self.settings = TrickSettings(
            consistency_weight=weight if on("classifier_consistency", classifier_consistency) else 0.0,
            pretrain=pretrain["enabled"],
            pretrain_epochs=positive_int("pretrain.max_epochs", pretrain["max_epochs"]),
            pretrain_batch_size=positive_int("pretrain.batch_size", pretrain["batch_size"]),
            pretrain_lr=positive("pretrain.lr", pretrain["lr"]),
            pretrain_seed=non_negative_int("pretrain.seed", pretrain["seed"]),
            instance_noise_std=noise_std if on("instance_noise", instance_noise) else 0.0,
            instance_noise_decay=unit_target("instance_noise.decay", instance_noise["decay"]),
            real_target=real_target if on("label_smoothing", label_smoothing) else 1.0,
            early_stopping=on("early_stopping", early_stopping),
            eval_every=positive_int("early_stopping.eval_every", early_stopping["eval_every"]),
            patience=positive_int("early_stopping.patience", early_stopping["patience"]),
        )
