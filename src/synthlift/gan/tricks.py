"""The five tricks of Gupta (ICASSP 2019) as one typed settings object, read from the `tricks` group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrickSettings:
    consistency_weight: float = 0.0  # 0 = classifier consistency off
    pretrain: bool = False
    pretrain_epochs: int = 0
    pretrain_seed: int = 0
    instance_noise_std: float = 0.0  # 0 = instance noise off
    instance_noise_decay: float = 1.0
    real_target: float = 1.0  # < 1 = one-sided label smoothing on
    early_stopping: bool = False
    eval_every: int = 10
    patience: int = 5

    @classmethod
    def from_config(cls, tricks: Mapping[str, Any]) -> TrickSettings:
        def on(name: str) -> bool:
            return bool(tricks[name]["enabled"])

        return cls(
            consistency_weight=float(tricks["classifier_consistency"]["weight"])
            if on("classifier_consistency")
            else 0.0,
            pretrain=on("pretrain"),
            pretrain_epochs=int(tricks["pretrain"]["max_epochs"]),
            pretrain_seed=int(tricks["pretrain"]["seed"]),
            instance_noise_std=float(tricks["instance_noise"]["std"]) if on("instance_noise") else 0.0,
            instance_noise_decay=float(tricks["instance_noise"]["decay"]),
            real_target=float(tricks["label_smoothing"]["real_target"]) if on("label_smoothing") else 1.0,
            early_stopping=on("early_stopping"),
            eval_every=int(tricks["early_stopping"]["eval_every"]),
            patience=int(tricks["early_stopping"]["patience"]),
        )
