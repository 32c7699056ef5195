"""`python -m synthlift.run` / `synthlift-run`: one Hydra job = one seed of one configuration.

The job writes `results.json` in its output directory whatever happens: finished metrics, or the
error that stopped it. A failed job never stops the rest of a multirun, and a finished job is not
run again when the same sweep is resumed (same folder, same config).
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

from synthlift.cache import fingerprint
from synthlift.errors import ConfigError, SynthliftError
from synthlift.paths import PROJECT_ROOT, register_resolvers
from synthlift.results import (
    NON_SEMANTIC_KEYS,
    archive_stale_results,
    finished_results,
    package_versions,
    write_results,
)
from synthlift.tracking import build_loggers, log_run

log = logging.getLogger("synthlift.run")
register_resolvers()


def _tracks() -> dict[str, tuple[Any, Any]]:
    """`track` -> (config validator, pipeline); imported lazily so `--help` stays fast."""
    from synthlift.pipelines.image import run_image_experiment
    from synthlift.pipelines.text import run_text_experiment
    from synthlift.validation import validate_image_config, validate_text_config

    return {"text": (validate_text_config, run_text_experiment), "image": (validate_image_config, run_image_experiment)}


def config_fingerprint(cfg: DictConfig) -> str:
    container = OmegaConf.to_container(cfg, resolve=True)
    return fingerprint({k: v for k, v in container.items() if k not in NON_SEMANTIC_KEYS})


def execute(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Run the job described by `cfg` and write its results.json; returns the record."""
    fingerprint_ = config_fingerprint(cfg)
    if cfg.get("resume", True) and (done := finished_results(run_dir, fingerprint_)):
        log.info("Already finished with this config, skipping: %s", run_dir / "results.json")
        return done
    if stale := archive_stale_results(run_dir, fingerprint_):
        log.warning("Finished results of a different config kept as %s", stale)
    record: dict[str, Any] = {
        "status": "failed",
        "error": None,
        "track": cfg.track,
        "name": cfg.name,
        "seed": int(cfg.seed),
        "overrides": overrides,
        "config_fingerprint": fingerprint_,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": package_versions(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    loggers = []
    try:
        tracks = _tracks()
        if cfg.track not in tracks:
            raise ConfigError(f"track={cfg.track!r} is unknown; known tracks: {sorted(tracks)}")
        validate, pipeline = tracks[cfg.track]
        validate(cfg)
        loggers = build_loggers(cfg.get("logger"))
        record.update(pipeline(cfg, run_dir, loggers))
        record["status"] = "ok"
    except SynthliftError as err:
        record["error"] = {"type": type(err).__name__, "message": str(err)}
        log.error("%s: %s", type(err).__name__, err)
    except Exception as err:  # a bug: recorded so the sweep goes on, traceback kept for the fix
        record["error"] = {
            "type": type(err).__name__,
            "message": str(err),
            "traceback": traceback.format_exc(),
        }
        log.exception("Unexpected error")
    finally:
        record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_results(run_dir, record)
        log_run(loggers, cfg, record)
    return record


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
        table.add_row(name, f"{value:+.4f}" if name.startswith("lift") else f"{value:.4f}")
    console.print(table)
    lift = record["metrics"][next(iter(record["lift_pairs"]))]
    console.print(
        f"lift = {100 * lift:+.2f} points on the held-out real test set · results: {run_dir / 'results.json'}"
    )


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    record = execute(cfg, run_dir, list(hydra_cfg.overrides.task))
    print_summary(record, run_dir)
    if record["status"] != "ok":
        if hydra_cfg.mode != RunMode.MULTIRUN:
            sys.exit(1)
        return None
    return record["metrics"][next(iter(record["lift_pairs"]))]  # what a sweeper (e.g. optuna) maximises


def main() -> None:
    hydra_main()


if __name__ == "__main__":
    main()
