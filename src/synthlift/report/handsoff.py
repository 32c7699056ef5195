"""`python -m synthlift.report.handsoff` (`make handsoff`): does HandsOff's synthetic data beat its real labels,
and if not, which stage falls short?

Runs the sweeps (`conf/experiment/image/transfer_tuning.yaml`: the ImageNet-pretrained U-Net's settings
scored on a validation set, so the baseline HandsOff must beat is not handicapped; then
`conf/experiment/image/handsoff_budgets.yaml`: three domains x 8/16/50 labeled images x
synthetic only / synthetic + real / synthetic pre-training, each paired by seed with the real-only U-Net and
the ImageNet-pretrained U-Net; then `handsoff_ablation.yaml` once per lever in `LEVERS`, on horses at 16
labels with synthetic + real), then writes `experiments/handsoff.md` from the sweeps' results.json files, never
from typed numbers (each table's lifts judged as one family: synthlift.report.lifts), with a forest plot
(`handsoff.png`), a label-budget curve (`handsoff_budgets.png`) and one sample grid per domain beside it. Sweeps
resume, so a rerun with nothing changed trains nothing. `--render-only` skips the sweeps.
"""

from __future__ import annotations

import datetime
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from synthlift.core.io import atomic_write_text
from synthlift.core.paths import CONF_DIR, PROJECT_ROOT, default_output_root
from synthlift.core.plots import plot_budget_curve
from synthlift.core.verdicts import HELPS, HURTS, DecisionRule
from synthlift.report.collect import chosen_option, load_runs, metric, settings
from synthlift.report.lifts import (
    DASH,
    POINTS,
    decision_lines,
    forest_figure,
    judge,
    lift_cell,
    markdown_table,
    number,
    p_cell,
    percent,
    verdict_cell,
)
from synthlift.report.provenance import code_label, code_versions_lines
from synthlift.report.tables import failures_section, machine_summary, run_span, run_stage, table_parser

COMMAND = "python -m synthlift.report.handsoff"
TUNING_STAGE, BUDGETS_STAGE, ABLATION_STAGE = "transfer_tuning", "handsoff_budgets", "handsoff_ablation"
TRANSFER_YAML = CONF_DIR / "downstream" / "image" / "unet_efficientnet.yaml"
TRANSFER_SETTINGS = {  # column -> the transfer baseline's key that experiment=image/transfer_tuning sweeps
    "encoder_input_size": "network.encoder_input_size",
    "transfer_lr": "lr",
}
ABLATION_SETTING = ("horse", 16)  # (domain, labeled images) of the lever ablation
STRATEGIES = {
    "replace": "synthetic only",
    "mix": "synthetic + real",
    "synthetic_pretrain": "synthetic pre-train → real",
}
LEVERS = {  # row title -> the overrides that pull the lever (the empty list is the reference recipe)
    "reference (handsoff_budgets recipe)": [],
    "no perceptual fine-tune of the encoder": ["tricks.lpips_finetune_steps=0"],
    "latent optimisation, 100 steps": ["tricks.optimize_latents.steps=100"],
    "W+ inversion": ["tricks.latent_space=w_plus"],
    "W+ inversion + latent optimisation": ["tricks.latent_space=w_plus", "tricks.optimize_latents.steps=100"],
    "finest-block hypercolumns only": ["labeler.feature_blocks=[-1]"],
    "no uncertainty filter": ["tricks.uncertainty_filter=0"],
    "30% uncertainty filter": ["tricks.uncertainty_filter=0.3"],
    "2,000 synthetic images": ["num_synthetic=2000"],
    "synthetic loss weight 0.5 (augment=weighted)": ["augment=weighted"],
    "1,500-step GAN (was 5,000)": ["gan.max_steps=1500"],
}
DIAGNOSTICS = {  # results.json key -> column title; a stage's quality, shared by every strategy of a pool
    "inversion_mse": "inversion MSE",
    "inversion_perceptual": "inversion perceptual",
    "labeler_cv_miou": "labeler CV mIoU",
    "labeler_test_miou": "labeler mIoU on test (via inversion)",
    "kid": "KID",
    "kid_real": "KID real floor",
}
SHAPES_EXTRA = {"pck": "PCK@0.1", "depth_rmse": "depth RMSE"}
PROTOCOL_KEYS = {  # column -> the config key the protocol paragraph reads off every run
    "resolution": "dataset.resolution",
    "gan_steps": "gan.max_steps",
    "num_synthetic": "num_synthetic",
    "uncertainty_filter": "labeler.uncertainty_filter",
    "unet_steps": "downstream.max_steps",
}
STAGE_TIMES = ("gan", "inversion", "labeler", "generate", "quality", "downstream")
RULE = DecisionRule(margin=0.01)  # δ = 1 mIoU point; Holm over the lifts of each table (one family per table)
SCRATCH, TRANSFER = "real only (U-Net from scratch)", "ImageNet EfficientNet-Lite0 U-Net (real only)"
VERSUS = {"miou_real_only": "real only", "miou_transfer": "ImageNet U-Net"}  # baseline column -> its name


