"""`dataset=text/books_to_kitchen` and the like: domain adaptation. The scarce training set and the
validation set come from the `source` domain, the test set from the `target` domain's held-out split.

This is the setting where synthetic data is often claimed to help most: the question is whether a
generator trained on source-domain examples adds anything that carries over to a domain it never saw.
Validation stays in the source domain — target labels are unknown at training time — so nothing is
tuned on the target. A target that is the source table itself is refused as in-domain, and a target that
holds source texts is refused when the split is made (`TextSplit` checks every split for shared texts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from synthlift.core.build import build
from synthlift.core.errors import InvalidArgument
from synthlift.data.text.dataset import TextTableDataset
from synthlift.data.text.splits import TextSplit
from synthlift.data.text.table import TextDataset


class CrossDomainDataset(TextTableDataset):
    """Reads and splits like its `source` dataset; only the test set is replaced by `target`'s.

    `train_per_class`, `max_rows` and `budget_val_fraction` are this dataset's own keys, as for any text
    dataset (so `dataset.train_per_class=250` or a sweep over it works the same here): the first and last set
    the source's training draw and where its validation labels come from, the second subsamples both tables.
    The two domains are built here from their configs (`_recursive_: false` in the yaml) so that these keys
    reach them.
    """

    def __init__(
        self,
        source: DictConfig,
        target: DictConfig,
        train_per_class: int | Mapping[str, int] = 50,
        max_rows: int | None = None,
        budget_val_fraction: float | None = None,
    ):
        self.source = build(
            source,
            "dataset.source",
            train_per_class=train_per_class,
            max_rows=max_rows,
            budget_val_fraction=budget_val_fraction,
        )
        self.target = build(target, "dataset.target", max_rows=max_rows)
        for key, dataset in (("source", self.source), ("target", self.target)):
            if type(dataset) is not TextTableDataset:
                raise InvalidArgument(key, dataset, "a text table dataset config (conf/dataset/text/*.yaml)")
        if _same_table(self.source.params, self.target.params):
            raise InvalidArgument(
                "target",
                self.target.params["source"],
                "a table other than the source's: a source that is its own target is in-domain, not domain shift "
                "(with another split_seed, its test set would even share texts with the training set); for "
                f"in-domain runs use the source's own dataset option (dataset.name={self.source.params['name']})",
            )
        if self.source.class_names != self.target.class_names:
            raise InvalidArgument(
                "target.class_names", self.target.class_names, f"the source's class names {self.source.class_names}"
            )
        self.params: dict[str, Any] = {"source": self.source.params, "target": self.target.params}
        self.data_dir = self.source.data_dir

    @property
    def class_names(self) -> list[str]:
        return self.source.class_names

    def load(self) -> TextDataset:
        return self.source.load()

    def split(self, dataset: TextDataset, seed: int) -> TextSplit:
        source = self.source.split(dataset, seed)
        return TextSplit(train=source.train, val=source.val, test=self.target.split(self.target.load(), seed).test)


# What only changes how a table is split or subsampled, not which table it is.
_SPLIT_KEYS = ("name", "split_seed", "test_fraction", "val_fraction", "train_per_class", "max_rows")


def _same_table(source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    def table(params: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in params.items() if key not in _SPLIT_KEYS}

    return table(source) == table(target)
