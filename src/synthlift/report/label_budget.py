"""`python -m synthlift.report.label_budget` (`make label_budget`): where, in labels per class, does synthetic data pay?

Runs the study's sweeps (`conf/experiment/text/label_budget*.yaml`: every cheap baseline and zoo generator at its
defaults, then the real language model in both modes where it is installed, then the cGAN with the settings `make
tune` chose on a development dataset, on MR, CR and two Amazon domains at 4 to 128 labels per class; then the zoo
again with the large validation split), and writes `experiments/label_budget.md` and its
figure from the sweeps' results.json files — never from typed numbers. Sweeps resume, so a rerun with nothing
changed trains nothing. `--render-only` skips the sweeps.

The study is true few-shot (Perez, Kiela & Cho 2021): the labels that select — the real-only classifier's tuning in
both arms, the cGAN's early stopping — come out of the budget. Its verdicts are judged as one family; the
large-validation stage is judged as another, and is shown beside it so that what the usual oracle selection
flatters (the baseline's accuracy, the lift) is visible.
"""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthlift.core.io import atomic_write_text
from synthlift.core.paths import default_output_root
from synthlift.core.plots import plot_budget_curve
from synthlift.core.stats import summarize_paired
from synthlift.core.verdicts import EQUIVALENT, HELPS, HURTS, INCONCLUSIVE, DecisionRule
from synthlift.generators.text.offline_models import TABLES_MODEL, missing_packages
from synthlift.report.collect import chosen_option, generator_family, metric
from synthlift.report.lifts import (
    DASH,
    POINTS,
    decision_lines,
    lift_cell,
    markdown_table,
    marked_cell,
    marks_line,
    p_cell,
    paired_table,
    percent,
    points,
    tuning_summary,
    tuning_table,
    verdict_counts,
    wide_table,
)
from synthlift.report.provenance import code_versions_lines
from synthlift.report.tables import failures_section, machine_summary, run_span, run_stage, table_parser, text_runs

COMMAND = "python -m synthlift.report.label_budget"
ZOO_STAGE, LLM_STAGE, TUNED_STAGE = "label_budget", "label_budget_llm", "label_budget_tuned"
LARGE_VAL_STAGE = "label_budget_large_val"
FEW_SHOT, LARGE_VAL = "few-shot", "large validation"
# A screening question over many budgets and methods: the false discovery rate over the study's rows is what a
# reader relies on when reading off "where it pays"; δ = 1 point as in every table.
RULE = DecisionRule(margin=0.01, correction="bh")


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """A run's dataset, budget (labels per class, validation labels included), where its validation labels came
    from, its generator and family, and what its synthetic data was like."""
    dataset = record["config"]["dataset"]
    return {
        "dataset": dataset["name"],
        "labels": int(dataset["train_per_class"]),
        "validation": FEW_SHOT if dataset.get("budget_val_fraction") else LARGE_VAL,
        "method": chosen_option(record, "gan"),
        "family": generator_family(record["config"]["gan"]["_target_"]),
        "faithfulness": metric(record, "llm_label_faithfulness"),
        "c2st_acc": metric(record, "c2st_acc"),
    }


def summarise(runs: pd.DataFrame, rule: DecisionRule = RULE) -> pd.DataFrame:
    """Per (validation, dataset, labels, method): the paired lift over seeds with its CI, p-values and verdict;
    each validation variant judged as its own family (the few-shot study is the claim, the large-validation
    stage the contrast). Also the mean real-only accuracy, label faithfulness, C2ST and compute per run."""
    tables = [
        paired_table(
            rows,
            ["validation", "dataset", "labels", "method"],
            rule,
            means=["acc_real_only", "faithfulness", "c2st_acc", "compute_s"],
            firsts=["family"],
        )
        for _, rows in runs.groupby("validation", sort=True)
    ]
    if not tables:
        return paired_table(runs, ["validation", "dataset", "labels", "method"], rule)
    return pd.concat(tables, ignore_index=True).sort_values(
        ["validation", "dataset", "labels", "method"], kind="stable", ignore_index=True
    )


PANEL_GROUPS = {"cheap baseline": "cheap baselines", "language model": "language model"}  # others: learned


