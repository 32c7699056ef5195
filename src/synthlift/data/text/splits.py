"""The low-resource protocol: a fixed held-out test/validation set per `split_seed`, and a scarce,
per-seed training set of `train_per_class` examples per class drawn from what is left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthlift.core.errors import ConfigError, DataError
from synthlift.data.text.table import TextDataset, normalised_text

# Separate random streams for the held-out split and the training draw, so that split_seed == sample_seed
# does not make the two draws share random numbers.
_SPLIT_STREAM, _SAMPLE_STREAM = 0, 1
_MAX_SHOWN = 3  # shared texts quoted in a leakage message


@dataclass(frozen=True)
class TextSplit:
    """The three sets of a run. No text (as `normalised_text` reads it) may be in two of them, whatever
    dataset or combination of datasets made them: a split that would leak is refused when it is made."""

    train: TextDataset
    val: TextDataset
    test: TextDataset

    def __post_init__(self) -> None:
        check_no_shared_texts({"train": self.train, "validation": self.val, "test": self.test})


def check_no_shared_texts(parts: dict[str, TextDataset]) -> None:
    """Refuse sets that share a text, naming the sets, how many texts and the first few. A dataset is
    de-duplicated when it is read, so a shared text means two tables were combined (a domain-shift target
    that contains source texts) or a split was built by hand."""
    seen: dict[str, str] = {}  # normalised text -> the first set it is in
    shared: dict[tuple[str, str], list[str]] = {}
    for name, part in parts.items():
        for text in dict.fromkeys(normalised_text(text) for text in part.texts):
            if (first := seen.setdefault(text, name)) != name:
                shared.setdefault((first, name), []).append(text)
    if shared:
        order = list(parts)  # pairs in the order of the sets (train-validation, train-test, validation-test)
        pairs = "; ".join(
            f"{first} ({parts[first].name}) and {second} ({parts[second].name}) share {len(texts)}, e.g. "
            + ", ".join(repr(text[:60]) for text in texts[:_MAX_SHOWN])
            for (first, second), texts in sorted(shared.items(), key=lambda pair: [order.index(n) for n in pair[0]])
        )
        raise DataError(
            f"the split would leak: {pairs} (texts compared case-folded with spacing normalised). No text may be "
            "in two of train, validation and test: for a domain-shift dataset, give dataset.target a table "
            "without the source's texts"
        )


def make_low_resource_split(
    dataset: TextDataset,
    *,
    test_fraction: float,
    val_fraction: float,
    train_per_class: int | Sequence[int],
    split_seed: int,
    sample_seed: int,
    budget_val_fraction: float | None = None,
) -> TextSplit:
    """Split `dataset` stratified by class.

    Test and validation depend only on `split_seed` (and the data), so every run seed of a sweep is
    scored on the same test set; the training set depends on `sample_seed` too, and is nested across
    budgets: with the same seeds, a smaller `train_per_class` draws a subset of a larger one's texts. The
    training set lists each class's texts in the order of that draw (interleaved across classes by their
    position in it), so a class's first k training texts are the same at every budget: a generator that reads
    only a few of them (the language model's prompts) then asks the same thing at every larger budget.
    Every class gets at least one test example. `dataset` should be de-duplicated (`load_text_dataset`
    does it), otherwise copies of one text could fall on both sides.

    `budget_val_fraction` (the true few-shot setting, Perez, Kiela & Cho 2021): the validation set comes out
    of the label budget instead of the large held-out split, which is then left unused. `train_per_class` is
    the budget of labels per class, and that share of each class's budget draw validates (the draw's
    positions i where floor((i + 1) f) > floor(i f), so the training and validation sets both stay nested
    across budgets); everything that selects on validation (the tuned protocol, generator selection) then
    sees only labels the budget paid for. The held-out split is still carved out, so the training pool, and
    with it the draw, is the same with and without this option: the two settings are paired too.
    """
    for key, value in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0 < value < 1:
            raise ConfigError(f"dataset.{key}={value} must lie strictly between 0 and 1")
    if test_fraction + val_fraction >= 1:
        raise ConfigError(
            f"dataset.test_fraction + dataset.val_fraction = {test_fraction} + {val_fraction} leaves nothing "
            f"to train on; their sum must be below 1"
        )
    counts = [train_per_class] * len(dataset.class_names) if np.isscalar(train_per_class) else list(train_per_class)
    if len(counts) != len(dataset.class_names) or any(int(n) != n or n < 1 for n in counts):
        raise ConfigError(
            f"dataset.train_per_class={train_per_class} must be an integer >= 1 or one per class "
            f"({len(dataset.class_names)})"
        )

    if budget_val_fraction is not None and not 0 < budget_val_fraction < 1:
        raise ConfigError(f"dataset.budget_val_fraction={budget_val_fraction} must lie strictly between 0 and 1")
    split_rng = np.random.default_rng([split_seed, _SPLIT_STREAM])
    sample_rng = np.random.default_rng([sample_seed, _SAMPLE_STREAM])
    train, val, test = [], [], []
    for c, class_name in enumerate(dataset.class_names):
        members = split_rng.permutation(np.flatnonzero(dataset.labels == c))
        n = len(members)
        if n == 0:
            raise DataError(
                f"Dataset {dataset.name!r} has no examples of class {class_name!r}, so it can be neither "
                f"tested nor trained on: drop it from dataset.class_names or check dataset.label_map."
            )
        n_test = min(n, max(1, round(test_fraction * n)))
        n_val = min(n - n_test, max(1, round(val_fraction * n)))
        pool = members[n_test + n_val :]
        train_per_class = counts[c]
        if len(pool) < train_per_class:
            raise DataError(
                f"Dataset {dataset.name!r}: class {class_name!r} has only {len(pool)} examples left for "
                f"training after holding out test and validation ({n} in total), fewer than "
                f"dataset.train_per_class={train_per_class}. Lower dataset.train_per_class or the "
                f"test/validation fractions."
            )
        test.append(members[:n_test])
        # A prefix of one permutation of the class's pool (its length, not the budget, sets how many random
        # numbers are used): for one seed, the draw for 8 per class lies inside the draw for 16, so a
        # label-budget curve is paired across budgets as well as across arms.
        budget = sample_rng.permutation(pool)[: int(train_per_class)]
        if budget_val_fraction is None:
            train.append(budget)
            val.append(members[n_test : n_test + n_val])
            continue
        validates = np.diff(np.floor(np.arange(len(budget) + 1) * budget_val_fraction)) > 0
        if validates.all() or not validates.any():
            raise DataError(
                f"Dataset {dataset.name!r}: dataset.budget_val_fraction={budget_val_fraction} of class "
                f"{class_name!r}'s budget of {len(budget)} labels leaves {int((~validates).sum())} to train on "
                f"and {int(validates.sum())} to validate on; each needs at least one. Raise dataset.train_per_class "
                f"or change dataset.budget_val_fraction."
            )
        train.append(budget[~validates])
        val.append(budget[validates])

    # Training texts interleaved by their position in their class's draw (see above); validation and test
    # shuffled across classes. Either way no consumer sees class-blocked order.
    return TextSplit(
        train=dataset.subset(_interleaved(train)),
        val=dataset.subset(split_rng.permutation(np.concatenate(val))),
        test=dataset.subset(split_rng.permutation(np.concatenate(test))),
    )


def _interleaved(per_class: Sequence[np.ndarray]) -> np.ndarray:
    """The first element of every class, then the second of every class, and so on (a class that runs out
    drops out): each class keeps its own order."""
    rank = np.concatenate([np.arange(len(members)) for members in per_class])
    return np.concatenate(per_class)[np.argsort(rank, kind="stable")]
