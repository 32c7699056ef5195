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


def _shortened(flat: str, must_hash: bool, hashed: str) -> str:
    if not must_hash and len(flat) <= MAX_DIRNAME:
        return flat
    digest = hashlib.sha256(hashed.encode("utf-8")).hexdigest()[:12]
    return f"{flat[: MAX_DIRNAME - 13]}-{digest}"


def job_dirname(override_dirname: str) -> str:
    """A sweep job's folder name from its overrides: readable, stable (so a rerun finds and resumes it),
    unique per configuration, free of path separators, and short enough for any filesystem. A '/' (in a
    data file's path, or a group option such as `dataset=image/horse`) becomes '_', which alone would give
    `x/y.csv` and `x_y.csv` one folder, one result hiding the other: such names, and long ones, end in a
    hash of the overrides as given."""
    flat = override_dirname.replace("/", "_") or "defaults"
    return _shortened(flat, must_hash="/" in override_dirname, hashed=override_dirname)


def legacy_job_dirname(override_dirname: str) -> str:
    """The folder name sweeps gave a job before names were unique (synthlift <= 2026-11): where a rerun
    looks for that job's earlier results (`adopt_legacy_run`)."""
    flat = override_dirname.replace("/", "_") or "defaults"
    return _shortened(flat, must_hash=False, hashed=flat)


def override_dirname(overrides: list[str], exclude_keys: list[str]) -> str | None:
    """Hydra's `hydra.job.override_dirname` of a job's overrides (None if they do not parse), so a folder's
    results.json can be matched to the job that wrote it: the overrides as typed, sorted, those of
    `exclude_keys` left out, joined by ',' (synthlift's `hydra.job.config.override_dirname`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return None
    return ",".join(sorted(o.input_line for o in parsed if o.key_or_group not in exclude_keys))


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