def curves(summary: pd.DataFrame) -> dict[str, dict[str, list[tuple[float, float, float, float]]]]:
    """`plot_budget_curve`'s input for the few-shot rows: one panel per (dataset, group of families) so that no
    panel holds more than four overlapping bands (cheap baselines, learned generators, the language model), per
    method (labels, lift, CI) in points; panels in dataset order, groups in a fixed order, so each figure row is
    a dataset and each column a group (a group a dataset has not run yet stays an empty panel)."""
    few_shot = summary[summary["validation"] == FEW_SHOT]
    groups = few_shot["family"].map(lambda family: PANEL_GROUPS.get(family, "learned generators"))
    order = [group for group in ("cheap baselines", "learned generators", "language model") if group in set(groups)]
    drawn: dict[str, dict[str, list[tuple[float, float, float, float]]]] = {}
    for dataset in sorted(few_shot["dataset"].unique()):
        for group in order:
            drawn[f"{dataset}: {group}"] = {}
    for (_, row), group in zip(few_shot.iterrows(), groups, strict=True):
        lift = tuple(POINTS * row[column] for column in ("lift", "ci_low", "ci_high"))
        drawn[f"{row['dataset']}: {group}"].setdefault(row["method"], []).append((row["labels"], *lift))
    return drawn


def pays_below(rows: pd.DataFrame) -> str:
    """One dataset's few-shot rows in a sentence: the budgets at which some method helps (with the best one and
    its lift), or that none does — and then whether that is equivalence or too few seeds."""
    helping = rows[rows["verdict"] == HELPS]
    if len(helping):
        parts = []
        for labels, group in helping.groupby("labels", sort=True):
            best = group.loc[group["lift"].idxmax()]
            others = len(group) - 1
            parts.append(
                f"at {labels} labels/class {best['method']} ({lift_cell(best)} points"
                + (f"; {others} other method(s) help too" if others else "")
                + ")"
            )
        top = int(helping["labels"].max())
        return f"synthetic data pays up to {top} labels per class: " + "; ".join(parts) + "."
    hurting = rows[rows["verdict"] == HURTS]
    equivalent = rows[rows["verdict"] == EQUIVALENT]
    undecided = rows[rows["verdict"] == INCONCLUSIVE]
    sentence = f"no method helps at any budget ({len(rows)} rows: {len(equivalent)} equivalent within ±δ, "
    sentence += f"{len(hurting)} hurt, {len(undecided)} inconclusive)"
    if len(undecided):
        best = undecided.loc[undecided["lift"].idxmax()]
        sentence += (
            f"; the most promising undecided row is {best['method']} at {best['labels']} labels/class, "
            f"{lift_cell(best)} points (p = {p_cell(best['p_value'])}, adjusted {p_cell(best['p_adjusted'])}), "
            f"which needs {best['seeds_needed']} seeds to decide"
        )
    return sentence + "."


def budget_table(rows: pd.DataFrame, budgets: Sequence[int], seeds: int) -> list[str]:
    """Methods down, budgets across: lift [95% CI] in points and the verdict's mark, best mean lift first."""
    return wide_table(rows, "method", "labels", budgets, seeds, "{}/class")


def baseline_table(runs: pd.DataFrame, dataset: str, budgets: Sequence[int]) -> list[str]:
    """The real-only model's test accuracy at each budget under both validation variants, and their paired
    difference over seeds (the same training draw is the pool of both): what selecting on a large validation
    set, which a few-shot user does not have, adds to the baseline."""
    mine = runs[(runs["dataset"] == dataset)].drop_duplicates(["validation", "labels", "seed"])
    accuracy = mine.pivot_table(index=["labels", "seed"], columns="validation", values="acc_real_only")
    body = []
    for labels in budgets:
        if labels not in accuracy.index.get_level_values(0):
            continue
        at = accuracy.loc[labels]
        few = at.get(FEW_SHOT, pd.Series(dtype=float)).dropna()
        large = at.get(LARGE_VAL, pd.Series(dtype=float)).dropna()
        both = at.dropna() if FEW_SHOT in at and LARGE_VAL in at else at.iloc[0:0]
        difference = DASH
        if len(both) >= 2:
            s = summarize_paired(both[LARGE_VAL].to_numpy(), both[FEW_SHOT].to_numpy())
            difference = f"{points(s.mean)} [{points(s.ci_low)}, {points(s.ci_high)}] (n={s.n})"
        body.append(
            [
                f"{labels}/class",
                percent(few.mean()) if len(few) else DASH,
                percent(large.mean()) if len(large) else DASH,
                difference,
            ]
        )
    return markdown_table(
        ["labels", "real-only acc., few-shot (%)", "real-only acc., large validation (%)", "large − few-shot (points)"],
        body,
    )


