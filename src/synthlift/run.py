"""`python -m synthlift.run` / `synthlift-run`: one Hydra job = one seed of one configuration.

The job writes `results.json` in its output directory whatever happens: finished metrics, the error that
stopped it, or (Ctrl-C, SIGTERM) that it was interrupted. A failed job never stops the rest of a multirun,
an interrupted one stops the process as asked, and a finished job is not run again when the same sweep is
resumed (same folder, same config). Whatever an attempt that did not finish ok left beside its record is
set aside in `unfinished-*/`.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from synthlift.core.build import build
from synthlift.core.cache import fingerprint
from synthlift.core.config import check_added_keys
from synthlift.core.errors import ConfigError, SynthliftError
from synthlift.core.inputs import input_digests
from synthlift.core.interrupts import JobInterrupted, stop_signals_raise
from synthlift.core.io import file_lock
from synthlift.core.paths import CONF_DIR, legacy_job_dirname, register_resolvers
from synthlift.core.provenance import code_version
from synthlift.core.results import (
    JOB_LOCK,
    NON_SEMANTIC_KEYS,
    RESULTS_FILE,
    adopt_legacy_run,
    archive_stale_results,
    archive_unfinished_attempt,
    finished_results,
    package_versions,
    read_results,
    set_aside_partial_artefacts,
    write_results,
)
from synthlift.core.tracking import build_loggers, log_run

log = logging.getLogger("synthlift.run")
register_resolvers()


def semantic_config(resolved: dict[str, Any]) -> dict[str, Any]:
    """The settings that change a result (not where it is stored, how it is logged or on what device)."""
    return {k: v for k, v in resolved.items() if k not in NON_SEMANTIC_KEYS}


def config_fingerprint(resolved: dict[str, Any], inputs: dict[str, str] | None = None) -> str:
    """What a finished result is valid for: the semantic config and the content of the files it names
    (`inputs`, from `input_digests`; left out when there are none, so such fingerprints stay as they were)."""
    semantic = semantic_config(resolved)
    return fingerprint(semantic, inputs) if inputs else fingerprint(semantic)


def _plain_value(cfg: DictConfig, key: str) -> Any:
    """`cfg.<key>` for the record, or None when it does not resolve (that error is recorded, not raised)."""
    return OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False, throw_on_missing=False)


def _error(err: BaseException, with_traceback: bool) -> dict[str, str]:
    error = {"type": type(err).__name__, "message": str(err)}
    if with_traceback:  # a bug, not a bad input: the traceback is kept for the fix
        error["traceback"] = traceback.format_exc()
    return error


def check_track_options(track: str | None, choices: dict[str, str | None]) -> None:
    """An option of the other track (`dataset=text/mr` under the image root) is named as such, before its
    config fails to resolve with a message about some key it lacks."""
    for group, option in choices.items():
        if track is None or option is None or "/" not in option or group.startswith("hydra"):
            continue
        folder = option.split("/")[0]
        if folder != track and (CONF_DIR / group / track).is_dir():
            raise ConfigError(
                f"{group}={option} is an option of the {folder} track, but this is the {track} track's root config: "
                f"choose one of conf/{group}/{track}/, or run the {folder} track with --config-name {folder}"
            )


def execute(
    cfg: DictConfig, run_dir: Path, overrides: list[str], choices: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """Run the job described by `cfg` and write its results.json; returns the record.

    Every job leaves a record, whatever fails: resolving the config (an interpolation to a missing key),
    building a component (an impossible value, an unknown key), or any stage of the pipeline. Ctrl-C or
    SIGTERM raises `JobInterrupted` once the record says so.
    """
    with stop_signals_raise():
        return _execute(cfg, run_dir, overrides, choices)


def _execute(
    cfg: DictConfig, run_dir: Path, overrides: list[str], choices: dict[str, str | None] | None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "status": "failed",
        "error": None,
        **{key: _plain_value(cfg, key) for key in ("track", "name", "seed")},
        "overrides": overrides,
        "versions": package_versions(),
        "code": code_version(),  # not in the fingerprint: a finished run is not rerun when the code changes
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        check_track_options(record["track"], choices or {})
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except (OmegaConfBaseException, ConfigError) as err:
        message = str(err) if isinstance(err, ConfigError) else f"the config does not resolve: {err}"
        record["config"] = OmegaConf.to_container(cfg, resolve=False)
        record["error"] = {"type": "ConfigError", "message": message}
        log.error("ConfigError: %s", message)
        return _finish(record, run_dir, cfg, [])
    try:
        inputs = input_digests(semantic_config(resolved), resolved["paths"]["cache_dir"])
        record.update(config_fingerprint=config_fingerprint(resolved, inputs), config=resolved, inputs=inputs)
    except OSError as err:
        record["config"] = resolved
        record["error"] = {"type": "DataError", "message": f"cannot read an input file the config names: {err}"}
        log.error("DataError: %s", record["error"]["message"])
        return _finish(record, run_dir, cfg, [])
    except Exception as err:  # a bug before the job started: still a record, whatever the config's values
        record["config"] = resolved
        record["error"] = _error(err, with_traceback=True)
        log.exception("Unexpected error before the job started")
        return _finish(record, run_dir, cfg, [])
    # One process at a time per job folder: a second launch of the same sweep (or two workers given one
    # job) waits, then finds the job finished instead of computing it again beside the first.
    with file_lock(
        run_dir / JOB_LOCK, waiting=lambda holder: log.info("Job running in another process (%s): waiting", holder)
    ):
        return _run_claimed(cfg, run_dir, overrides, record)


def _run_claimed(cfg: DictConfig, run_dir: Path, overrides: list[str], record: dict[str, Any]) -> dict[str, Any]:
    before_inputs = config_fingerprint(record["config"])  # how records written before `inputs` were keyed
    if cfg.get("resume", True) and (done := finished_results(run_dir, record["config_fingerprint"], before_inputs)):
        log.info("Already finished with this config, skipping: %s", run_dir / "results.json")
        return done
    if stale := archive_stale_results(run_dir, record["config_fingerprint"]):
        log.warning("Finished results of a different config (and their artefacts) kept in %s", stale)
    if unfinished := archive_unfinished_attempt(run_dir):
        log.warning("An earlier attempt of this job did not finish; what it left is kept in %s", unfinished)
    loggers = []
    try:
        check_added_keys(cfg, overrides)
        loggers = build_loggers(cfg.get("logger"))
        pipeline = build(cfg.get("pipeline"), "pipeline")
        record.update(pipeline(cfg, run_dir, loggers))
        record["status"] = "ok"
    except SynthliftError as err:
        record["error"] = _error(err, with_traceback=False)
        log.error("%s: %s", type(err).__name__, err)
    except Exception as err:  # a bug: recorded so the sweep goes on
        record["error"] = _error(err, with_traceback=True)
        log.exception("Unexpected error")
    except JobInterrupted as err:  # recorded, never a result; then the process stops, as it was asked to
        record["status"] = "interrupted"
        record["error"] = {
            "type": "Interrupted",
            "signal": err.signal_name,
            "message": f"{err} before the job finished: not a result. Rerun the same command to run it again "
            "(finished jobs are kept)",
        }
        log.warning("Interrupted (%s): recording it, then stopping", err.signal_name)
        _finish(record, run_dir, cfg, loggers)
        raise
    return _finish(record, run_dir, cfg, loggers)


def _finish(record: dict[str, Any], run_dir: Path, cfg: DictConfig, loggers: list) -> dict[str, Any]:
    """Write the record, close the trackers and, when the job did not finish ok, set aside what it left.

    A job that fails before it holds the folder (a config that does not resolve) may find another config's
    finished result there: archived into `stale-*/` first, never overwritten by the failure."""
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    finished = record["status"] == "ok"
    if not finished and (stale := archive_stale_results(run_dir, record.get("config_fingerprint"))):
        log.warning("Finished results of a different config (and their artefacts) kept in %s", stale)
    write_results(run_dir, record)
    log_run(loggers, cfg, record)
    if not finished and (partial := set_aside_partial_artefacts(run_dir)):
        log.warning("What this attempt left beside its record is kept in %s, apart from any result", partial)
    return read_results(run_dir / RESULTS_FILE)  # as stored: strict JSON, metrics that failed are null


def print_summary(record: dict[str, Any], run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    if record["status"] != "ok":
        console.print(f"[bold red]FAILED[/] {record['error']['type']}: {record['error']['message']}")
        console.print(f"results: {run_dir / 'results.json'}")
        return
    table = Table(title=f"{record['name']} · seed {record['seed']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in record["metrics"].items():
        shown = "–" if value is None else f"{value:+.4f}" if name.startswith("lift") else f"{value:.4f}"
        table.add_row(name, shown)
    console.print(table)
    lift = record["metrics"][next(iter(record["lift_pairs"]))]
    console.print(
        f"lift = {100 * lift:+.2f} points on the held-out real test set · results: {run_dir / 'results.json'}"
    )


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="text")
def hydra_main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    # Unresolved: an override's value may itself look like an interpolation (and fail to resolve).
    overrides = OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        job = hydra_cfg.job.override_dirname
        legacy_dir = run_dir.parent / legacy_job_dirname(job)
        if adopt_legacy_run(run_dir, legacy_dir, job, list(hydra_cfg.job.config.override_dirname.exclude_keys)):
            log.info("Moved this job's earlier results from %s (folder names are now unique)", legacy_dir)
    try:
        record = execute(cfg, run_dir, overrides, dict(hydra_cfg.runtime.choices))
    except JobInterrupted as err:  # the record is written; the whole sweep stops, with the signal's status
        print(f"INTERRUPTED ({err.signal_name}): {run_dir / RESULTS_FILE}", file=sys.stderr)
        sys.exit(err.exit_code)
    print_summary(record, run_dir)
    if record["status"] != "ok":
        if hydra_cfg.mode != RunMode.MULTIRUN:
            sys.exit(1)
        return None
    return sweep_objective(record, cfg.get("objective"))


def sweep_objective(record: dict[str, Any], objective: str | None) -> float | None:
    """What a sweeper maximises: the metric named by `objective`, else the primary lift. None (a failed
    trial) when the run did not measure it, with the metrics it did measure in the log."""
    name = objective or next(iter(record["lift_pairs"]))
    value = (record.get("metrics") or {}).get(name)
    if value is None:
        log.error("objective=%s was not measured by this run; its lifts: %s", name, ", ".join(record["lift_pairs"]))
    return value


def main() -> None:
    hydra_main()


if __name__ == "__main__":
    main()