def _metric_row(record: dict) -> dict[str, float]:
    names = ["miou", *SHAPES_EXTRA]
    row = {f"{name}_{arm}": metric(record, f"{name}_{arm}") for name in names for arm in ("real_only", "augmented")}
    row |= {f"{prefix}miou_transfer": metric(record, f"{prefix}miou_transfer") for prefix in ("", "val_")}
    row |= {"val_miou_real_only": metric(record, "val_miou_real_only")}
    row |= {key: metric(record, key) for key in DIAGNOSTICS}
    timings = record.get("timings") or {}
    row |= {f"{stage}_s": float(timings.get(f"{stage}_s", 0.0)) for stage in STAGE_TIMES}
    row["compute_s"] = float(sum(timings.values()))
    return row


def run_table(sweep_dir: Path, stage: str) -> tuple[pd.DataFrame, list[str]]:
    """One row per finished run of a stage, and the failures (`run dir: error`)."""
    if not sweep_dir.is_dir():
        return pd.DataFrame(), []
    records, unreadable = load_runs(sweep_dir)
    failures = [f"{stage}/{run.run_dir}: {run.error}" for run in unreadable]
    rows = []
    for run_dir, record in records:
        if record.get("status") != "ok":
            failures.append(f"{stage}/{run_dir}: {record.get('error')}")
            continue
        config = OmegaConf.create(record["config"])
        dataset = record["config"]["dataset"]
        not_levers = ("seed=", "dataset=", "dataset.num_labeled=", "experiment=", "augment=")
        lever = sorted(option for option in settings(record) if not option.startswith(not_levers))
        rows.append(
            {
                "stage": stage,
                "domain": dataset["name"],
                "read_from_files": "root" in dataset,  # a dataset of paths.data_dir, not one synthlift makes
                "labeled": int(dataset["num_labeled"]),
                "strategy": chosen_option(record, "augment"),
                "lever": ", ".join(lever),
                "seed": record.get("seed"),
                "run_dir": sweep_dir / run_dir,
                "started": pd.Timestamp(record.get("started_at")),  # NaT for a record written before they existed
                "finished": pd.Timestamp(record.get("finished_at")),
                "code": code_label(record),
                **{column: OmegaConf.select(config, key) for column, key in PROTOCOL_KEYS.items()},
                **{col: OmegaConf.select(config, f"transfer_baseline.{key}") for col, key in TRANSFER_SETTINGS.items()},
                **_metric_row(record),
            }
        )
    return pd.DataFrame(rows), failures


def _by(table: pd.DataFrame, keys: Sequence[str]) -> dict[tuple, pd.Series]:
    return {tuple(row[key] for key in keys): row for _, row in table.iterrows()}


def judged_cell(row: pd.Series | None) -> str:
    """`+5.0 [+2.5, +7.5] helps (p 0.004, adj. 0.030)`: a lift in points, its 95% CI, verdict and p-values (a
    lift without spread has no t-test p of its own, only its adjusted one)."""
    if row is None or row["n"] == 0:
        return DASH
    raw, adjusted = row["p_value"], row["p_adjusted"]
    p = (f"p {p_cell(raw)}, adj. " if math.isfinite(raw) else "p adj. ") + p_cell(adjusted)
    return f"{lift_cell(row, digits=1)} {verdict_cell(row)}" + (f" ({p})" if math.isfinite(adjusted) else "")