def llm_table(summary: pd.DataFrame, dataset: str, budgets: Sequence[int], seeds: int) -> list[str]:
    """Per budget: each language-model method's lift and label faithfulness beside the best cheap baseline's lift
    (the field's question: is the LLM worth its cost over SMOTE-like tricks?)."""
    rows = summary[(summary["validation"] == FEW_SHOT) & (summary["dataset"] == dataset)]
    llms = sorted(rows[rows["family"] == "language model"]["method"].unique())
    if not llms:
        return []
    body = []
    for labels in budgets:
        at = rows[rows["labels"] == labels]
        if at.empty:
            continue
        cheap = at[at["family"] == "cheap baseline"]
        best = cheap.loc[cheap["lift"].idxmax()] if len(cheap) else None
        cells = [f"{labels}/class"]
        for method in llms:
            mine = at[at["method"] == method]
            row = mine.iloc[0] if len(mine) else None
            faithful = DASH if row is None or not np.isfinite(row["faithfulness"]) else percent(row["faithfulness"], 0)
            cells += [marked_cell(row, seeds), faithful]
        cells.append(DASH if best is None else f"{best['method']}: {marked_cell(best, seeds)}")
        body.append(cells)
    header = ["labels"]
    for method in llms:
        header += [f"{method} lift", f"{method} faithful (%)"]
    return markdown_table([*header, "best cheap baseline"], body)


def tuning_lines(runs: pd.DataFrame) -> list[str]:
    """Tuned against default in the few-shot study, per generator run both ways: each (dataset, seed)'s
    accuracies averaged over the budgets first — a seed's training sets are nested across budgets, so its
    budgets are not independent pairs — then paired by (dataset, seed); the generators judged as their own
    family (one question, asked once: did tuning on the development dataset carry over to few labels?)."""
    few_shot = runs[runs["validation"] == FEW_SHOT]
    arms = few_shot.assign(generator=few_shot["method"], setting=few_shot["dataset"])
    tuning = tuning_summary(arms, RULE, within=["labels"])
    if tuning.empty:
        return []
    return [
        "## Tuned against default (few-shot study)",
        "",
        "Accuracy with the tuned option's synthetic data minus with the default's: each (dataset, seed) averaged",
        "over its budgets (nested training sets make a seed's budgets one draw), then paired by (dataset, seed).",
        "",
        *decision_lines(tuning, RULE, "the tuned generators"),
        "",
        *tuning_table(tuning),
    ]


