"""The low-resource split: a held-out set fixed by split_seed, a scarce training set drawn per run seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from synthlift.core.errors import ConfigError, DataError
from synthlift.data.text.splits import TextSplit, make_low_resource_split
from synthlift.data.text.table import TextDataset, load_text_dataset

DATASET_CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset" / "text"
SPLIT = {"test_fraction": 0.2, "val_fraction": 0.1, "train_per_class": 10}


def toy(counts=(100, 60), name="toy") -> TextDataset:
    texts = [f"class{c}-text{i}" for c, n in enumerate(counts) for i in range(n)]
    labels = np.repeat(np.arange(len(counts)), counts)
    return TextDataset(texts, labels, [f"c{c}" for c in range(len(counts))], name)


def split(ds, split_seed=1, sample_seed=1, **overrides) -> TextSplit:
    return make_low_resource_split(ds, split_seed=split_seed, sample_seed=sample_seed, **{**SPLIT, **overrides})


def test_parts_are_disjoint_with_expected_sizes():
    ds = toy()
    s = split(ds)
    train, val, test = set(s.train.texts), set(s.val.texts), set(s.test.texts)
    assert len(train) == len(s.train) and len(val) == len(s.val) and len(test) == len(s.test)
    assert not train & val and not train & test and not val & test
    assert s.test.class_counts().tolist() == [20, 12]
    assert s.val.class_counts().tolist() == [10, 6]
    assert s.train.class_counts().tolist() == [10, 10]
    # Every text keeps its label.
    truth = dict(zip(ds.texts, ds.labels.tolist(), strict=True))
    for part in (s.train, s.val, s.test):
        assert [truth[t] for t in part.texts] == part.labels.tolist()
        assert part.class_names == ds.class_names and part.name == ds.name


def test_test_and_val_depend_only_on_split_seed():
    ds = toy()
    a, b = split(ds, sample_seed=1), split(ds, sample_seed=2)
    assert a.test.texts == b.test.texts
    assert a.val.texts == b.val.texts
    assert set(a.train.texts) != set(b.train.texts)
    # A different split_seed gives a different test set.
    assert set(split(ds, split_seed=2).test.texts) != set(a.test.texts)


def test_same_seeds_give_identical_splits():
    ds = toy()
    a, b = split(ds, split_seed=5, sample_seed=9), split(ds, split_seed=5, sample_seed=9)
    for part in ("train", "val", "test"):
        assert getattr(a, part).texts == getattr(b, part).texts
        assert np.array_equal(getattr(a, part).labels, getattr(b, part).labels)


def test_exact_train_counts_per_class():
    ds = toy((200, 80, 50))
    for k in (1, 7, 30):
        assert split(ds, train_per_class=k).train.class_counts().tolist() == [k, k, k]


def test_training_sets_are_nested_across_budgets_for_one_seed():
    """The label-budget curve compares budgets on the same texts: 8 per class lie inside 16, inside 32."""
    ds = toy()
    for sample_seed in (0, 1):
        draws = [set(split(ds, sample_seed=sample_seed, train_per_class=n).train.texts) for n in (8, 16, 32)]
        assert draws[0] < draws[1] < draws[2]
    assert set(split(ds, sample_seed=0, train_per_class=8).train.texts) != set(
        split(ds, sample_seed=1, train_per_class=8).train.texts
    )


def test_each_class_lists_its_draw_in_order_so_its_first_texts_are_the_same_at_every_budget():
    """What lets a generator that reads only a class's first k training texts (the LLM's prompts) ask the same
    thing at every larger budget, with or without validation taken out of the budget."""
    ds = toy()
    for fraction in (None, 0.25):
        per_class = {
            n: [
                [text for text, label in zip(made.train.texts, made.train.labels, strict=True) if label == c]
                for c in (0, 1)
            ]
            for n in (8, 16, 32)
            for made in [split(ds, train_per_class=n, budget_val_fraction=fraction)]
        }
        for c in (0, 1):
            assert per_class[16][c][: len(per_class[8][c])] == per_class[8][c]
            assert per_class[32][c][: len(per_class[16][c])] == per_class[16][c]


def test_validation_from_the_budget_counts_in_it_and_stays_nested_across_budgets():
    """True few-shot: a quarter of each class's budget validates; the large held-out split is not used."""
    ds = toy()
    held_out = split(ds, train_per_class=16)
    parts = {n: split(ds, train_per_class=n, budget_val_fraction=0.25) for n in (8, 16)}
    for n, made in parts.items():
        assert len(made.train) == 2 * n * 3 // 4 and len(made.val) == 2 * n // 4
        assert not set(made.val.texts) & set(held_out.val.texts)  # drawn from the budget, not the held-out split
        assert sorted(made.train.texts + made.val.texts) == sorted(split(ds, train_per_class=n).train.texts)
        assert sorted(made.test.texts) == sorted(held_out.test.texts)
    assert set(parts[8].train.texts) < set(parts[16].train.texts) and set(parts[8].val.texts) < set(parts[16].val.texts)
    with pytest.raises(
        DataError, match=r"budget_val_fraction=0\.25 of class 'c0''s budget of 2 labels leaves 2 to train"
    ):
        split(ds, train_per_class=2, budget_val_fraction=0.25)
    with pytest.raises(ConfigError, match="budget_val_fraction=1.5"):
        split(ds, budget_val_fraction=1.5)


