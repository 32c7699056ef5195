"""Reading a sweep: every run's `results.json`, the configuration it belongs to and its metrics.

Unreadable records are kept as failures, never dropped. A metric that a run could not compute is
`null` in strict results.json (NaN in older ones) with its reason under `unmeasured`: it reads as not
measured, never as 0.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import OmegaConf

from synthlift.core.errors import DataError
from synthlift.core.paths import CONF_DIR
from synthlift.core.results import RESULTS_FILE, is_semantic_override, read_results

DEFAULTS_KEY = "(defaults)"
NO_REASON = "no reason recorded"

Run = tuple[Path, dict[str, Any]]  # (run directory relative to the sweep directory, its record)


@dataclass(frozen=True)
class FailedRun:
    run_dir: Path  # relative to the sweep directory
    error: str


def load_runs(sweep_dir: Path) -> tuple[list[Run], list[FailedRun]]:
    """Readable records, and the unreadable ones as failures (a crash mid-write, a disk error)."""
    if not sweep_dir.is_dir():
        raise DataError(f"sweep directory {sweep_dir} does not exist")
    paths = sorted(sweep_dir.rglob(RESULTS_FILE))
    if not paths:
        raise DataError(f"no {RESULTS_FILE} found below {sweep_dir}: is this a sweep output directory?")
    records, unreadable = [], []
    for path in paths:
        run_dir = path.parent.relative_to(sweep_dir)
        try:
            record = read_results(path)
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            unreadable.append(FailedRun(run_dir, f"unreadable {RESULTS_FILE}: {type(exc).__name__}: {exc}"))
            continue
        problem = _record_problem(record)
        if problem is None:
            records.append((run_dir, record))
        else:
            unreadable.append(FailedRun(run_dir, f"corrupt {RESULTS_FILE}: {problem}"))
    return records, unreadable


_FIELD_TYPES = {"metrics": dict, "lift_pairs": dict, "error": dict, "config": dict, "overrides": list}


def _record_problem(record: Any) -> str | None:
    """Why a parsed results.json is no record the report can read, or None. The fields the report reads must
    have their JSON type (or be null): a hand-edited or foreign record is then listed as failed, instead of
    stopping the whole report with a traceback or being counted as a run (`"lift_pairs": {"lift": "ab"}`
    would read as the lift of metric `a` over metric `b`)."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kind in _FIELD_TYPES.items():
        if record.get(key) is not None and not isinstance(record[key], kind):
            return f"{key} is not a JSON {'object' if kind is dict else 'array'}"
    pairs = (record.get("lift_pairs") or {}).values()
    if not all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(m, str) for m in pair) for pair in pairs):
        return "lift_pairs must map each lift to [treated metric, baseline metric]"
    if record.get("status") == "ok" and not any(
        math.isfinite(metric(record, name)) for name in record.get("metrics") or {}
    ):
        return 'status "ok" but no finite metric: a finished run always measures something'
    return None


def settings(record: dict[str, Any]) -> set[str]:
    """The overrides that change what a run measures (not where it is stored or how it is logged)."""
    return {o for o in record.get("overrides") or [] if is_semantic_override(o)}


def group_key(overrides: list[str] | set[str] | None, common: set[str] = frozenset()) -> str:
    """The configuration a run belongs to: its overrides without the seed and without the settings
    that every run of the sweep shares (those are printed once, above the table)."""
    kept = sorted(o for o in overrides or [] if not o.lstrip("+").startswith("seed=") and o not in common)
    return ", ".join(kept) or DEFAULTS_KEY


def error_text(record: dict[str, Any]) -> str:
    error = record.get("error") or {}
    if not error:
        return f"status {record.get('status')!r}, no error recorded"
    return f"{error.get('type', 'Error')}: {error.get('message', '')}"


def metric(record: dict[str, Any], name: str) -> float:
    """The metric as a float; NaN when the run did not measure it (missing, null or not a number)."""
    try:
        return float((record.get("metrics") or {})[name])
    except (KeyError, TypeError, ValueError):
        return math.nan


def unmeasured(record: dict[str, Any]) -> dict[str, str]:
    """{metric: reason} for every metric the run lists but holds no number for."""
    metrics = record.get("metrics")
    reasons = record.get("unmeasured")
    reasons = reasons if isinstance(reasons, dict) else {}
    names = [*(metrics if isinstance(metrics, dict) else {}), *reasons]
    return {
        name: str(reasons.get(name) or NO_REASON)
        for name in dict.fromkeys(names)
        if not math.isfinite(metric(record, name))
    }


@functools.cache
def _options_by_target(group: str) -> dict[str, str]:
    """Component class -> its option name in conf/<group>/ (read once, not once per run record)."""
    return {
        OmegaConf.load(path).get("_target_"): path.stem
        for path in sorted((CONF_DIR / group).rglob("*.yaml"))
        if not path.stem.startswith("_")
    }


def chosen_option(record: dict[str, Any], group: str) -> str:
    """The option a run chose for `group` without its track folder (`gan=text/smote` -> `smote`,
    `gan=text/tuned/smote` -> `tuned/smote`): from its overrides, else (the experiment's default) the option whose
    yaml names the run's class, else the class's name."""
    for override in record.get("overrides") or []:
        key, _, value = override.partition("=")
        if key == group:
            return value.split("/", 1)[-1]
    target = ((record.get("config") or {}).get(group) or {}).get("_target_", "unknown")
    return _options_by_target(group).get(target, target.rsplit(".", 1)[-1])


def generator_family(target: str) -> str:
    """The family a generator class declares (`GAN`, `VAE`, `cheap baseline`, `language model`, ...), by which
    tables compare like with like; `other` for a class that declares none or cannot be imported."""
    try:
        return getattr(get_class(target), "family", "other")
    except (ImportError, AttributeError):
        return "other"
