"""`python -m synthlift.report.handsoff` (`make handsoff`): does HandsOff's synthetic data beat its real labels,
and if not, which stage falls short?

Runs the sweeps (`conf/experiment/image/transfer_tuning.yaml`: the ImageNet-pretrained U-Net's settings
scored on a validation set, so the baseline HandsOff must beat is not handicapped; then
`conf/experiment/image/handsoff_budgets.yaml`: three domains x 8/16/50 labeled images x
synthetic only / synthetic + real / synthetic pre-training, each paired by seed with the real-only U-Net and
the ImageNet-pretrained U-Net; then `handsoff_ablation.yaml` once per lever in `LEVERS`, on horses at 16
labels with synthetic + real), then writes `experiments/handsoff.md` from the sweeps'
results.json files, never from typed numbers, with one sample grid per domain beside it. Sweeps resume, so a
rerun with nothing changed trains nothing. `--render-only` skips the sweeps.
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
from synthlift.core.stats import HELPS, LiftSummary, summarize_paired, verdict
from synthlift.report.collect import chosen_option, load_runs, metric, settings
from synthlift.report.provenance import code_label
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
        strategy = chosen_option(record, "augment")
        lever = sorted(
            o
            for o in settings(record)
            if not o.startswith(("seed=", "dataset=", "dataset.num_labeled=", "experiment=", "augment="))
        )
        rows.append(
            {
                "stage": stage,
                "domain": dataset["name"],
                "read_from_files": "root" in dataset,  # a dataset of paths.data_dir, not one synthlift makes
                "labeled": int(dataset["num_labeled"]),
                "strategy": strategy,
                "lever": ", ".join(lever),
                "seed": record.get("seed"),
                "run_dir": sweep_dir / run_dir,
                "started": pd.Timestamp(record.get("started_at")),  # NaT for a record written before they existed
                "finished": pd.Timestamp(record.get("finished_at")),
                "code": code_label(record),
                **{column: OmegaConf.select(config, key) for column, key in PROTOCOL_KEYS.items()},
                **{
                    column: OmegaConf.select(config, f"transfer_baseline.{key}")
                    for column, key in TRANSFER_SETTINGS.items()
                },
                **_metric_row(record),
            }
        )
    return pd.DataFrame(rows), failures


def paired(runs: pd.DataFrame, treated: str, baseline: str) -> LiftSummary:
    """The lift treated - baseline over the seeds where both were measured."""
    both = runs[[treated, baseline]].dropna()
    return summarize_paired(both[treated].to_numpy(), both[baseline].to_numpy())


def _points(summary: LiftSummary) -> str:
    """A lift in mIoU points with its 95% CI and verdict."""
    if summary.n == 0 or math.isnan(summary.mean):
        return "–"
    if math.isnan(summary.ci_low):
        return f"{100 * summary.mean:+.1f} (n={summary.n})"
    return f"{100 * summary.mean:+.1f} [{100 * summary.ci_low:+.1f}, {100 * summary.ci_high:+.1f}] {verdict(summary)}"


def _percent(values: pd.Series) -> str:
    """Mean ± sd over seeds, in percent."""
    values = values.dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{100 * values.mean():.1f}"
    return f"{100 * values.mean():.1f} ± {100 * values.std(ddof=1):.1f}"


def _number(values: pd.Series) -> str:
    """The mean of a diagnostic to three significant digits (values range from MSEs near 0.1 to KIDs in
    the hundreds)."""
    values = values.dropna()
    return "–" if values.empty else f"{values.mean():.3g}"


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


def setting_table(runs: pd.DataFrame, domain: str) -> list[str]:
    """Per label budget: every arm's mIoU and its lift over the real-only and the ImageNet-pretrained U-Net."""
    extra = SHAPES_EXTRA if domain == "shapes" else {}
    header = ["labels", "arm", "mIoU %", "lift vs real only (points, 95% CI)", "lift vs ImageNet U-Net"]
    header += [f"{title} (real only → arm)" for title in extra.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for labeled in sorted(runs["labeled"].unique()):
        budget = runs[runs["labeled"] == labeled]
        baseline = budget.drop_duplicates("seed")
        cells = [
            [
                str(labeled),
                "real only (U-Net from scratch)",
                _percent(baseline["miou_real_only"]),
                "",
                _points(paired(baseline, "miou_real_only", "miou_transfer")),
            ]
        ]
        cells[0] += [_number(baseline[f"{name}_real_only"]) for name in extra]
        cells.append(
            [
                "",
                "ImageNet EfficientNet-Lite0 U-Net (real only)",
                _percent(baseline["miou_transfer"]),
                _points(paired(baseline, "miou_transfer", "miou_real_only")),
                "",
                *["" for _ in extra],
            ]
        )
        for strategy, title in STRATEGIES.items():
            arm = budget[budget["strategy"] == strategy]
            if arm.empty:
                continue
            cells.append(
                [
                    "",
                    title,
                    _percent(arm["miou_augmented"]),
                    _points(paired(arm, "miou_augmented", "miou_real_only")),
                    _points(paired(arm, "miou_augmented", "miou_transfer")),
                    *[f"{_number(arm[f'{name}_real_only'])} → {_number(arm[f'{name}_augmented'])}" for name in extra],
                ]
            )
        lines += ["| " + " | ".join(row) + " |" for row in cells]
    return lines


def diagnostics_table(runs: pd.DataFrame) -> list[str]:
    """Stage quality per (domain, labels), from the runs of each seed's shared pool (strategies agree)."""
    header = ["domain", "labels", *DIAGNOSTICS.values(), "GAN s", "inversion s", "labeler s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    synthetic = runs[runs["strategy"] != "none"]
    for (domain, labeled), group in synthetic.groupby(["domain", "labeled"]):
        cells = [domain, str(labeled)]
        cells += [_number(group[key]) for key in DIAGNOSTICS]
        cells += [f"{group[f'{stage}_s'].max():.0f}" for stage in ("gan", "inversion", "labeler")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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
    header = ["setting", *[f"{domain} val" for domain in domains], "mean val mIoU %", "mean test mIoU %"]
    rows = []
    for setting, group in tuning.groupby(keys, dropna=False):
        per_domain = group.groupby("domain")
        rows.append(
            {
                "setting": setting,
                "cells": [
                    _percent(per_domain.get_group(d)["val_miou_transfer"]) if d in per_domain.groups else "–"
                    for d in domains
                ],
                "val": per_domain["val_miou_transfer"].mean().mean(),
                "test": per_domain["miou_transfer"].mean().mean(),
            }
        )
    rows.sort(key=lambda row: -row["val"])
    lines = [
        f"`experiment=image/{TUNING_STAGE}`: the ImageNet-pretrained U-Net trained on "
        f"{_used(tuning, 'labeled')} real labeled images with the scratch U-Net's budget "
        f"({_used(tuning, 'unet_steps')} steps), {_used(tuning, 'seed', count=True)} seeds, scored on a validation "
        "set held out beside the test set. The scratch U-Net reaches "
        f"{100 * tuning.groupby('domain')['val_miou_real_only'].mean().mean():.1f}% mean validation mIoU there.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += [
        "| "
        + " | ".join(
            [_setting_label(*row["setting"]), *row["cells"], f"{100 * row['val']:.1f}", f"{100 * row['test']:.1f}"]
        )
        + " |"
        for row in rows
    ]
    winner = rows[0]["setting"]
    shipped = OmegaConf.load(TRANSFER_YAML)
    configured = tuple(OmegaConf.select(shipped, key) for key in TRANSFER_SETTINGS.values())
    with_transfer = budgets[budgets["transfer_lr"].notna()] if "transfer_lr" in budgets else budgets.iloc[0:0]
    used = {_setting_label(*setting) for setting in with_transfer[keys].astype(object).itertuples(index=False)}
    same = _setting_label(*configured) == _setting_label(*winner)
    lines += [
        "",
        f"Chosen on validation: **{_setting_label(*winner)}**. {TRANSFER_YAML.relative_to(PROJECT_ROOT)} "
        + ("carries it" if same else f"**does not** carry it (it has {_setting_label(*configured)})")
        + "; the budget sweep's transfer baseline ran with "
        + (", ".join(sorted(used)) or "–")
        + ".",
    ]
    return lines


def lever_title(lever: str) -> str:
    for title, overrides in LEVERS.items():
        if sorted(overrides) == sorted(filter(None, lever.split(", "))):
            return title
    return lever


def ablation_table(runs: pd.DataFrame) -> list[str]:
    """Per lever: its lift over the real-only U-Net, and its difference to the reference recipe (paired by
    seed: same labeled images, same real-only model), with the stage diagnostics it moves."""
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
    header = [
        "lever",
        "strategy",
        "lift vs real only",
        "vs reference recipe",
        "inversion MSE",
        "labeler test mIoU",
        "KID",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    order = {title: i for i, title in enumerate(LEVERS)}
    for lever, group in sorted(runs.groupby("lever"), key=lambda item: order.get(lever_title(item[0]), len(order))):
        versus = group.assign(reference=group["seed"].map(reference))
        cells = [
            lever_title(lever),
            ", ".join(sorted(group["strategy"].unique())),
            _points(paired(group, "miou_augmented", "miou_real_only")),
            "" if lever == "" else _points(paired(versus, "miou_augmented", "reference")),
            _number(group["inversion_mse"]),
            _number(group["labeler_test_miou"]),
            _number(group["kid"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def headline(runs: pd.DataFrame) -> list[str]:
    """The best synthetic recipe per (domain, labels), and whether the issue's goal is met."""
    lines = []
    helped = set()
    for (domain, labeled), group in runs.groupby(["domain", "labeled"]):
        best = best_strategy(runs, domain, labeled)
        summary = paired(group[group["strategy"] == best], "miou_augmented", "miou_real_only")
        if verdict(summary) == HELPS:
            helped.add((domain, labeled))
        lines.append(f"- **{domain}, {labeled} labels**: best recipe `{best}`, lift {_points(summary)}.")
    measured = set(runs.groupby(["domain", "labeled"]).groups)
    goal = [  # (name, settings that can meet it): met if one helped; not measured if the runs have none
        ("horse at 16 labels", {("horse", 16)}),
        ("shapes at 16 labels", {("shapes", 16)}),
        ("some domain at 50 labels", {setting for setting in measured if setting[1] == 50}),
    ]
    states = [
        "met" if settings & helped else "not met" if settings & measured else "not measured" for _, settings in goal
    ]
    lines += [
        "",
        "Goal (a lift with its 95% CI above zero): "
        + "; ".join(f"{name}: {state}" for (name, _), state in zip(goal, states, strict=True))
        + ".",
    ]
    return lines


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
) -> str:
    tuning = pd.DataFrame() if tuning is None else tuning
    every = pd.concat([frame for frame in (budgets, ablation, tuning) if len(frame)])
    minutes = every.groupby("domain")["compute_s"].sum() / 60
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
        f"Protocol (read off the runs' configs): {_used(budgets, 'resolution')} px images; a StyleGAN2-like "
        f"generator trained {_used(budgets, 'gan_steps')} steps on each domain's unlabeled pool, an inversion "
        "encoder with a capped perceptual fine-tune, HandsOff's hypercolumn labeler (an MLP ensemble with an "
        f"uncertainty filter of {_used(budgets, 'uncertainty_filter')}) on the labeled images, "
        f"{_used(budgets, 'num_synthetic')} generated images. Every U-Net is trained {_used(budgets, 'unet_steps')} "
        "steps (a two-phase strategy splits them), seeded like its real-only pair; mIoU on the held-out real test "
        f"set, mean ± sd over {_used(budgets, 'seed', count=True)} seeds; a lift is paired by seed with its 95% "
        "Student-t CI and verdict.",
        "",
        "## Headline",
        "",
        *headline(budgets),
        "",
        "## The transfer-learning baseline, tuned on validation",
        "",
        *tuning_section(tuning, budgets),
    ]
    for domain in sorted(budgets["domain"].unique()):
        out += ["", f"## {domain}", "", *setting_table(budgets[budgets["domain"] == domain], domain)]
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
    codes = (
        [] if args.render_only else [run_stage(TUNING_STAGE, track="image"), run_stage(BUDGETS_STAGE, track="image")]
    )
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
    atomic_write_text(args.output, render(budgets, ablation, failures, grids, wall_s, tuning))
    print(f"wrote {args.output} ({len(tuning)} + {len(budgets)} + {len(ablation)} runs)")
    return 1 if any(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
