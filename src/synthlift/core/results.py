"""The `results.json` of one run: the single record that the report reads.

Schema (shared by every track):
    status         "ok" | "failed"
    error          null | {"type", "message"}
    track, name, seed
    overrides      the job's command-line overrides (the report groups by these, minus seed)
    config_fingerprint, config (resolved)
    metrics        flat {name: float | null} measured on the held-out real test set
    unmeasured     {name: reason} for every metric that is null (could not be computed)
    lift_pairs     {lift name: [treated metric, baseline metric]}; the first is the primary lift
    sizes, timings, versions, started_at, finished_at
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from synthlift.core.io import atomic_write_json

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1
# Top-level config keys that say where and how a run is stored or watched, not what it measures:
# left out of the resume fingerprint and of the report's configuration labels.
NON_SEMANTIC_KEYS = ("paths", "logger", "trainer", "name", "resume", "plots")


def is_semantic_override(override: str) -> bool:
    """`tricks=paper` is; `paths.output_root=...` or `name=grid` is not."""
    key = override.lstrip("+~").split("=", 1)[0]
    return key.split(".", 1)[0].split("@", 1)[0] not in NON_SEMANTIC_KEYS


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("synthlift", "torch", "pytorch-lightning", "hydra-core", "torchmetrics", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


@dataclass(frozen=True)
class Unmeasured:
    """A metric that could not be computed, and why; stored as null with the reason, never as NaN."""

    reason: str


def strict_metrics(metrics: dict[str, Any]) -> tuple[dict[str, float | None], dict[str, str]]:
    """`metrics` with every Unmeasured or non-finite value as None, and the reason of each None."""
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for name, value in metrics.items():
        if isinstance(value, Unmeasured):
            values[name], reasons[name] = None, value.reason
        elif value is None:
            values[name], reasons[name] = None, "not computed"
        elif not math.isfinite(float(value)):
            values[name], reasons[name] = None, f"not finite ({float(value)})"
        else:
            values[name] = float(value)
    return values, reasons


def _finite_json(value: Any) -> Any:
    """Strict JSON has no NaN or Infinity: any left outside `metrics` (a timing, a config value) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_json(item) for item in value]
    return value


def write_results(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write the record as strict JSON; metrics that are not numbers become null with their reason."""
    record = dict(record)
    if "metrics" in record:
        record["metrics"], reasons = strict_metrics(record["metrics"])
        record["unmeasured"] = {**record.get("unmeasured", {}), **reasons}
    path = Path(run_dir) / RESULTS_FILE
    atomic_write_json(path, _finite_json({"schema_version": SCHEMA_VERSION, **record}))
    return path


def read_results(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def archive_stale_results(run_dir: str | Path, config_fingerprint: str) -> Path | None:
    """Before a job reruns in a folder whose finished results came from another config, move them aside
    (`results.stale-<finished_at>.json`) so a changed config never overwrites measured results."""
    path = Path(run_dir) / RESULTS_FILE
    try:
        record = read_results(path)
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("status") != "ok" or record.get("config_fingerprint") == config_fingerprint:
        return None
    stamp = str(record.get("finished_at", "unknown")).replace(":", "-")
    target = path.with_name(f"results.stale-{stamp}.json")
    path.replace(target)
    return target


def finished_results(run_dir: str | Path, config_fingerprint: str) -> dict[str, Any] | None:
    """The run's earlier record if it finished ok with the same config, else None (so it reruns)."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        return None
    try:
        record = read_results(path)
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("status") == "ok" and record.get("config_fingerprint") == config_fingerprint:
        return record
    return None