def _reversed(row: pd.Series | None) -> pd.Series | None:
    """The same comparison read the other way (baseline − treated): its CI mirrored, helps and hurts swapped."""
    if row is None:
        return None
    flipped = row.copy()
    flipped[["lift", "ci_low", "ci_high"]] = [-row["lift"], -row["ci_high"], -row["ci_low"]]
    flipped["verdict"] = {HELPS: HURTS, HURTS: HELPS}.get(row["verdict"], row["verdict"])
    return flipped


def _mean_sd(values: pd.Series) -> str:
    """Mean ± sd over seeds, in percent."""
    values = values.dropna()
    spread = f" ± {percent(values.std(ddof=1), digits=1)}" if len(values) > 1 else ""
    return percent(values.mean(), digits=1) + spread


def _used(runs: pd.DataFrame, column: str, count: bool = False) -> str:
    """The values a setting took over the runs (or how many there were), for the protocol paragraph."""
    values = runs[column].dropna().unique() if column in runs else []
    if count:
        return str(len(values))
    return " / ".join(str(value) for value in sorted(values)) or "?"


def best_strategy(runs: pd.DataFrame, domain: str, labeled: int) -> str:
    """The synthetic strategy with the highest mean mIoU lift at (domain, labeled); `mix` if none ran."""
    here = runs[(runs["domain"] == domain) & (runs["labeled"] == labeled) & (runs["strategy"] != "replace")]
    if here.empty:
        return "mix"
    lifts = (here["miou_augmented"] - here["miou_real_only"]).groupby(here["strategy"]).mean()
    return str(lifts.idxmax())


def budget_lifts(runs: pd.DataFrame, rule: DecisionRule = RULE) -> pd.DataFrame:
    """Every lift of the domain tables, each domain's lifts judged as one family: per label budget, the
    ImageNet U-Net over the real-only one, and each synthetic strategy over both."""
    tables = []
    for domain, here in runs.groupby("domain", sort=True):
        keys, differences = [], []
        for labeled, budget in here.groupby("labeled"):
            pairs = [(TRANSFER, budget.drop_duplicates("seed"), "miou_transfer", "miou_real_only")]
            pairs += [
                (title, budget[budget["strategy"] == strategy], "miou_augmented", baseline)
                for strategy, title in STRATEGIES.items()
                for baseline in VERSUS
            ]
            keys += [{"domain": domain, "labeled": labeled, "arm": arm, "versus": VERSUS[b]} for arm, _, _, b in pairs]
            # each lift over the seeds that measured both arms
            differences += [(frame[treated] - frame[base]).dropna() for _, frame, treated, base in pairs]
        tables.append(judge(keys, differences, rule))
    return pd.concat(tables, ignore_index=True)


def setting_table(runs: pd.DataFrame, domain: str, lifts: pd.DataFrame) -> list[str]:
    """Per label budget: every arm's mIoU and its lift over the real-only and the ImageNet-pretrained U-Net
    (from `lifts`, the rows of `budget_lifts`), after the rule and the verdict counts of the domain's family."""
    extra = SHAPES_EXTRA if domain == "shapes" else {}
    lifts = lifts[lifts["domain"] == domain]
    judged = _by(lifts, ["labeled", "arm", "versus"])
    header = ["labels", "arm", "mIoU %", "lift vs real only (points, 95% CI), verdict (p, adjusted p)"]
    header += ["lift vs ImageNet U-Net", *(f"{title} (real only → arm)" for title in extra.values())]
    body = []
    for labeled, budget in runs.groupby("labeled"):
        baseline = budget.drop_duplicates("seed")
        transfer = judged.get((labeled, TRANSFER, VERSUS["miou_real_only"]))
        scratch = [_mean_sd(baseline["miou_real_only"]), "", judged_cell(_reversed(transfer))]
        body.append([str(labeled), SCRATCH, *scratch, *(number(baseline[f"{n}_real_only"].mean()) for n in extra)])
        body.append(["", TRANSFER, _mean_sd(baseline["miou_transfer"]), judged_cell(transfer), "", *[""] * len(extra)])
        for strategy, title in STRATEGIES.items():
            arm = budget[budget["strategy"] == strategy]
            lifts_cells = [judged_cell(judged.get((labeled, title, versus))) for versus in VERSUS.values()]
            moved = [f"{number(arm[f'{n}_real_only'].mean())} → {number(arm[f'{n}_augmented'].mean())}" for n in extra]
            body += [["", title, _mean_sd(arm["miou_augmented"]), *lifts_cells, *moved]] if len(arm) else []
    family = decision_lines(lifts, RULE, f"the {domain} table's lifts", unit="mIoU points")
    return [*family, "", *markdown_table(header, body)]


