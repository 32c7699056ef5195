"""`dataset=text/books_to_kitchen` and the like: domain adaptation. The scarce training set and the
validation set come from the `source` domain, the test set from the `target` domain's held-out split.

This is the setting where synthetic data is often claimed to help most: the question is whether a
generator trained on source-domain examples adds anything that carries over to a domain it never saw.
Validation stays in the source domain — target labels are unknown at training time — so nothing is
tuned on the target.
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

    `train_per_class` and `max_rows` are this dataset's own keys, as for any text dataset (so
    `dataset.train_per_class=250` or a sweep over it works the same here): the first sets the source's
    training draw, the second subsamples both tables. The two domains are built here from their configs
    (`_recursive_: false` in the yaml) so that these keys reach them.
    """

    def __init__(
        self,
        source: DictConfig,
        target: DictConfig,
        train_per_class: int | Mapping[str, int] = 50,
        max_rows: int | None = None,
    ):
        self.source = build(source, "dataset.source", train_per_class=train_per_class, max_rows=max_rows)
        self.target = build(target, "dataset.target", max_rows=max_rows)
        for key, dataset in (("source", self.source), ("target", self.target)):
            if type(dataset) is not TextTableDataset:
                raise InvalidArgument(key, dataset, "a text table dataset config (conf/dataset/text/*.yaml)")
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
