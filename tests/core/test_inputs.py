"""The input files a config names are digested into its fingerprint (a replaced data file reruns its jobs)."""

from __future__ import annotations

import json
import os

from synthlift.core.inputs import MEMO_FILE, input_digests, named_paths
from synthlift.run import config_fingerprint


def test_only_path_like_strings_naming_existing_files_or_folders_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "horse").mkdir()  # a folder named like a dataset's `name`: not an input
    (tmp_path / "images").mkdir()
    (tmp_path / "reviews.csv").write_text("text,label\n")
    config = {
        "dataset": {"name": "horse", "source": "reviews.csv", "root": str(tmp_path / "images"), "data_dir": "/"},
        "gan": {"lr": 0.1, "policy": "color,translation", "missing": str(tmp_path / "gone.csv"), "empty": ""},
        "seeds": [str(tmp_path / "reviews.csv"), 3],
    }
    found = sorted(named_paths(config))
    assert found == sorted([tmp_path / "reviews.csv", tmp_path / "images", tmp_path / "reviews.csv"])


def test_digests_follow_content_not_timestamps_and_are_memoised(tmp_path):
    data, cache = tmp_path / "data.csv", tmp_path / "cache"
    data.write_text("text,label\nfine,1\n")
    config = {"dataset": {"source": str(data)}}
    first = input_digests(config, cache)
    memo = json.loads((cache / MEMO_FILE).read_text())
    assert list(first) == [str(data)] and len(memo) == 1
    os.utime(data, ns=(1, 1))  # touched, same bytes: a new memo entry, the same digest
    assert input_digests(config, cache) == first
    data.write_text("text,label\nfine,0\n")  # same size, other content
    changed = input_digests(config, cache)
    assert changed != first
    resolved = {"dataset": config["dataset"], "paths": {"cache_dir": str(cache)}}
    assert config_fingerprint(resolved, first) != config_fingerprint(resolved, changed)
    # A config that names no file keeps the fingerprint it had before inputs were digested.
    assert config_fingerprint({"seed": 0}, {}) == config_fingerprint({"seed": 0})


def test_a_folder_digest_covers_every_file_below_it(tmp_path):
    root = tmp_path / "images"
    (root / "masks").mkdir(parents=True)
    (root / "a.png").write_bytes(b"a")
    (root / "masks" / "a.png").write_bytes(b"m")
    config = {"dataset": {"root": str(root)}}
    before = input_digests(config, tmp_path / "cache")[str(root)]
    assert before.startswith("2 files:")
    (root / "masks" / "a.png").write_bytes(b"M")
    assert input_digests(config, tmp_path / "cache")[str(root)] != before
    (root / "b.png").write_bytes(b"b")
    assert input_digests(config, tmp_path / "cache")[str(root)].startswith("3 files:")
