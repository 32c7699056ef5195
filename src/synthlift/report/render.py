"""The report as a person reads it: `report.md`, `report.csv`, `forest.png` and a console summary.

Metrics are fractions in the report's table and CSV; the markdown, console and figure show them as percent,
and lifts as percentage points. The console summary fits an 80-column terminal: one line per configuration
with a short label, the primary lift first; the other lifts are in report.md (or `--all-lifts`).
"""

from __future__ import annotations

import re
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from synthlift.core.io import atomic_write_text
from synthlift.core.verdicts import EQUIVALENT, HELPS, HURTS, INCONCLUSIVE, NOT_MEASURED, TOO_FEW_SEEDS
from synthlift.report.lifts import (
    console_table,
    forest_figure,
    lift_cell,
    markdown_table,
    p_cell,
    percent,
    points,
    verdict_cell,
    verdict_counts,
)
from synthlift.report.predictors import markdown_lines, skipped_by_reason, table_rows
from synthlift.report.provenance import code_versions_lines
from synthlift.report.summary import Report, lift_column

REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
FOREST_PNG = "forest.png"
ARCHIVED_NOTE = (
    "results of an earlier config of the same job, moved aside with their artefacts when the config (or its data) "
    "changed; not counted above"
)
SHORT_LABEL = 20  # console label width: longer configuration labels become #1, #2... with a legend
_CONCLUSIONS = {
    HELPS: "synthetic data helps",
    HURTS: "synthetic data hurts",
    EQUIVALENT: "synthetic data makes no difference beyond ±δ",
    INCONCLUSIVE: "inconclusive",
}


def _lift_title(report: Report, lift: str) -> str:
    treated, baseline = report.lift_pairs[lift]
    return f"{lift} = {treated} − {baseline}"