def diagnostics_table(runs: pd.DataFrame) -> list[str]:
    """Stage quality per (domain, labels), from the runs of each seed's shared pool (strategies agree)."""
    header = ["domain", "labels", *DIAGNOSTICS.values(), "GAN s", "inversion s", "labeler s"]
    body = []
    for (domain, labeled), group in runs[runs["strategy"] != "none"].groupby(["domain", "labeled"]):
        seconds = [f"{group[f'{stage}_s'].max():.0f}" for stage in ("gan", "inversion", "labeler")]
        body.append([domain, str(labeled), *(number(group[key].mean()) for key in DIAGNOSTICS), *seconds])
    return markdown_table(header, body)


def _setting_label(encoder_input_size: float | None, lr: float) -> str:
    size = (
        "image's own size"
        if encoder_input_size is None or pd.isna(encoder_input_size)
        else f"{encoder_input_size:.0f} px"
    )
    return f"encoder input {size}, lr {lr:g}"


def tuning_section(tuning: pd.DataFrame, budgets: pd.DataFrame) -> list[str]:
    """The transfer baseline's settings ranked by validation mIoU (mean over domains and seeds; the test
    column is shown, never used to choose), and whether the yaml the budget sweep used carries the winner."""
    if tuning.empty:
        return [f"(experiment=image/{TUNING_STAGE} has not run: the transfer baseline is untuned)"]
    keys = list(TRANSFER_SETTINGS)
    tuning = tuning.assign(**{key: tuning[key].astype(object) for key in keys})  # keeps None a group
    domains = sorted(tuning["domain"].unique())
    rows = []  # (mean validation mIoU, setting, cells)
    for setting, group in tuning.groupby(keys, dropna=False):
        val, test = group.groupby("domain")[["val_miou_transfer", "miou_transfer"]].mean().mean()
        cells = [_mean_sd(group.loc[group["domain"] == domain, "val_miou_transfer"]) for domain in domains]
        rows.append((val, setting, [_setting_label(*setting), *cells, percent(val, digits=1), percent(test, digits=1)]))
    rows.sort(key=lambda row: -row[0])
    header = ["setting", *[f"{domain} val" for domain in domains], "mean val mIoU %", "mean test mIoU %"]
    winner = rows[0][1]
    shipped = OmegaConf.load(TRANSFER_YAML)
    configured = tuple(OmegaConf.select(shipped, key) for key in TRANSFER_SETTINGS.values())
    with_transfer = budgets[budgets["transfer_lr"].notna()] if "transfer_lr" in budgets else budgets.iloc[0:0]
    used = {_setting_label(*setting) for setting in with_transfer[keys].astype(object).itertuples(index=False)}
    same = _setting_label(*configured) == _setting_label(*winner)
    return [
        f"`experiment=image/{TUNING_STAGE}`: the ImageNet-pretrained U-Net trained on "
        f"{_used(tuning, 'labeled')} real labeled images with the scratch U-Net's budget "
        f"({_used(tuning, 'unet_steps')} steps), {_used(tuning, 'seed', count=True)} seeds, scored on a validation "
        "set held out beside the test set. The scratch U-Net reaches "
        f"{100 * tuning.groupby('domain')['val_miou_real_only'].mean().mean():.1f}% mean validation mIoU there.",
        "",
        *markdown_table(header, [cells for *_, cells in rows]),
        "",
        f"Chosen on validation: **{_setting_label(*winner)}**. {TRANSFER_YAML.relative_to(PROJECT_ROOT)} "
        + ("carries it" if same else f"**does not** carry it (it has {_setting_label(*configured)})")
        + "; the budget sweep's transfer baseline ran with "
        + (", ".join(sorted(used)) or DASH)
        + ".",
    ]


