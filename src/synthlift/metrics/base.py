"""Quality metrics of synthetic data (the `metrics` list group), shaped after detectron2's
DatasetEvaluator / DatasetEvaluators: each metric is a small class with one `evaluate(real, synthetic)`
returning a flat dict, and `QualityMetrics` runs a list of them and refuses two that report the same key.

`real` is what synthetic data is compared with (the run's real train and test examples, the real-only
model); `synthetic` is the run's synthetic source, from which each metric draws the samples it needs with
its own seed, so metrics do not disturb each other or the training data. A metric that cannot be
computed reports `Unmeasured(reason)`, which results.json stores as null with the reason.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthlift.augment.base import SyntheticSource
from synthlift.core.build import build
from synthlift.core.results import Unmeasured


@dataclass(frozen=True, eq=False)
class RealReference:
    """The real side of a comparison."""

    train: Any  # the real training examples (a track's Examples)
    test: Any  # the held-out real test examples
    num_classes: int
    seed: int  # the run's seed: metrics offset it to draw their own synthetic samples
    baseline: Any = None  # the real-only downstream model
    baseline_evaluate: Any = None  # callable(model, x, y, num_classes) -> {"acc", ...}
    class_names: tuple[str, ...] = ()  # names per-class keys use (`precision_class_pos`); () = class indices

    def __post_init__(self) -> None:
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.num_classes} classes")

    def class_name(self, label: int) -> str:
        """What per-class metric keys call class `label`: its name, or its index when no names were given."""
        return str(self.class_names[label]) if self.class_names else str(label)

    def by_class(self, samples: Any) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(class name, real training embeddings of the class, synthetic embeddings of the class) for every
        class: per-class metrics compare each class with itself, since a conditional generator can match the
        overall cloud while putting one class's samples where the other's belong. With a single class (the
        image track) there is nothing per class that the overall numbers do not already say."""
        if self.num_classes == 1:
            return
        for label in range(self.num_classes):
            yield self.class_name(label), self.train.x[self.train.y == label], samples.x[samples.y == label]


class QualityMetric(abc.ABC):
    @abc.abstractmethod
    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        """Flat `{metric name: value}` for results.json."""


class QualityMetrics:
    """Every configured metric, their results merged; two metrics reporting one key is a config error."""

    def __init__(self, metrics: Mapping[str, QualityMetric]):
        for key, metric in metrics.items():
            if not isinstance(metric, QualityMetric):
                raise TypeError(f"metrics.{key} builds {type(metric).__name__}, not a QualityMetric")
        self.metrics = dict(metrics)

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None) -> QualityMetrics:
        """Every metric of the `metrics` group's node (`{name: {_target_: ...}}`; null or {} = none)."""
        return cls({name: build(metric, f"metrics.{name}") for name, metric in (node or {}).items()})

    def evaluate(self, real: RealReference, synthetic: SyntheticSource) -> dict[str, float | Unmeasured]:
        results: dict[str, float | Unmeasured] = {}
        for key, metric in self.metrics.items():
            values = metric.evaluate(real, synthetic)
            clash = sorted(set(values) & set(results))
            if clash:
                raise ValueError(f"metrics.{key} reports {clash}, which another metric already reported")
            results.update(values)
        return results
