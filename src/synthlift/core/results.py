"""The `results.json` of one run: the single record that the report reads.

Schema (shared by every track):
    status         "ok" | "failed" | "interrupted" (stopped by Ctrl-C or SIGTERM; like failed, never a result,
                   and the job runs again when the sweep is resumed)
    error          null | {"type", "message"} (+ "traceback" for a bug, "signal" for an interruption)
    track, name, seed
    overrides      the job's command-line overrides (the report groups by these, minus seed)
    config_fingerprint, config (resolved)
    metrics        flat {name: float | null} measured on the held-out real test set
    unmeasured     {name: reason} for every metric that is null (could not be computed)
    lift_pairs     {lift name: [treated metric, baseline metric]}; the first is the primary lift
    sizes, timings, versions, started_at, finished_at
    code           the synthlift code that made it, ok or failed (core/provenance.py `code_version`):
                   {"source": "git" | "package", "commit": 40-hex | null, "dirty": bool | null,
                    "diff_sha256": hex of the uncommitted changes | null, "version": package version | null};
                   absent from records written before it existed. Not part of config_fingerprint: a
                   finished run is resumed, not rerun, when only the code changed (tables flag the mix)
"""

from __future__ import annotations

import itertools
import json
import math
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from synthlift.core.io import atomic_write_json
from synthlift.core.paths import override_dirname

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1
# Top-level config keys that say where and how a run is stored or watched, not what it measures:
# left out of the resume fingerprint and of the report's configuration labels.
NON_SEMANTIC_KEYS = ("paths", "logger", "trainer", "name", "resume", "plots", "objective")


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


def _readable_record(path: Path) -> dict[str, Any] | None:
    """The record at `path`, or None where no record can be read there (missing, truncated, not UTF-8, not a
    JSON object): a job in that state has not finished, so it reruns instead of crashing the resume."""
    try:
        record = read_results(path)
    except (OSError, ValueError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return record if isinstance(record, dict) else None


STALE_PREFIX = "stale-"  # a run folder's `stale-<finished_at>/`: an earlier config's results and artefacts
STALE_RESULTS = "results.stale.json"  # not `results.json`, so no report reads an archived result as a run
UNFINISHED_PREFIX = "unfinished-"  # `unfinished-<time>/`: what an attempt that did not finish ok left behind
UNFINISHED_RESULTS = "results.unfinished.json"
JOB_LOCK = ".job.lock"  # held by the process running the job (synthlift.run)
KEPT_IN_PLACE = (".hydra", "*.log", JOB_LOCK, f"{STALE_PREFIX}*", f"{UNFINISHED_PREFIX}*")  # never moved again
ORPHAN_TEMPORARIES = ".*.tmp"  # atomic_path's temporary files; one left behind was never renamed into place


def _new_archive(run_dir: Path, name: str) -> Path:
    """A fresh folder `run_dir/name`, or `name-2`, `name-3`... when that exists (two archives in one second)."""
    for number in itertools.count(1):
        archive = run_dir / (name + (f"-{number}" if number > 1 else ""))
        try:
            archive.mkdir()
            return archive
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _artefacts(run_dir: Path) -> list[Path]:
    return [entry for entry in sorted(run_dir.iterdir()) if not any(entry.match(p) for p in KEPT_IN_PLACE)]


def archive_stale_results(run_dir: str | Path, config_fingerprint: str | None) -> Path | None:
    """Before a job reruns in a folder whose finished results came from another config, move them and the
    artefacts that go with them (synthetic set, curves, plots) into `stale-<finished_at>/`, so a changed
    config never overwrites a measurement. `config_fingerprint` None (a config that did not resolve, an
    input that cannot be read) counts as another config. Two archives of the same second get `-2`, `-3`... Returns the
    archive folder, or None when there was nothing to archive."""
    run_dir = Path(run_dir)
    path = run_dir / RESULTS_FILE
    record = _readable_record(path)
    if record is None or record.get("status") != "ok" or record.get("config_fingerprint") == config_fingerprint:
        return None
    archive = _new_archive(run_dir, STALE_PREFIX + str(record.get("finished_at", "unknown")).replace(":", "-"))
    path.replace(archive / STALE_RESULTS)
    for entry in _artefacts(run_dir):
        entry.replace(archive / entry.name)
    return archive


def _archive_entries(run_dir: Path, entries: list[Path], when: float) -> Path:
    """Move `entries` of `run_dir` into a new `unfinished-<when>/` (a failed or truncated results.json under
    `UNFINISHED_RESULTS`, so no report reads it as a run)."""
    archive = _new_archive(run_dir, UNFINISHED_PREFIX + time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(when)))
    for entry in entries:
        entry.replace(archive / (UNFINISHED_RESULTS if entry.name == RESULTS_FILE else entry.name))
    return archive