def lever_title(lever: str) -> str:
    for title, overrides in LEVERS.items():
        if sorted(overrides) == sorted(filter(None, lever.split(", "))):
            return title
    return lever


def ablation_table(runs: pd.DataFrame, rule: DecisionRule = RULE) -> list[str]:
    """Per lever: its lift over the real-only U-Net, and its difference to the reference recipe (paired by
    seed: same labeled images, same real-only model), with the stage diagnostics it moves; every lift of the
    table judged as one family."""
    if runs.empty:
        return ["(the ablation has not run)"]
    # The strategy most levers ran with is the reference's (the budget sweep's best, given on the command
    # line); a lever that changes the strategy itself is named by it.
    reference_strategy = runs["strategy"].mode()[0]
    runs = runs.assign(
        lever=[
            ", ".join(filter(None, [lever, "" if strategy == reference_strategy else f"augment={strategy}"]))
            for lever, strategy in zip(runs["lever"], runs["strategy"], strict=True)
        ]
    )
    reference = runs[runs["lever"] == ""].set_index("seed")["miou_augmented"]
    runs = runs.assign(reference=runs["seed"].map(reference))
    order = {title: i for i, title in enumerate(LEVERS)}
    levers = sorted(runs.groupby("lever"), key=lambda item: order.get(lever_title(item[0]), len(order)))
    pairs = [(lever, group, "miou_real_only") for lever, group in levers]
    pairs += [(lever, group, "reference") for lever, group in levers if lever]
    keys = [{"lever": lever, "versus": baseline} for lever, _, baseline in pairs]
    lifts = judge(keys, [(group["miou_augmented"] - group[baseline]).dropna() for _, group, baseline in pairs], rule)
    judged = _by(lifts, ["lever", "versus"])
    header = ["lever", "strategy", "lift vs real only (points, 95% CI), verdict (p, adjusted p)"]
    header += ["vs reference recipe", "inversion MSE", "labeler test mIoU", "KID"]
    body = []
    for lever, group in levers:
        versus = [judged_cell(judged.get((lever, baseline))) for baseline in ("miou_real_only", "reference")]
        diagnostics = [number(group[key].mean()) for key in ("inversion_mse", "labeler_test_miou", "kid")]
        strategies = ", ".join(sorted(group["strategy"].unique()))
        body.append([lever_title(lever), strategies, versus[0], versus[1] if lever else "", *diagnostics])
    family = "the lever table's lifts (each lever vs real only and vs the reference recipe)"
    return [*decision_lines(lifts, rule, family, unit="mIoU points"), "", *markdown_table(header, body)]


def headline(runs: pd.DataFrame, lifts: pd.DataFrame) -> list[str]:
    """The best synthetic recipe per (domain, labels) with its judged lift (`budget_lifts`), and whether the
    issue's goal is met."""
    judged = _by(lifts, ["domain", "labeled", "arm", "versus"])
    lines, helped = [], set()
    for (domain, labeled), _ in runs.groupby(["domain", "labeled"]):
        best = best_strategy(runs, domain, labeled)
        row = judged.get((domain, labeled, STRATEGIES[best], VERSUS["miou_real_only"]))
        if row is not None and row["verdict"] == HELPS:
            helped.add((domain, labeled))
        lines.append(f"- **{domain}, {labeled} labels**: best recipe `{best}`, lift {judged_cell(row)}.")
    measured = set(runs.groupby(["domain", "labeled"]).groups)
    goal = {  # name -> the settings that can meet it: met if one helped; not measured if the runs have none
        "horse at 16 labels": {("horse", 16)},
        "shapes at 16 labels": {("shapes", 16)},
        "some domain at 50 labels": {setting for setting in measured if setting[1] == 50},
    }
    states = [
        f"{name}: {'met' if s & helped else 'not met' if s & measured else 'not measured'}" for name, s in goal.items()
    ]
    return [*lines, "", f"Goal (the best recipe's lift judged *helps* in its domain's table): {'; '.join(states)}."]


