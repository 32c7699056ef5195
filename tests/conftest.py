"""Shared fixtures. Real data is read from ../shared/data (or $SYNTHLIFT_DATA_DIR), never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from synthlift.paths import default_data_dir  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(default_data_dir())
    if not (path / "text").exists():
        pytest.fail(f"The shared data directory {path} is missing: set SYNTHLIFT_DATA_DIR.")
    return path


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory) -> Path:
    """One embedding/pretraining cache for the whole test session, as a sweep would share it."""
    return tmp_path_factory.mktemp("cache")
