"""Shared fixtures. Real data is read from ../shared/data (or $SYNTHLIFT_DATA_DIR), never copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Every network a test trains is tiny: a second intra-op thread gains nothing, and on a busy 2-core machine
# spinning OpenMP threads slows runs down (a 4-job CLI sweep, measured beside a running sweep: 134 s with torch's
# default, 48 s with one thread). The tests' CLI runs, in subprocesses, inherit this; users' runs keep the default.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from synthlift.core.paths import PROJECT_ROOT, default_data_dir, register_resolvers  # noqa: E402

torch.set_num_threads(1)  # the in-process tests too, whatever the environment said


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


@pytest.fixture(scope="session")
def compose_config():
    """`compose_config("handsoff", "dataset=horse")`: a root config composed as the CLI would, for checks
    that need no run."""
    register_resolvers()

    def _compose(config_name: str, *overrides: str):
        with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
            return compose(config_name, overrides=list(overrides))

    return _compose