def figures(lifts: pd.DataFrame, output: Path) -> dict[str, str]:
    """Beside `output`: a forest plot of every lift over the real-only U-Net and the label-budget curve (lift
    against labels, a line per arm), one panel per domain. Returns each figure's alt text -> file name."""
    over_real = lifts[(lifts["versus"] == VERSUS["miou_real_only"]) & (lifts["n"] > 0)]
    title = "mIoU lift over the real-only U-Net (points, 95% CI)"
    labelled = over_real.assign(row=over_real["labeled"].astype(str) + " labels: " + over_real["arm"])
    forest = forest_figure(labelled, "row", output.with_suffix(".png"), RULE, title, panel="domain")
    drawn = {"Forest plot: every arm's lift over the real-only U-Net, one panel per domain": forest.name}
    curves: dict[str, dict[str, list[tuple[float, float, float, float]]]] = {}
    for _, row in over_real.iterrows():
        lift = tuple(POINTS * row[column] for column in ("lift", "ci_low", "ci_high"))
        curves.setdefault(row["domain"], {}).setdefault(row["arm"], []).append((row["labeled"], *lift))
    if curves:
        path = output.with_name(f"{output.stem}_budgets.png")
        plot_budget_curve(
            curves, path, RULE.margin * POINTS, title + " against labeled images", xlabel="labeled images"
        )
        drawn["Label-budget curve: lift against labeled images, a line per arm, one panel per domain"] = path.name
    return drawn


def copy_sample_grids(runs: pd.DataFrame, folder: Path) -> dict[str, str]:
    """One synthetic sample grid per domain (seed 0, the largest budget, synthetic + real) next to the table."""
    grids = {}
    for domain, group in runs[runs["strategy"] == "mix"].groupby("domain"):
        chosen = group.sort_values(["labeled", "seed"], ascending=[False, True]).iloc[0]
        source = Path(chosen["run_dir"]) / "synthetic_grid.png"
        if source.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / f"{domain}_samples.png")
            grids[domain] = f"{folder.name}/{domain}_samples.png"
    return grids


