"""The reporting layer every table shares: runs → per-configuration paired summaries → adjusted verdicts →
markdown cells, a verdict count and a forest plot.

A table module (the sweep report, the leaderboard, gupta2019, handsoff, the label budget, `synthlift compare`)
says which runs and which rows; `judge` and `paired_table` turn per-seed paired lifts into one row per
configuration with its CI, raw and adjusted p-values and verdict (synthlift.core.verdicts), judged together as
the table's family; the formatters below print them the same way in every table, and `plot_forest` draws them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.table import Table
from rich.text import Text

from synthlift.core.plots import plot_forest
from synthlift.core.verdicts import EQUIVALENT, HELPS, HURTS, INCONCLUSIVE, VERDICTS, Decision, DecisionRule, decide

POINTS = 100.0  # metrics are fractions; tables show percent and lifts in points
DASH = "—"
TUNED = "tuned/"  # the option folder `make tune` writes (gan=text/tuned/<generator>)
VERDICT_MARKS = {HELPS: "▲", HURTS: "▼", EQUIVALENT: "=", INCONCLUSIVE: "?"}  # wide tables' one-character verdicts
JUDGED_COLUMNS = (
    "n",
    "lift",
    "std",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "p_equivalence",
    "p_equivalence_adjusted",
    "verdict",
    "seeds_needed",
)


def decision_columns(decision: Decision) -> dict[str, Any]:
    """The judged columns (`JUDGED_COLUMNS`) of one row's decision."""
    s = decision.summary
    return {
        "n": s.n,
        "lift": s.mean,
        "std": s.std,
        "ci_low": s.ci_low,
        "ci_high": s.ci_high,
        "p_value": s.p_value,
        "p_adjusted": decision.p_adjusted,
        "p_equivalence": decision.p_equivalence,
        "p_equivalence_adjusted": decision.p_equivalence_adjusted,
        "verdict": decision.verdict,
        "seeds_needed": decision.seeds_label,
    }


def judge(
    keys: Sequence[Mapping[str, Any]], differences: Sequence[Sequence[float]], rule: DecisionRule
) -> pd.DataFrame:
    """One row per configuration: its `keys` columns and the judged columns of its per-seed lifts, all rows
    judged as one family (the multiplicity adjustment spans the whole table)."""
    decisions = decide(differences, rule)
    return pd.DataFrame([{**key, **decision_columns(d)} for key, d in zip(keys, decisions, strict=True)])


