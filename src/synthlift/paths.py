"""Where data and outputs live. Research-only data is never copied into the project: it is read
from a configurable directory (`SYNTHLIFT_DATA_DIR`, else `../shared/data` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from synthlift.errors import DataError

DATA_DIR_ENV = "SYNTHLIFT_DATA_DIR"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_data_dir() -> str:
    """`$SYNTHLIFT_DATA_DIR` if set, else `../shared/data` beside the checkout (it may not exist:
    datasets that need it check with `require_data_file`, the embedded default does not)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return str(Path(env).expanduser().resolve())
    return str((PROJECT_ROOT.parent / "shared" / "data").resolve())


def require_data_file(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """Return `path` if it exists, else raise a DataError that says how to point synthlift at the data."""
    path = Path(path)
    if path.exists():
        return path
    hint = ""
    if data_dir is not None and not Path(data_dir).exists():
        hint = (
            f" The data directory {data_dir} does not exist: set the environment variable "
            f"{DATA_DIR_ENV}=/path/to/data or pass paths.data_dir=/path/to/data."
        )
    raise DataError(f"Data file not found: {path}.{hint}")


def register_resolvers() -> None:
    """Make `${synthlift_data_dir:}` usable in configs (idempotent)."""
    if not OmegaConf.has_resolver("synthlift_data_dir"):
        OmegaConf.register_new_resolver("synthlift_data_dir", default_data_dir)
