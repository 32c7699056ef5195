"""Where data and outputs live. Research-only data is never copied into the project: it is read
from a configurable directory (`SYNTHLIFT_DATA_DIR`, else `../shared/data` beside the checkout)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from omegaconf import OmegaConf

from synthlift.core.errors import DataError

DATA_DIR_ENV = "SYNTHLIFT_DATA_DIR"
OUTPUT_DIR_ENV = "SYNTHLIFT_OUTPUT_DIR"
PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONF_DIR = PROJECT_ROOT / "conf"  # one folder per config group, mirroring src/synthlift


def default_data_dir() -> str:
    """`$SYNTHLIFT_DATA_DIR` if set, else `../shared/data` beside the checkout (it may not exist:
    datasets that need it check with `require_data_file`, the embedded default does not)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return str(Path(env).expanduser().resolve())
    return str((PROJECT_ROOT.parent / "shared" / "data").resolve())


def default_output_root() -> str:
    """`$SYNTHLIFT_OUTPUT_DIR` if set, else `outputs/` in the working directory (absolute, so that
    every job of a sweep and the shared cache agree on it)."""
    return str(Path(os.environ.get(OUTPUT_DIR_ENV, "outputs")).expanduser().resolve())


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


MAX_DIRNAME = 120


def job_dirname(override_dirname: str) -> str:
    """A sweep job's folder name from its overrides: readable, stable (so a rerun finds and resumes it),
    free of path separators, and short enough for any filesystem (long names keep a prefix + a hash)."""
    name = override_dirname.replace("/", "_") or "defaults"
    if len(name) <= MAX_DIRNAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    return f"{name[: MAX_DIRNAME - 13]}-{digest}"


def register_resolvers() -> None:
    """Make `${synthlift_data_dir:}`, `${synthlift_output_root:}` and `${synthlift_job_dirname:...}`
    usable in configs (idempotent)."""
    resolvers = {
        "synthlift_data_dir": default_data_dir,
        "synthlift_output_root": default_output_root,
        "synthlift_job_dirname": job_dirname,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
