"""`synthlift-report SWEEP_DIR`: per-configuration lift statistics over the seeds of a sweep.

Every run's `results.json` below the sweep directory is read; runs that share their overrides
except `seed=` form one configuration, whose per-seed lifts get a paired t CI (synthlift.stats).
Failed and unreadable runs are listed, never dropped, because a sweep where the "bad" seeds
crashed would otherwise report a rosier lift than it earned.

Writes `report.md`, `report.csv` and `lift_bars.png` into the sweep directory (atomically).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from synthlift.errors import DataError
from synthlift.io import atomic_write_text
from synthlift.plots import plot_lift_bars
from synthlift.results import RESULTS_FILE, is_semantic_override, read_results
from synthlift.stats import HELPS, HURTS, NO_DIFFERENCE, LiftSummary, summarize_paired, verdict

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
LIFT_BARS_PNG = "lift_bars.png"
DEFAULTS_KEY = "(defaults)"
PTS = 100.0  # metrics are fractions in [0, 1]; the markdown and plot show them as percent / points
_LIFT_FIELDS = ("n", "baseline", "treated", "mean", "std", "ci_low", "ci_high", "p_value", "verdict")
_CONCLUSIONS = {
    HELPS: "synthetic data helps",
    HURTS: "synthetic data hurts",
    NO_DIFFERENCE: "no evidence that synthetic data helps or hurts",
}


@dataclass(frozen=True)
class FailedRun:
    run_dir: Path  # relative to the sweep directory
    error: str


@dataclass
class Report:
    """One row per configuration in `groups`; for lift L its columns are `L_n`, `L_baseline`,
    `L_treated` (mean metrics over the paired seeds), `L_mean`, `L_std`, `L_ci_low`, `L_ci_high`,
    `L_p_value`, `L_verdict`, all as fractions."""

    sweep_dir: Path
    confidence: float
    lift_pairs: dict[str, tuple[str, str]]  # lift -> (treated metric, baseline metric), primary first
    groups: pd.DataFrame
    failed: list[FailedRun]
    common: list[str] = field(default_factory=list)  # overrides shared by every run of the sweep
    warnings: list[str] = field(default_factory=list)

    @property
    def primary_lift(self) -> str | None:
        return next(iter(self.lift_pairs), None)

    def summary(self, row: pd.Series, lift: str) -> LiftSummary:
        return LiftSummary(**{name: row[f"{lift}_{name}"] for name in LiftSummary.__dataclass_fields__})


def _load_runs(sweep_dir: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[FailedRun]]:
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
        if isinstance(record, dict):
            records.append((run_dir, record))
        else:
            unreadable.append(FailedRun(run_dir, f"corrupt {RESULTS_FILE}: not a JSON object"))
    return records, unreadable


def _settings(record: dict[str, Any]) -> set[str]:
    """The overrides that change what a run measures (not where it is stored or how it is logged)."""
    return {o for o in record.get("overrides") or [] if is_semantic_override(o)}


def group_key(overrides: list[str] | set[str] | None, common: set[str] = frozenset()) -> str:
    """The configuration a run belongs to: its overrides without the seed and without the settings
    that every run of the sweep shares (those are printed once, above the table)."""
    kept = sorted(o for o in overrides or [] if not o.lstrip("+").startswith("seed=") and o not in common)
    return ", ".join(kept) or DEFAULTS_KEY


def _error_text(record: dict[str, Any]) -> str:
    error = record.get("error") or {}
    if not error:
        return f"status {record.get('status')!r}, no error recorded"
    return f"{error.get('type', 'Error')}: {error.get('message', '')}"


def _metric(record: dict[str, Any], name: str) -> float:
    try:
        return float((record.get("metrics") or {})[name])
    except (KeyError, TypeError, ValueError):
        return math.nan


def _seed_order(seed: Any) -> tuple[bool, Any]:
    return (not isinstance(seed, int), seed if isinstance(seed, int) else str(seed))


def _lift_columns(
    runs: list[tuple[Path, dict[str, Any]]],
    lift: str,
    pair: tuple[str, str],
    confidence: float,
    warnings: list[str],
) -> dict[str, Any]:
    """Stats of one lift over the runs that measured both of its metrics."""
    measured = [(run_dir, r, _metric(r, pair[0]), _metric(r, pair[1])) for run_dir, r in runs]
    measured = [m for m in measured if math.isfinite(m[2]) and math.isfinite(m[3])]
    for run_dir, record, t, b in measured:  # the run's own lift must agree with its two metrics
        stored = _metric(record, lift)
        if math.isfinite(stored) and not math.isclose(stored, t - b, abs_tol=1e-9):
            warnings.append(f"{run_dir}: metrics[{lift!r}] = {stored} but {pair[0]} − {pair[1]} = {t - b}")
    treated = np.array([m[2] for m in measured])
    baseline = np.array([m[3] for m in measured])
    summary = summarize_paired(treated, baseline, confidence)
    means = [float(v.mean()) if v.size else math.nan for v in (treated, baseline)]
    if summary.n and not math.isclose(summary.mean, means[0] - means[1], rel_tol=0, abs_tol=1e-9):
        raise RuntimeError(f"mean {lift} {summary.mean} != mean treated − mean baseline {means[0] - means[1]}")
    columns = {**vars(summary), "treated": means[0], "baseline": means[1], "verdict": verdict(summary)}
    return {f"{lift}_{name}": columns[name] for name in _LIFT_FIELDS}


def build_report(sweep_dir: str | Path, confidence: float = 0.95) -> Report:
    """Group a sweep's runs by configuration and summarise every lift of every group."""
    sweep_dir = Path(sweep_dir)
    records, failed = _load_runs(sweep_dir)
    groups: dict[str, dict[str, Any]] = {}
    lift_pairs: dict[str, tuple[str, str]] = {}
    warnings: list[str] = []
    common = set.intersection(*(_settings(record) for _, record in records)) if records else set()
    for run_dir, record in records:
        group = groups.setdefault(group_key(_settings(record), common), {"ok": [], "n_failed": 0})
        if record.get("status") != "ok":
            group["n_failed"] += 1
            failed.append(FailedRun(run_dir, _error_text(record)))
            continue
        group["ok"].append((run_dir, record))
        for lift, pair in (record.get("lift_pairs") or {}).items():
            if lift_pairs.setdefault(lift, tuple(pair)) != tuple(pair):
                warnings.append(f"{run_dir}: {lift} = {pair} differs from an earlier run's; the earlier is used")
    rows = []
    for config in sorted(groups):
        runs = groups[config]["ok"]
        seeds = sorted((record.get("seed") for _, record in runs), key=_seed_order)
        row = {"config": config, "n": len(runs), "n_failed": groups[config]["n_failed"]}
        row["seeds"] = ", ".join(map(str, seeds))
        for lift, pair in lift_pairs.items():
            row.update(_lift_columns(runs, lift, pair, confidence, warnings))
        rows.append(row)
    failed.sort(key=lambda run: str(run.run_dir))
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["config", "n", "n_failed", "seeds"])
    return Report(sweep_dir, confidence, lift_pairs, table, failed, sorted(common), warnings)