def paired_table(
    runs: pd.DataFrame,
    by: Sequence[str],
    rule: DecisionRule,
    treated: str = "acc_augmented",
    baseline: str = "acc_real_only",
    means: Sequence[str] = (),
    firsts: Sequence[str] = (),
) -> pd.DataFrame:
    """Group `runs` (one row per seed, both arms' metrics in it) by `by` and judge each group's paired lifts
    `treated − baseline`. `means` are averaged per group (quality metrics, compute time), `firsts` taken
    from its first run (labels that are constant within a group). Runs missing either arm are left out."""
    keys, differences = [], []
    measured = runs[np.isfinite(runs[treated]) & np.isfinite(runs[baseline])] if len(runs) else runs
    for values, group in measured.groupby(list(by), sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        key = dict(zip(by, values, strict=True))
        key.update({column: group[column].iloc[0] for column in firsts})
        key.update({column: group[column].mean() for column in means})
        key["treated"], key["baseline"] = group[treated].mean(), group[baseline].mean()
        keys.append(key)
        differences.append((group[treated] - group[baseline]).to_numpy())
    if not keys:
        return pd.DataFrame(columns=[*by, *firsts, *means, "treated", "baseline", *JUDGED_COLUMNS])
    return judge(keys, differences, rule)


def tuning_summary(runs: pd.DataFrame, rule: DecisionRule, within: Sequence[str] = ()) -> pd.DataFrame:
    """Per generator run both at its defaults (`generator`) and as tuned (`tuned/<generator>`): accuracy with the
    tuned option's synthetic data minus with the default's, paired by (`setting`, `seed`) over every setting
    (same split and real-only model), all generators judged as one family; with each option's mean lift over
    the real-only model beside it. `within` are keys inside one (setting, seed) that are not independent draws
    (the nested budgets of one training set): both options are matched on them first, and only matched runs
    are averaged into the (setting, seed) pair. Generators with only one of the two options have no row."""
    columns = ["generator", "family", "default_lift", "tuned_lift", "treated", "baseline"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    arms = runs.assign(
        tuning=np.where(runs["generator"].str.startswith(TUNED), "tuned", "default"),
        base=runs["generator"].str.removeprefix(TUNED),
    )
    keys = ["base", "setting", "seed"]
    matched = [*keys, *within]
    augmented = arms.pivot_table(index=matched, columns="tuning", values="acc_augmented")
    if not {"default", "tuned"} <= set(augmented.columns):
        return pd.DataFrame(columns=columns)
    augmented = augmented.dropna().join(arms.groupby(matched)["acc_real_only"].mean())
    paired = augmented.groupby(level=keys).mean().reset_index()
    paired["default_lift"] = paired["default"] - paired["acc_real_only"]
    paired["tuned_lift"] = paired["tuned"] - paired["acc_real_only"]
    paired["family"] = paired["base"].map(arms.groupby("base")["family"].first())
    table = paired_table(
        paired, ["base"], rule, treated="tuned", baseline="default", means=["default_lift", "tuned_lift"],
        firsts=["family"],
    )  # fmt: skip
    return table.rename(columns={"base": "generator"}).sort_values("lift", ascending=False, ignore_index=True)


# --- cells -------------------------------------------------------------------------------------------------
def points(value: float, signed: bool = True, digits: int = 2) -> str:
    """A fraction as percentage points (`+1.23`), or — when not measured."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{POINTS * value:{'+' if signed else ''}.{digits}f}"


def percent(value: float, digits: int = 2) -> str:
    return points(value, signed=False, digits=digits)


def number(value: float, digits: int = 3) -> str:
    return DASH if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def p_cell(value: float) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def lift_cell(row: Mapping[str, Any], digits: int = 2) -> str:
    """`+1.12 [+0.07, +2.16]`: the lift and its CI in points."""
    lift = points(row["lift"], digits=digits)
    if not math.isfinite(row["ci_low"]):
        return lift
    return f"{lift} [{points(row['ci_low'], digits=digits)}, {points(row['ci_high'], digits=digits)}]"


def verdict_cell(row: Mapping[str, Any]) -> str:
    """The verdict; an inconclusive one says how many seeds would decide it."""
    if row["verdict"] == INCONCLUSIVE and row.get("seeds_needed") not in (None, DASH):
        return f"inconclusive (needs {row['seeds_needed']} seeds)"
    return str(row["verdict"])


def marked_cell(row: Mapping[str, Any] | None, seeds: int) -> str:
    """`+1.2 [-0.3, +2.7] ?`: lift [95% CI] in points and the verdict's mark (`VERDICT_MARKS`), compact enough
    for a wide table; `(n=3)` where fewer than the `seeds` of a complete row finished (a sweep still running, or
    stopped)."""
    if row is None:
        return DASH
    interval = f"[{points(row['ci_low'], digits=1)}, {points(row['ci_high'], digits=1)}]"
    mark = VERDICT_MARKS.get(row["verdict"], "")
    short = "" if row["n"] >= seeds else f"(n={row['n']})"
    return " ".join(part for part in (points(row["lift"], digits=1), interval, mark, short) if part)


def wide_table(
    rows: pd.DataFrame, down: str, across: str, columns: Sequence[Any], seeds: int, header: str
) -> list[str]:
    """Judged rows as a grid: one line per value of `down` (best mean lift first, with its family), one column
    per value of `across` in `columns` (titled by `header.format(value)`), `marked_cell`s inside."""
    order = rows.groupby(down)["lift"].mean().sort_values(ascending=False).index
    body = []
    for name in order:
        mine = rows[rows[down] == name].set_index(across)
        cells = (marked_cell(mine.loc[value], seeds) if value in mine.index else DASH for value in columns)
        body.append([name, mine["family"].iloc[0], *cells])
    return markdown_table([down, "family", *(header.format(value) for value in columns)], body)


def marks_line() -> str:
    """The legend under a wide table."""
    return f"Marks: {', '.join(f'{mark} {verdict}' for verdict, mark in VERDICT_MARKS.items())}."


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows]


def tuning_table(tuning: pd.DataFrame) -> list[str]:
    """`tuning_summary`'s rows as markdown: each option's mean lift, their paired difference and its verdict."""
    body = [
        [
            row["generator"],
            row["family"],
            points(row["default_lift"]),
            points(row["tuned_lift"]),
            f"{lift_cell(row)} (n={row['n']})",
            p_cell(row["p_adjusted"]),
            verdict_cell(row),
        ]
        for _, row in tuning.iterrows()
    ]
    headers = ["generator", "family", "default lift", "tuned lift", "tuned − default [95% CI]", "p adj.", "verdict"]
    return markdown_table(headers, body)


def verdict_counts(table: pd.DataFrame) -> str:
    """`3 helps, 1 hurts, 40 equivalent, 84 inconclusive` over the table's rows, in a fixed order."""
    counts = Counter(table["verdict"]) if len(table) else Counter()
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]) or "no rows"


def decision_lines(table: pd.DataFrame, rule: DecisionRule, family: str, unit: str = "points") -> list[str]:
    """The paragraph every table prints above its rows: what the verdicts mean, and how many of each."""
    return [
        rule.describe(family, len(table), unit=unit),
        "",
        f"Rows by verdict ({len(table)} rows): {verdict_counts(table)}.",
    ]


def console_table(
    title: str, rows: Sequence[tuple[str, Mapping[str, Any]]], alpha: float, label_width: int, label: str = "config"
) -> Table:
    """The terminal's view of judged rows, within 80 columns: label, seeds, lift [CI] to one decimal, adjusted p
    and verdict (an inconclusive one with the seeds that would decide it)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column(label, no_wrap=True, max_width=label_width)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column(f"lift pts [{(1 - alpha) * 100:g}% CI]", no_wrap=True)
    table.add_column("p adj", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for label, row in rows:
        verdict = verdict_cell(row).replace("inconclusive (needs ", "inconclusive (")
        cells = [label, str(row["n"]), lift_cell(row, digits=1), p_cell(row["p_adjusted"]), verdict]
        table.add_row(*map(Text, cells))  # Text: overrides like "a=[x]" are not rich markup
    return table


def forest_figure(
    table: pd.DataFrame, label: str, path: str | Path, rule: DecisionRule, title: str, panel: str | None = None
) -> Path:
    """A forest plot of the table's rows (lift and CI per row, sorted, coloured by verdict, the ±δ band shaded),
    one panel per value of `panel` when given. Returns the path."""
    panels: dict[str, list[tuple[str, float, float, float, str]]] = {}
    for _, row in table.iterrows():
        key = str(row[panel]) if panel else ""
        panels.setdefault(key, []).append(
            (str(row[label]), row["lift"] * POINTS, row["ci_low"] * POINTS, row["ci_high"] * POINTS, row["verdict"])
        )
    plot_forest(panels, path, rule.margin * POINTS, title)
    return Path(path)