def set_aside_partial_artefacts(run_dir: str | Path) -> Path | None:
    """After an attempt that did not finish ok (failed or interrupted) wrote its record, move what else it
    left — curves, a logger's files, a synthetic set and its plots — into `unfinished-<time>/`, so nothing
    beside a record that is not a result looks like that result's output. The record stays in place for the
    report to count. Returns the archive folder, or None when the attempt left nothing else."""
    run_dir = Path(run_dir)
    partial = [entry for entry in _artefacts(run_dir) if entry.name != RESULTS_FILE]
    return _archive_entries(run_dir, partial, time.time()) if partial else None


def archive_unfinished_attempt(run_dir: str | Path) -> Path | None:
    """Before a job runs in a folder where an earlier attempt did not finish ok (killed by `kill -9`, out of
    memory, a lost node, or failed), move what that attempt left — partial training curves, plots, its
    failed or truncated results.json — into `unfinished-<time>/`, so the new attempt's curves never append
    to the old ones. Temporary files of an interrupted atomic write are deleted: they never were results.
    A failed record with nothing beside it is simply replaced. Call after `archive_stale_results`."""
    run_dir = Path(run_dir)
    for orphan in run_dir.glob(ORPHAN_TEMPORARIES):
        orphan.unlink(missing_ok=True)
    artefacts = [entry for entry in _artefacts(run_dir) if entry.name != RESULTS_FILE]
    record = _readable_record(run_dir / RESULTS_FILE)
    if not artefacts or (record is not None and record.get("status") == "ok"):
        return None
    return _archive_entries(run_dir, _artefacts(run_dir), max(entry.stat().st_mtime for entry in artefacts))


def archived_results(sweep_dir: str | Path) -> list[Path]:
    """Every archived result below a sweep folder (see `archive_stale_results`)."""
    return sorted(Path(sweep_dir).rglob(f"{STALE_PREFIX}*/{STALE_RESULTS}"))


def finished_results(
    run_dir: str | Path, config_fingerprint: str, fingerprint_without_inputs: str | None = None
) -> dict[str, Any] | None:
    """The run's earlier record if it finished ok with the same config, else None (so it reruns).

    A record written before input files were digested into the fingerprint (it has no `inputs`) counts as
    the same config when it matches `fingerprint_without_inputs`: as trusted as it was when it was written,
    so upgrading synthlift does not rerun every finished sweep."""
    record = _readable_record(Path(run_dir) / RESULTS_FILE)
    if record is None or record.get("status") != "ok":
        return None
    fingerprint = record.get("config_fingerprint")
    if fingerprint == config_fingerprint or ("inputs" not in record and fingerprint == fingerprint_without_inputs):
        return record
    return None


def adopt_legacy_run(run_dir: str | Path, legacy_dir: str | Path, job_dirname: str, exclude_keys: list[str]) -> bool:
    """Move a job's earlier folder, named by an older rule (`legacy_job_dirname`), into its folder now, so
    a rerun resumes its finished results (and keeps their artefacts) instead of training again. Only when
    the old folder's results.json was written by this job (its overrides give this job's override_dirname
    `job_dirname`): under the old rule two configurations could share a folder. Entries the new folder
    already has (Hydra's `.hydra/`, the job log) stay in the old one. Returns whether it moved anything."""
    run_dir, legacy_dir = Path(run_dir), Path(legacy_dir)
    if legacy_dir == run_dir or (run_dir / RESULTS_FILE).exists():
        return False
    record = _readable_record(legacy_dir / RESULTS_FILE)
    if record is None:
        return False
    overrides = record.get("overrides")
    if not isinstance(overrides, list) or override_dirname(overrides, exclude_keys) != job_dirname:
        return False
    for entry in legacy_dir.iterdir():
        if not (run_dir / entry.name).exists():
            entry.rename(run_dir / entry.name)
    return True