def _fmt(value: float, signed: bool = False) -> str:
    return "–" if not math.isfinite(value) else f"{value * PTS:{'+' if signed else ''}.2f}"


def _fmt_p(p: float) -> str:
    return "–" if not math.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _lift_title(report: Report, lift: str) -> str:
    treated, baseline = report.lift_pairs[lift]
    return f"{lift} = {treated} − {baseline}"


def _lift_table(report: Report, lift: str) -> tuple[list[str], list[list[str]]]:
    """Headers and display rows of one lift, shared by the console and the markdown output."""
    treated, baseline = report.lift_pairs[lift]
    ci_pct = f"{report.confidence * 100:g}%"
    headers = ["config", "n", "failed", "seeds", f"{baseline} (%)", f"{treated} (%)"]
    headers += ["lift (pts)", f"{ci_pct} CI (pts)", "p", "verdict"]
    rows = []
    for _, row in report.groups.iterrows():
        s = report.summary(row, lift)
        ci = "–" if not math.isfinite(s.ci_low) else f"[{_fmt(s.ci_low)}, {_fmt(s.ci_high)}]"
        rows.append(
            [row["config"], str(s.n), str(row["n_failed"]), row["seeds"], _fmt(row[f"{lift}_baseline"])]
            + [_fmt(row[f"{lift}_treated"]), _fmt(s.mean, signed=True), ci, _fmt_p(s.p_value), verdict(s)]
        )
    return headers, rows