def render(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    failures: list[str],
    wall_s: float | None,
    figure: str | None,
    llm_note: str,
) -> str:
    """The markdown of the study: provenance, protocol, the per-dataset verdict in words, then per dataset the
    lift table, the language models against the best cheap baseline, and the two validation variants."""
    few_shot = summary[summary["validation"] == FEW_SHOT]
    large = summary[summary["validation"] == LARGE_VAL]
    budgets = sorted(int(n) for n in summary["labels"].unique())
    seeds = int(summary["n"].max())  # a complete row's; fewer are marked in its cell
    span = run_span(runs, ", 2 jobs at a time")
    out = [
        "# Label budget: where does synthetic data pay?",
        "",
        f"Generated by `{COMMAND}` on {datetime.date.today().isoformat()} from the sweeps' results.json files "
        "(nothing typed by hand).",
        f"Machine: {machine_summary()}.",
        f"Runs: {len(runs)} finished, {len(failures)} failed; {runs['compute_s'].sum() / 60:.1f} min of compute "
        "summed over runs"
        + (f"; {span}" if span else "")
        + (f"; this command took {wall_s / 60:.1f} min (finished sweeps resume without work)." if wall_s else "."),
        "",
        *code_versions_lines(runs["code"]),
        "",
        "Protocol: labels per class is the whole budget. In the few-shot study a quarter of each class's labels",
        "validate (`dataset.budget_val_fraction=0.25`: 1 of 4, 2 of 8, ... 32 of 128), and everything that selects",
        "on validation — the real-only classifier's weight decay and steps in both arms (`protocol=tuned`), the",
        "cGAN's early stopping — sees only those. Training sets are nested across budgets for a seed, so the curve",
        "is paired across budgets as well as across arms. Every lift is accuracy(real + synthetic) − accuracy(real",
        f"only) on the held-out real test set, paired by seed, mean over {seeds} seeds with its 95% Student-t CI;",
        "`augment=mix` at one synthetic example per real one. The generators run at their defaults (the GANs",
        "with the leaderboard's tricks, `tricks=text/no_smoothing`), except `tuned/cgan`: the cGAN with the",
        "settings `make tune` chose on the development dataset amazon_dvd at 50 labels per class",
        "(experiments/tuning.md; tweet pretraining on), so no label of these datasets paid for its tuning.",
        llm_note,
        "",
        *decision_lines(few_shot, RULE, "the few-shot study"),
        "",
        marks_line(),
        *([] if figure is None else ["", f"![Lift against labels per class, one line per method]({figure})"]),
        "",
        "## Where it pays, per dataset (few-shot study)",
        "",
        *(f"- **{dataset}**: {pays_below(rows)}" for dataset, rows in few_shot.groupby("dataset", sort=True)),
    ]
    if len(large):
        out += [
            "",
            f"The large-validation contrast, judged as its own family of {len(large)} rows: {verdict_counts(large)}.",
        ]
    tuned = tuning_lines(runs)
    out += ["", *tuned] if tuned else []
    for dataset in sorted(summary["dataset"].unique()):
        out += [
            "",
            f"## {dataset}",
            "",
            "Few-shot study:",
            "",
            *budget_table(few_shot[few_shot["dataset"] == dataset], budgets, seeds),
        ]
        llms = llm_table(summary, dataset, budgets, seeds)
        if llms:
            out += [
                "",
                "The language model against the best cheap baseline (faithful: the share of its texts the",
                "real-only classifier assigns to the label they were written for):",
                "",
                *llms,
            ]
        if len(large[large["dataset"] == dataset]):
            out += [
                "",
                "Large validation split (the oracle selection earlier tables used):",
                "",
                *budget_table(large[large["dataset"] == dataset], budgets, seeds),
            ]
            out += ["", "The real-only baseline under both:", "", *baseline_table(runs, dataset, budgets)]
    return "\n".join([*out, *failures_section(failures)]) + "\n"


def llm_note(has_rows: bool, missing: list[str]) -> str:
    """The protocol's sentence on the language model: its settings, or why the table has no row of it."""
    if has_rows:
        return (
            "The language model is SmolLM2-135M-Instruct (`gan=text/smollm2` writes new reviews from 3 examples, "
            "`text/smollm2_paraphrase` rewords training reviews): prompts read each class's first 8 training "
            "texts, 16 texts per class per pool, one torch thread per job."
        )
    if missing:
        return f"No language-model rows: {', '.join(missing)} not installed (`make llm` installs them)."
    return f"No language-model rows yet: the `{LLM_STAGE}` stage has not finished a run."


def main(argv: list[str] | None = None) -> int:
    parser = table_parser("synthlift-label-budget", __doc__, "label_budget.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sweeps = Path(default_output_root()) / "multirun"
    stages = [ZOO_STAGE, LLM_STAGE, TUNED_STAGE, LARGE_VAL_STAGE]
    missing = missing_packages(TABLES_MODEL)
    codes = []
    if not args.render_only:
        codes = [run_stage(stage) for stage in stages if stage != LLM_STAGE or not missing]
    runs, failures = text_runs([sweeps / stage for stage in stages], describe)
    if runs.empty:
        print(f"synthlift-label-budget: no finished run under {sweeps}", file=sys.stderr)
        return 2
    note = llm_note(has_rows=bool((runs["family"] == "language model").any()), missing=missing)
    summary = summarise(runs)
    figure = args.output.with_suffix(".png")
    title = "Lift over the tuned real-only baseline, few-shot validation"
    panels = curves(summary)
    groups = len({panel.split(": ", 1)[1] for panel in panels})  # one figure column per group of methods
    xlabel = "labels per class (validation included)"
    plot_budget_curve(
        panels, figure, RULE.margin * POINTS, title, xlabel=xlabel, columns=groups or None, share_rows=True
    )
    wall_s = None if args.render_only else time.perf_counter() - started
    atomic_write_text(args.output, render(summary, runs, failures, wall_s, figure.name, note))
    print(f"wrote {args.output} and {figure.name} ({len(runs)} runs, {len(failures)} failed)")
    return 1 if any(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
