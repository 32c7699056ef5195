"""The report as a person reads it: `report.md`, `report.csv`, `lift_bars.png` and a console table.

Metrics are fractions in the report's table and CSV; the markdown, console and plot show them as
percent, and lifts as percentage points.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from synthlift.core.io import atomic_write_text
from synthlift.core.plots import plot_lift_bars
from synthlift.core.stats import HELPS, HURTS, NO_DIFFERENCE, LiftSummary, verdict
from synthlift.report.predictors import format_p, markdown_lines, skipped_by_reason, table_rows
from synthlift.report.summary import Report

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
LIFT_BARS_PNG = "lift_bars.png"
ARCHIVED_NOTE = (
    "results of an earlier config of the same job, moved aside with their artefacts when the config (or its data) "
    "changed; not counted above"
)
PTS = 100.0  # metrics are fractions in [0, 1]; the markdown and plot show them as percent / points
_CONCLUSIONS = {
    HELPS: "synthetic data helps",
    HURTS: "synthetic data hurts",
    NO_DIFFERENCE: "no evidence that synthetic data helps or hurts",
}


def _fmt(value: float, signed: bool = False) -> str:
    return "–" if not math.isfinite(value) else f"{value * PTS:{'+' if signed else ''}.2f}"


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
            + [_fmt(row[f"{lift}_treated"]), _fmt(s.mean, signed=True), ci, format_p(s.p_value), verdict(s)]
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


def _not_measured(report: Report) -> list[tuple[str, str, str]]:
    """(config, metric, "reason (seeds …)") for every metric that ok runs stored as null."""
    return [
        (config, null.metric, f"{null.reason} (seed{'s' * (len(null.seeds) > 1)} {', '.join(map(str, null.seeds))})")
        for config, nulls in report.not_measured.items()
        for null in nulls
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
    if report.predictors is not None:
        lines += ["", "## Which quality metric predicts lift?", "", *markdown_lines(report.predictors)]
    if not_measured := _not_measured(report):
        lines += ["", "## Not measured", "", "Metrics that ok runs stored as null, with the reason they gave.", ""]
        lines += [f"- **{_md_cell(config)}**: `{name}`: {_md_cell(why)}" for config, name, why in not_measured]
    if report.warnings:
        lines += ["", "## Warnings", ""] + [f"- {_md_cell(w)}" for w in report.warnings]
    lines += ["", f"## Failed runs ({len(report.failed)})", ""]
    lines += [f"- `{run.run_dir}`: {_md_cell(run.error)}" for run in report.failed] or ["None."]
    if report.archived:
        lines += ["", f"## Archived results ({len(report.archived)})", "", ARCHIVED_NOTE, ""]
        lines += [f"- `{path.parent}`" for path in report.archived]
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


def _console_table(title: str, headers: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")  # fold, not "…": a cut-off config name is useless
    for row in rows:
        table.add_row(*map(Text, row))  # Text: overrides like "a=[x]" are not rich markup
    return table


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    for lift in report.lift_pairs:
        console.print(_console_table(_lift_title(report, lift), *_lift_table(report, lift)))
    for config, text in _conclusions(report):
        console.print(Text.assemble((config, "bold"), ": ", text))
    if (predictors := report.predictors) is not None:
        title = f"Which quality metric predicts {predictors.lift}? (across {predictors.unit})"
        console.print(_console_table(title, *table_rows(predictors)))
        for names, why in skipped_by_reason(predictors):
            console.print(Text.assemble(("no correlation: ", "yellow"), f"{', '.join(names)}: {why}"))
    for config, name, why in _not_measured(report):
        console.print(Text.assemble(("not measured: ", "yellow"), (config, "bold"), f": {name}: {why}"))
    for warning in report.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    console.print(Text(f"\nFailed runs ({len(report.failed)})", style="bold"))
    for run in report.failed:
        console.print(Text(f"  {run.run_dir}: {run.error}"))
    if report.archived:
        console.print(Text(f"\nArchived results ({len(report.archived)}): {ARCHIVED_NOTE}", style="bold"))