def test_training_order_is_not_class_blocked():
    s = split(toy((500, 500)), train_per_class=50)
    assert len(set(s.train.labels[:50].tolist())) == 2


def test_tiny_class_still_gets_a_test_example():
    s = split(toy((100, 4)), test_fraction=0.05, val_fraction=0.05, train_per_class=1)
    assert s.test.class_counts().tolist() == [5, 1]
    assert s.train.class_counts().tolist() == [1, 1]


def test_train_per_class_larger_than_available():
    ds = toy((100, 30), name="tiny_reviews")
    # c1: 30 - 6 test - 3 val = 21 left for training.
    with pytest.raises(
        DataError,
        match=r"'tiny_reviews': class 'c1' has only 21 examples left .*\(30 in total\).*"
        r"dataset\.train_per_class=25",
    ):
        split(ds, train_per_class=25)


def test_absent_class_is_reported():
    two = toy((30, 30))
    ds = TextDataset(two.texts, two.labels, ["neg", "pos", "neutral"], "three")
    with pytest.raises(DataError, match=r"'three' has no examples of class 'neutral'.*dataset\.class_names"):
        split(ds, train_per_class=1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"test_fraction": 0.0}, r"dataset\.test_fraction=0\.0 must lie strictly between 0 and 1"),
        ({"test_fraction": 1.0}, r"dataset\.test_fraction=1\.0 must lie"),
        ({"val_fraction": -0.1}, r"dataset\.val_fraction=-0\.1 must lie"),
        ({"test_fraction": 0.6, "val_fraction": 0.4}, r"dataset\.test_fraction \+ dataset\.val_fraction"),
        ({"train_per_class": 0}, r"dataset\.train_per_class=0 must be an integer >= 1"),
        ({"train_per_class": 2.5}, r"dataset\.train_per_class=2\.5 must be an integer"),
    ],
)
def test_invalid_config(overrides, message):
    with pytest.raises(ConfigError, match=message):
        split(toy(), **overrides)


def test_duplicates_never_straddle_train_and_test(tmp_path):
    """Each text is repeated (one with a label clash); after loading, no text is in two parts."""
    rng = np.random.default_rng(0)
    base = [(f"review {i}", i % 2) for i in range(120)]
    rows = base * 3 + [("clash", 0), ("clash", 1)]
    order = rng.permutation(len(rows))
    path = tmp_path / "dups.csv"
    pd.DataFrame([rows[i] for i in order], columns=["text", "label"]).to_csv(path, index=False)
    cfg = OmegaConf.merge(OmegaConf.load(DATASET_CONF / "_table.yaml"), {"name": "dups", "source": str(path)})
    ds = load_text_dataset(cfg)
    assert len(ds) == 120 and "clash" not in ds.texts
    for sample_seed in range(5):
        s = split(ds, sample_seed=sample_seed, train_per_class=40)
        parts = [s.train.texts, s.val.texts, s.test.texts]
        everything = [t for p in parts for t in p]
        assert len(everything) == len(set(everything))


def test_a_split_whose_sets_share_a_text_is_refused_naming_the_sets_and_the_text():
    """Whatever made the sets (a domain-shift target holding source texts): copies up to case and spacing count."""
    made = split(toy(name="books"))
    shouted_train_text = f"  {made.train.texts[0].upper()}\t"
    test = made.test
    leaking = TextDataset([shouted_train_text, *test.texts[1:]], test.labels, test.class_names, "kitchen")
    with pytest.raises(DataError, match=r"would leak: train \(books\) and test \(kitchen\) share 1, e\.g\. 'class"):
        TextSplit(train=made.train, val=made.val, test=leaking)
    with pytest.raises(DataError, match=r"validation \(books\) and test \(books\) share"):
        TextSplit(train=made.train, val=made.val, test=made.val)


def test_mr_split(data_dir):
    cfg = OmegaConf.merge(
        OmegaConf.load(DATASET_CONF / "_table.yaml"),
        {"name": "mr", "source": str(data_dir / "text" / "mr_rt_polarity.csv")},
    )
    s = split(load_text_dataset(cfg), split_seed=1234, sample_seed=0, train_per_class=50)
    assert s.test.class_counts().tolist() == [1066, 1066]
    assert s.val.class_counts().tolist() == [533, 533]
    assert s.train.class_counts().tolist() == [50, 50]
    assert not set(s.train.texts) & set(s.test.texts)
