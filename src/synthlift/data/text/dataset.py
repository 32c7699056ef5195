"""The `dataset` group of the text track (`conf/dataset/text/*.yaml`): one class for every table source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthlift.core.checks import non_negative_int, one_of, open_fraction, positive_int
from synthlift.core.errors import InvalidArgument
from synthlift.data.text.splits import TextSplit, make_low_resource_split
from synthlift.data.text.table import FORMATS, TextDataset, load_text_dataset, plain_container


class TextTableDataset:
    """The `dataset` group of the text track: where a labelled text table is and how it is read and split.

    Arguments are checked here, before any work; `load()` reads the table (de-duplicated) and `split()`
    applies the low-resource protocol: the test and validation sets depend only on `split_seed`, so every
    seed of a sweep is scored on the same held-out texts, and the scarce training set is drawn with the
    run's seed. `train_per_class` is a count for every class or a `{class name: count}` map for a
    class-imbalanced training set (e.g. `{negative: 10, positive: 50}`).
    """

    def __init__(
        self,
        name: str,
        source: str,
        format: str = "auto",  # noqa: A002 (the config key users write)
        encoding: str = "utf-8",
        text_column: str = "text",
        label_column: str = "label",
        label_map: Mapping[Any, int] | None = None,
        class_names: Sequence[str] = ("negative", "positive"),
        hf: Mapping[str, Any] | None = None,
        max_rows: int | None = None,
        split_seed: int = 1234,
        test_fraction: float = 0.2,
        val_fraction: float = 0.1,
        train_per_class: int | Mapping[str, int] = 50,
        budget_val_fraction: float | None = None,
        data_dir: str | None = None,
    ):
        class_names = [str(c) for c in plain_container(class_names)]
        if len(class_names) < 2 or len(set(class_names)) != len(class_names):
            raise InvalidArgument("class_names", class_names, "a list of at least two distinct class names")
        one_of("format", format, FORMATS)
        if max_rows is not None:
            positive_int("max_rows", max_rows)
        test_fraction, val_fraction = (
            open_fraction("test_fraction", test_fraction),
            open_fraction("val_fraction", val_fraction),
        )
        if test_fraction + val_fraction >= 1:
            raise InvalidArgument(
                "test_fraction",
                test_fraction,
                f"a fraction that leaves data to train on with val_fraction={val_fraction} (their sum must be < 1)",
            )
        label_map = plain_container(label_map)
        if label_map is not None:
            bad = {
                k: v
                for k, v in label_map.items()
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(class_names)
            }
            if bad:
                raise InvalidArgument(
                    "label_map",
                    label_map,
                    f"class indices 0..{len(class_names) - 1} for class_names={class_names} "
                    f"(these map elsewhere: {bad})",
                )
        self.params: dict[str, Any] = {
            "name": str(name),
            "source": str(source),
            "format": format,
            "encoding": str(encoding),
            "text_column": str(text_column),
            "label_column": str(label_column),
            "label_map": label_map,
            "class_names": class_names,
            "hf": plain_container(hf) or {},
            "max_rows": max_rows,
            "split_seed": non_negative_int("split_seed", split_seed),
            "test_fraction": test_fraction,
            "val_fraction": val_fraction,
            "train_per_class": _per_class_counts(plain_container(train_per_class), class_names),
            "budget_val_fraction": None
            if budget_val_fraction is None
            else open_fraction("budget_val_fraction", budget_val_fraction),
        }
        self.data_dir = data_dir

    @property
    def class_names(self) -> list[str]:
        return list(self.params["class_names"])

    def load(self) -> TextDataset:
        return load_text_dataset(self.params, data_dir=self.data_dir)

    def split(self, dataset: TextDataset, seed: int) -> TextSplit:
        return make_low_resource_split(
            dataset,
            test_fraction=self.params["test_fraction"],
            val_fraction=self.params["val_fraction"],
            train_per_class=self.params["train_per_class"],
            split_seed=self.params["split_seed"],
            sample_seed=seed,
            budget_val_fraction=self.params["budget_val_fraction"],
        )


def _per_class_counts(train_per_class: int | Mapping[str, int], class_names: list[str]) -> int | list[int]:
    """An int as it is; a `{class name: count}` map as counts in class order, naming what is missing or extra."""
    if not isinstance(train_per_class, Mapping):
        return positive_int("train_per_class", train_per_class)
    if set(train_per_class) != set(class_names):
        raise InvalidArgument(
            "train_per_class", train_per_class, f"an integer > 0, or one integer > 0 for each of {class_names}"
        )
    return [positive_int(f"train_per_class.{name}", train_per_class[name]) for name in class_names]