def render(
    budgets: pd.DataFrame,
    ablation: pd.DataFrame,
    failures: list[str],
    grids: dict[str, str],
    wall_s: float | None,
    tuning: pd.DataFrame | None = None,
    drawn: dict[str, str] | None = None,
) -> str:
    """The markdown of the table; `drawn`: the figures `figures()` wrote beside it."""
    tuning = pd.DataFrame() if tuning is None else tuning
    every = pd.concat([frame for frame in (budgets, ablation, tuning) if len(frame)])
    minutes = every.groupby("domain")["compute_s"].sum() / 60
    lifts = budget_lifts(budgets)
    out = [
        "# HandsOff on CPU: does the synthetic data beat the real labels?",
        "",
        f"Generated by `{COMMAND}` on {datetime.date.today().isoformat()} from the sweeps' results.json files "
        "(nothing typed by hand).",
        f"Machine: {machine_summary()}.",
        f"Runs: {len(every)} finished, {len(failures)} failed. Compute summed over runs per domain: "
        + ", ".join(f"{domain} {value:.0f} min" for domain, value in minutes.items())
        + (f"; {run_span(every)}" if run_span(every) else "")
        + (f"; this command took {wall_s / 60:.1f} min (finished jobs resume without work)." if wall_s else "."),
        "",
        *code_versions_lines(every["code"]),
        "",
        f"Protocol (read off the runs' configs): {_used(budgets, 'resolution')} px images; a StyleGAN2-like "
        f"generator trained {_used(budgets, 'gan_steps')} steps on each domain's unlabeled pool, an inversion "
        "encoder with a capped perceptual fine-tune, HandsOff's hypercolumn labeler (an MLP ensemble with an "
        f"uncertainty filter of {_used(budgets, 'uncertainty_filter')}) on the labeled images, "
        f"{_used(budgets, 'num_synthetic')} generated images. Every U-Net is trained {_used(budgets, 'unet_steps')} "
        "steps (a two-phase strategy splits them), seeded like its real-only pair; mIoU on the held-out real test "
        f"set, mean ± sd over {_used(budgets, 'seed', count=True)} seeds; a lift is paired by seed with its 95% "
        "Student-t CI, raw and adjusted p-values and a verdict; each table's lifts are judged as one family.",
        "",
        "## Headline",
        "",
        *headline(budgets, lifts),
        *(f"\n![{alt}]({name})" for alt, name in (drawn or {}).items()),
        "",
        "## The transfer-learning baseline, tuned on validation",
        "",
        *tuning_section(tuning, budgets),
    ]
    for domain in sorted(budgets["domain"].unique()):
        out += ["", f"## {domain}", "", *setting_table(budgets[budgets["domain"] == domain], domain, lifts)]
        if domain in grids:
            out += ["", f"Synthetic samples with their labels: ![{domain}]({grids[domain]})"]
            if budgets.loc[budgets["domain"] == domain, "read_from_files"].any():  # not synthlift's own data
                out[-1] += " (written by this command, kept out of git: the GAN learned from research-only data)"
    out += [
        "",
        "## Stage diagnostics",
        "",
        "Means over the runs of each setting. The labeler's test mIoU is the whole chain the synthetic labels come "
        "from (invert a held-out real image, label the reconstruction) scored against its real mask: when it is "
        "below the real-only U-Net's mIoU, the synthetic labels teach less than the real ones. KID is on ImageNet "
        "EfficientNet-Lite0 features, synthetic vs. real test images; the floor is real training vs. test images. "
        "Stage seconds are the longest over the setting's runs (on the machine above; they depend on the jobs "
        "run beside each one and its threads); "
        "a GAN time near 0 means every run found the GAN cached by an earlier run.",
        "",
        *diagnostics_table(budgets),
        "",
        f"## Levers (ablation on {ABLATION_SETTING[0]}, {ABLATION_SETTING[1]} labels)",
        "",
        *ablation_table(ablation),
    ]
    return "\n".join([*out, *failures_section(failures)]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = table_parser("synthlift-handsoff", __doc__, "handsoff.md")
    parser.add_argument("--skip-ablation", action="store_true", help="run (and render) the budget sweep only")
    parser.add_argument(
        "--levers-at-once",
        type=int,
        default=2,
        help="lever sweeps run side by side, the machine's cores split between them (the levers are "
        "independent; each sweep's jobs share a lever's new GAN, encoder or pool, so they run one by one)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sweeps = Path(default_output_root()) / "multirun"
    codes = [] if args.render_only else [run_stage(stage, track="image") for stage in (TUNING_STAGE, BUDGETS_STAGE)]
    tuning, tuning_failures = run_table(sweeps / TUNING_STAGE, TUNING_STAGE)
    budgets, failures = run_table(sweeps / BUDGETS_STAGE, BUDGETS_STAGE)
    if budgets.empty:
        print(f"synthlift-handsoff: no finished run under {sweeps / BUDGETS_STAGE}", file=sys.stderr)
        return 2
    if not (args.render_only or args.skip_ablation):
        strategy = best_strategy(budgets, *ABLATION_SETTING)
        threads = max(1, (os.cpu_count() or 1) // args.levers_at_once)
        with ThreadPoolExecutor(max_workers=args.levers_at_once) as pool:
            codes += pool.map(
                lambda lever: run_stage(ABLATION_STAGE, [f"augment={strategy}", *lever], "image", threads),
                LEVERS.values(),
            )
    ablation, ablation_failures = run_table(sweeps / ABLATION_STAGE, ABLATION_STAGE)
    grids = copy_sample_grids(budgets, args.output.parent / args.output.stem)
    wall_s = None if args.render_only else time.perf_counter() - started
    failures += tuning_failures + ablation_failures
    drawn = figures(budget_lifts(budgets), args.output)
    atomic_write_text(args.output, render(budgets, ablation, failures, grids, wall_s, tuning, drawn))
    print(f"wrote {args.output} ({len(tuning)} + {len(budgets)} + {len(ablation)} runs)")
    return 1 if any(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