def conclusion(summary: LiftSummary, confidence: float) -> str:
    """One plain-language sentence, e.g. "synthetic data helps: +1.6 pts (95% CI [0.4, 2.8]) over 5 seeds"."""
    if summary.n == 0:
        return "no successful runs measured this lift"
    effect = f"{summary.mean * PTS:+.1f} pts"
    if summary.n < 2:
        return f"too few seeds to tell: {effect} from a single seed"
    ci = f"{confidence * 100:g}% CI [{summary.ci_low * PTS:.1f}, {summary.ci_high * PTS:.1f}]"
    return f"{_CONCLUSIONS[verdict(summary)]}: {effect} ({ci}) over {summary.n} seeds"


def _conclusions(report: Report) -> list[tuple[str, str]]:
    """(config, sentence) on the primary lift for every configuration."""
    lift = report.primary_lift
    if lift is None:
        return []
    return [
        (
            row["config"],
            f"{_lift_title(report, lift)}: {conclusion(report.summary(row, lift), report.confidence)}",
        )
        for _, row in report.groups.iterrows()
    ]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    n_ok = int(report.groups["n"].sum())
    shared = ", ".join(f"`{override}`" for override in report.common)
    lines = [
        f"# synthlift report: {report.sweep_dir}",
        "",
        f"{len(report.groups)} configurations, {n_ok} ok runs, {len(report.failed)} failed runs. "
        "Metrics are measured on the held-out real test set and shown in percent; a lift is "
        "treated − baseline in percentage points (pts), paired by seed, with a "
        f"{report.confidence * 100:g}% Student-t CI and a two-sided paired t-test p-value. "
        f"`{REPORT_CSV}` holds the same numbers as fractions at full precision.",
        "",
        f"Settings shared by every run: {shared or 'none beyond the defaults'}.",
        "",
        "## Conclusions",
        "",
    ]
    conclusions = _conclusions(report)
    lines += [f"- **{_md_cell(config)}**: {text}" for config, text in conclusions]
    if not conclusions:
        lines.append("No successful run reported a lift.")
    for lift in report.lift_pairs:
        headers, rows = _lift_table(report, lift)
        lines += ["", f"## {_lift_title(report, lift)}", "", "| " + " | ".join(headers) + " |"]
        lines += ["|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
    if report.warnings:
        lines += ["", "## Warnings", ""] + [f"- {_md_cell(w)}" for w in report.warnings]
    lines += ["", f"## Failed runs ({len(report.failed)})", ""]
    lines += [f"- `{run.run_dir}`: {_md_cell(run.error)}" for run in report.failed] or ["None."]
    return "\n".join(lines) + "\n"


def write_report(report: Report) -> list[Path]:
    """Write report.md, report.csv and (when a lift exists) lift_bars.png into the sweep directory."""
    paths = [report.sweep_dir / REPORT_MD, report.sweep_dir / REPORT_CSV]
    atomic_write_text(paths[0], to_markdown(report))
    atomic_write_text(paths[1], report.groups.to_csv(index=False))
    primary = report.primary_lift
    if primary is not None:
        rows = [(row["config"], report.summary(row, primary)) for _, row in report.groups.iterrows()]
        paths.append(report.sweep_dir / LIFT_BARS_PNG)
        plot_lift_bars(rows, paths[-1], f"{_lift_title(report, primary)} (pts)", scale=PTS)
    return paths


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    for lift in report.lift_pairs:
        headers, rows = _lift_table(report, lift)
        table = Table(title=_lift_title(report, lift))
        for header in headers:
            table.add_column(header, overflow="fold")  # fold, not "…": a cut-off config name is useless
        for row in rows:
            table.add_row(*map(Text, row))  # Text: overrides like "a=[x]" are not rich markup
        console.print(table)
    for config, text in _conclusions(report):
        console.print(Text.assemble((config, "bold"), ": ", text))
    for warning in report.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    console.print(Text(f"\nFailed runs ({len(report.failed)})", style="bold"))
    for run in report.failed:
        console.print(Text(f"  {run.run_dir}: {run.error}"))


def _confidence(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="synthlift-report", description="Summarise the lift of every configuration in a sweep."
    )
    parser.add_argument("sweep_dir", type=Path, help="a run or sweep output directory holding results.json files")
    parser.add_argument("--confidence", type=_confidence, default=0.95, help="CI level (default 0.95)")
    args = parser.parse_args(argv)
    try:
        report = build_report(args.sweep_dir, args.confidence)
    except DataError as exc:
        print(f"synthlift-report: {exc}", file=sys.stderr)
        return 2
    paths = write_report(report)
    print_report(report)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