def _lift_table(report: Report, lift: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of one lift in report.md."""
    treated, baseline = report.lift_pairs[lift]
    ci = f"{(1 - report.rule.alpha) * 100:g}% CI"
    headers = ["config", "n", "failed", "seeds", f"{baseline} (%)", f"{treated} (%)", f"lift (pts) [{ci}]"]
    headers += ["p", "p adj.", "p equiv. adj.", "verdict"]
    rows = []
    for _, row in report.groups.iterrows():
        judged = report.lift_row(row, lift)
        rows.append(
            [row["config"], str(judged["n"]), str(row["n_failed"]), row["seeds"], percent(judged["baseline"])]
            + [percent(judged["treated"]), lift_cell(judged), p_cell(judged["p_value"])]
            + [p_cell(judged["p_adjusted"]), p_cell(judged["p_equivalence_adjusted"]), verdict_cell(judged)]
        )
    return headers, rows


def conclusion(judged: dict, alpha: float) -> str:
    """One plain-language sentence, e.g. "synthetic data helps: +1.6 pts (95% CI [0.4, 2.8]) over 5 seeds"."""
    verdict = judged["verdict"]
    if verdict == NOT_MEASURED:
        return "no successful runs measured this lift"
    effect = f"{points(judged['lift'], digits=1)} pts"
    if verdict == TOO_FEW_SEEDS:
        return f"too few seeds to tell: {effect} from a single seed"
    ci = f"{(1 - alpha) * 100:g}% CI [{points(judged['ci_low'], False, 1)}, {points(judged['ci_high'], False, 1)}]"
    sentence = f"{_CONCLUSIONS[verdict]}: {effect} ({ci}) over {judged['n']} seeds"
    if verdict == INCONCLUSIVE:
        sentence += f"; about {judged['seeds_needed']} seeds would decide it"
    return sentence


def _conclusions(report: Report) -> list[tuple[str, str]]:
    """(config, sentence) on the primary lift for every configuration."""
    lift = report.primary_lift
    if lift is None:
        return []
    return [
        (row["config"], f"{_lift_title(report, lift)}: {conclusion(report.lift_row(row, lift), report.rule.alpha)}")
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


def _judged_of(report: Report, lift: str):
    """The lift's judged rows as a table with the columns `verdict_counts` reads."""
    return report.groups.rename(columns={lift_column(lift, "verdict"): "verdict"})


def to_markdown(report: Report) -> str:
    n_ok = int(report.groups["n"].sum())
    shared = ", ".join(f"`{override}`" for override in report.common)
    family = f"the sweep's {len(report.groups)} configurations"
    lines = [
        f"# synthlift report: {report.sweep_dir}",
        "",
        f"{len(report.groups)} configurations, {n_ok} ok runs, {len(report.failed)} failed runs. "
        "Metrics are measured on the held-out real test set and shown in percent; a lift is "
        "treated − baseline in percentage points (pts), paired by seed, with a "
        f"{(1 - report.rule.alpha) * 100:g}% Student-t CI and a two-sided paired t-test p-value. "
        f"`{REPORT_CSV}` holds the same numbers as fractions at full precision.",
        "",
        report.rule.describe(family, len(report.groups)) + " Each lift is its own family.",
        "",
        *code_versions_lines(report.code_versions),
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
        counts = verdict_counts(_judged_of(report, lift))
        lines += [
            "",
            f"## {_lift_title(report, lift)}",
            "",
            f"Rows by verdict: {counts}.",
            "",
            *markdown_table(headers, rows),
        ]
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
    """Write report.md, report.csv and (when a lift exists) forest.png into the sweep directory."""
    paths = [report.sweep_dir / REPORT_MD, report.sweep_dir / REPORT_CSV]
    atomic_write_text(paths[0], to_markdown(report))
    atomic_write_text(paths[1], report.groups.to_csv(index=False))
    primary = report.primary_lift
    if primary is not None:
        fields = ("lift", "ci_low", "ci_high", "verdict")
        table = report.groups.rename(columns={lift_column(primary, name): name for name in fields})
        paths.append(report.sweep_dir / FOREST_PNG)
        forest_figure(table, "config", paths[-1], report.rule, f"{_lift_title(report, primary)} (pts)")
    return paths


def short_label(config: str) -> str:
    """`gan=text/cgan, tricks=text/paper` -> `cgan paper`: the values of the overrides, without group paths."""
    values = [part.split("=", 1)[-1].rsplit("/", 1)[-1] for part in config.split(", ")]
    return re.sub(r"\s+", " ", " ".join(values)).strip()


def _console_labels(report: Report) -> tuple[list[str], list[tuple[str, str]]]:
    """A label per configuration that fits its column, and the legend of those that had to be numbered."""
    labels, legend = [], []
    for number, config in enumerate(report.groups["config"], start=1):
        label = short_label(config)
        if len(label) > SHORT_LABEL:
            label = f"#{number}"
            legend.append((label, config))
        labels.append(label)
    return labels, legend


def print_report(report: Report, console: Console | None = None, all_lifts: bool = False) -> None:
    """The console summary: the primary lift (every lift with `all_lifts`), in at most 80 columns."""
    console = console or Console()
    labels, legend = _console_labels(report)
    lifts = list(report.lift_pairs) if all_lifts else list(report.lift_pairs)[:1]
    for lift in lifts:
        rows = [
            (label, report.lift_row(row, lift))
            for label, (_, row) in zip(labels, report.groups.iterrows(), strict=True)
        ]
        console.print(console_table(_lift_title(report, lift), rows, report.rule.alpha, SHORT_LABEL))
    for label, config in legend:
        console.print(Text(f"{label} = {config}"))
    if len(report.lift_pairs) > len(lifts):
        others = ", ".join(list(report.lift_pairs)[len(lifts) :])
        console.print(Text(f"Other lifts ({others}): in {REPORT_MD}, or with --all-lifts.", style="dim"))
    if (predictors := report.predictors) is not None and predictors.ranked:
        title = f"Which quality metric predicts {predictors.lift}? (across {predictors.unit})"
        headers, rows = table_rows(predictors)
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        for header in ["metric", "n", "rho", "p", "p Holm", "predicts?"]:
            table.add_column(header, no_wrap=header != "predicts?")
        for row in rows:
            table.add_row(*map(Text, row))
        console.print(table)
        for names, why in skipped_by_reason(predictors):
            console.print(Text.assemble(("no correlation: ", "yellow"), f"{', '.join(names)}: {why}"))
    for config, name, why in _not_measured(report):
        console.print(Text.assemble(("not measured: ", "yellow"), (config, "bold"), f": {name}: {why}"))
    mixed = code_versions_lines(report.code_versions)
    if mixed and mixed[0].startswith("**Warning"):  # runs of different or uncommitted code: said here too
        console.print(Text.assemble(("warning: ", "yellow"), mixed[0].strip("*").removeprefix("Warning: ")))
    for warning in report.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    console.print(Text(f"Failed runs: {len(report.failed)}", style="bold"))
    for run in report.failed:
        console.print(Text(f"  {run.run_dir}: {run.error}"))
    if report.archived:
        console.print(Text(f"Archived results ({len(report.archived)}): {ARCHIVED_NOTE}", style="bold"))
