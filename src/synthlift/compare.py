"""`synthlift compare [OVERRIDES...]`: does synthetic data help on *my* data, and which generator?

On the user's text table (`dataset=text/file dataset.source=my.csv`, any Hydra override as everywhere else) it
runs real-only under the tuned protocol against every generator and cheap baseline of the text track's methods,
each run paired by seed, and answers in plain words in `outputs/compare/<name>/report.md`, with `forest.png`
beside it. On images (`dataset=image/folder dataset.root=...`, or any `dataset=image/...`) the methods are the
ways of using HandsOff's synthetic labeled images (mixed in, pre-training then fine-tuning, replacing), each
against the U-Net trained on the real labels alone, and the lift is in mIoU points.

Enough seeds to decide, without cheating ("seeds until decided", synthlift.core.verdicts):
1. a pilot of `--pilot-seeds` seeds per method, judged at α/2 over the family of methods (Holm);
2. each method the pilot left undecided gets the seed count a power calculation at δ asks for, from its pilot's
   spread (never its mean), capped at `--max-seeds`; the final look judges all its seeds at α/2.
Both looks are ordinary resumable sweeps (`experiment=text/compare`), so an interrupted compare resumes where it
stopped, and raising `--max-seeds` later runs only the missing seeds of the same design.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.text import Text

from synthlift.core.io import atomic_write_text
from synthlift.core.paths import CONF_DIR, PROJECT_ROOT, default_output_root
from synthlift.core.results import RESULTS_FILE
from synthlift.core.sweep_progress import format_duration
from synthlift.core.verdicts import (
    CORRECTIONS,
    EQUIVALENT,
    HELPS,
    HURTS,
    INCONCLUSIVE,
    Decision,
    DecisionRule,
    decide,
    decide_two_looks,
    plan_more_seeds,
)
from synthlift.report.collect import chosen_option, metric
from synthlift.report.lifts import (
    DASH,
    console_table,
    decision_columns,
    forest_figure,
    lift_cell,
    markdown_table,
    p_cell,
    percent,
    verdict_cell,
    verdict_counts,
)
from synthlift.report.provenance import code_versions_lines
from synthlift.report.tables import failures_section, machine_summary, text_runs


@dataclass(frozen=True)
class Track:
    """What compare varies and measures on one track: the root config, the sweep's experiment, the config group
    whose options are the methods, the default methods, and the paired metrics of the lift."""

    config: str
    experiment: str
    group: str
    methods: tuple[str, ...]
    treated: str
    baseline: str
    metric: str


TRACKS = {
    # Every generator of conf/gan/text that needs no download: the cheap baselines, then the learned generators.
    # (`llm` needs a language model folder: add it with --methods when you have one.)
    "text": Track(
        "text",
        "text/compare",
        "gan",
        ("smote", "mixup", "gaussian_jitter", "eda", "cvae", "ddpm", "cgan", "wgan_gp", "hinge_sn", "pacgan"),
        "acc_augmented",
        "acc_real_only",
        "accuracy",
    ),
    # HandsOff's generated labeled images, used three ways (conf/augment), against the real-only U-Net.
    "image": Track(
        "image",
        "image/compare",
        "augment",
        ("mix", "synthetic_pretrain", "replace"),
        "miou_augmented",
        "miou_real_only",
        "mIoU",
    ),
}
REPORT_MD, FOREST_PNG, SWEEP_LOG = "report.md", "forest.png", "sweeps.log"
POLL_S = 2.0
PROTOCOLS = {  # how each track's two arms are trained, for the report
    "text": "Every lift is accuracy(real + synthetic) − accuracy(real only) on the held-out real test set, paired by "
    "seed; both arms' classifiers choose weight decay and steps on the validation set within the same step budget "
    "(`protocol=tuned`).",
    "image": "Every lift is mIoU(with synthetic) − mIoU(real only) on the held-out real test images, paired by seed: "
    "the same labeled images, the same U-Net and optimisation budget, with and without HandsOff's generated "
    "labeled images.",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthlift compare",
        description="Real-only vs every generator and cheap baseline on your data, with enough seeds to decide.",
        epilog="Other arguments are Hydra overrides, e.g. dataset=text/file dataset.source=my.csv "
        "dataset.train_per_class=20",
    )
    parser.add_argument("--name", default=None, help="output folder outputs/compare/NAME (default: the data's name)")
    parser.add_argument(
        "--methods", default=None, help="comma-separated options of the track's group (default: all of them)"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=1.0,
        help="equivalence margin δ in points of the metric (accuracy, or mIoU for images)",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="level of every claim, over both looks")
    parser.add_argument("--correction", choices=sorted(CORRECTIONS), default="holm")
    parser.add_argument("--pilot-seeds", type=int, default=5)
    parser.add_argument("--max-seeds", type=int, default=10, help="cap of seeds per method after the pilot")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (joblib)")
    return parser


def track_of(overrides: list[str]) -> Track:
    """The image track when the dataset override names an image dataset, else the text track."""
    dataset = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("dataset=")), "")
    return TRACKS["image" if dataset.startswith("image/") else "text"]


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str], DecisionRule]:
    """Options, Hydra overrides and the decision rule; a token that is neither is refused, naming it."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if bad := [token for token in rest if "=" not in token or token.startswith("-")]:
        parser.error(f"not an option nor a Hydra override (key=value): {' '.join(bad)}")
    track = track_of(rest)
    chosen = (track.group, "seed", "experiment", "hydra.sweep.dir")
    if bad := [o for o in rest if o.split("=", 1)[0].lstrip("+~") in chosen]:
        parser.error(f"{', '.join(bad)}: compare chooses the methods and seeds itself (use --methods, --max-seeds)")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        rule = DecisionRule(
            margin=args.margin / 100,
            alpha=args.alpha,
            correction=args.correction,
            pilot_seeds=args.pilot_seeds,
            max_seeds=args.max_seeds,
        )
    except ValueError as exc:
        parser.error(str(exc).replace("pilot_seeds", "--pilot-seeds").replace("max_seeds", "--max-seeds"))
    methods = args.methods.split(",") if args.methods is not None else track.methods
    args.methods = [m.strip().rsplit("/", 1)[-1] for m in methods if m.strip()]
    if not args.methods:
        parser.error("--methods names no method")
    if bad := [
        m for m in args.methods if not (CONF_DIR / track.group / _option(track, m)).with_suffix(".yaml").exists()
    ]:
        parser.error(f"--methods: no {track.group} option {', '.join(bad)} (conf/{track.group}/)")
    args.track = track
    return args, rest, rule


def _option(track: Track, method: str) -> str:
    """`smote` -> `text/smote` for the text generators; strategies (`augment`) have no track folder."""
    return f"{track.config}/{method}" if track.group == "gan" else method


def _without_max_seeds(argv: list[str]) -> list[str]:
    """The command line without `--max-seeds`, which the recommendation sets anew for a rerun."""
    kept, skip = [], False
    for token in argv:
        if skip or token.startswith("--max-seeds="):
            skip = False
            continue
        if token == "--max-seeds":
            skip = True
            continue
        kept.append(token)
    return kept


def _default_name(overrides: list[str]) -> str:
    values = dict(o.lstrip("+").split("=", 1) for o in overrides)
    source = values.get("dataset.source") or values.get("dataset.root")
    name = Path(source).stem if source else values.get("dataset", "text/crowdflower").rsplit("/", 1)[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "data"


def _count_results(sweep_dir: Path, since: float) -> int:
    return sum(1 for path in sweep_dir.rglob(RESULTS_FILE) if path.stat().st_mtime >= since - 1.0)


def run_sweep(
    track: Track,
    sweep_dir: Path,
    methods: list[str],
    seeds: range,
    overrides: list[str],
    jobs: int,
    stage: str,
    console: Console,
) -> int:
    """One resumable sweep of `methods` × `seeds`, its output appended to sweeps.log; meanwhile one progress line
    per finished run (`compare · pilot · 12/50 runs · elapsed 1m10s · ETA 3m40s`). Returns its exit code."""
    total = len(methods) * len(seeds)
    command = [sys.executable, "-m", "synthlift.run", "-m", "--config-name", track.config]
    command += [f"experiment={track.experiment}", f"hydra.sweep.dir={sweep_dir}", f"hydra.launcher.n_jobs={jobs}"]
    command += [f"{track.group}={','.join(_option(track, m) for m in methods)}"]
    command += [f"seed=range({seeds.start},{seeds.stop})", *overrides]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    started, shown = time.time(), -1
    with open(sweep_dir.parent / SWEEP_LOG, "a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(command[1:])}\n")
        log.flush()
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(POLL_S)
            done = _count_results(sweep_dir, started) if sweep_dir.exists() else 0
            if done != shown:
                shown = done
                elapsed = time.time() - started
                eta = f" · ETA {format_duration(elapsed / done * (total - done))}" if 0 < done < total else ""
                line = f"compare · {stage} · {done}/{total} runs · elapsed {format_duration(elapsed)}{eta}"
                console.print(Text(line, style="cyan"))
    return process.returncode


def _describer(track: Track):
    """A run's method, its synthetic-per-real ratio and its two paired metrics, for `text_runs`."""

    def describe(record: dict) -> dict:
        return {
            "method": chosen_option(record, track.group),
            "ratio": record["config"].get("synthetic_per_real"),
            "treated": metric(record, track.treated),
            "baseline": metric(record, track.baseline),
        }

    return describe


def _lifts(runs: pd.DataFrame, methods: list[str], seeds_per_method: list[int]) -> list[list[float]]:
    """Per method, the paired lifts of its seeds below its seed count, in seed order."""
    out = []
    for method, count in zip(methods, seeds_per_method, strict=True):
        mine = runs[(runs["method"] == method) & (runs["seed"] < count)].sort_values("seed") if len(runs) else runs
        out.append(list(mine["treated"] - mine["baseline"]) if len(mine) else [])
    return out


def recommendation(table: pd.DataFrame, rule: DecisionRule, rerun: str) -> str:
    """The answer in plain words: use the best method that helps; or synthetic data does not help (every
    method within ±δ); or which methods are undecided and what to run next."""
    margin = f"{rule.margin * 100:g} point{'s' * (rule.margin != 0.01)}"
    helping = table[table["verdict"] == HELPS].sort_values("lift", ascending=False)
    if len(helping):
        best = helping.iloc[0]
        ratio = f" at {best['ratio']:g}×" if pd.notna(best["ratio"]) else ""
        text = f"use {best['method']}{ratio}: {lift_cell(best)} points over real-only."
        if len(helping) > 1:
            text += " Also helps: " + ", ".join(
                f"{r['method']} ({lift_cell(r)})" for _, r in helping.iloc[1:].iterrows()
            )
        return text + "."
    if len(table) and (table["verdict"] == EQUIVALENT).all():
        return f"synthetic data does not help here: every method is within ±{margin} of real-only."
    parts = []
    open_rows = table[table["verdict"] == INCONCLUSIVE]
    if len(open_rows):
        names = " and ".join(", ".join(open_rows["method"]).rsplit(", ", 1))
        needed = {  # method -> seeds that would decide it (">1000" reads as 1001)
            row["method"]: int(str(row["seeds_needed"]).lstrip(">"))
            for _, row in open_rows.iterrows()
            if str(row["seeds_needed"]) != DASH
        }
        if needed and max(needed.values()) <= 1000:
            target, now = max(needed.values()), int(open_rows["n"].min())
            advice = f"inconclusive for {names}: run {target - now} more seeds with `{rerun} --max-seeds {target}`"
            nearest = min(needed, key=needed.get)
            if len(needed) > 1 and needed[nearest] < target:
                advice += f" to decide them all, or `--max-seeds {needed[nearest]}` to decide {nearest}, the nearest"
            parts.append(advice)
        else:
            parts.append(f"inconclusive for {names}: more than 1000 seeds would be needed to tell them from ±{margin}")
    if len(equivalent := table[table["verdict"] == EQUIVALENT]):
        parts.append(f"within ±{margin} of real-only: {', '.join(equivalent['method'])}")
    if len(hurting := table[table["verdict"] == HURTS]):
        parts.append("hurts: " + ", ".join(f"{r['method']} ({lift_cell(r)})" for _, r in hurting.iterrows()))
    if not parts:
        return "no method was measured: see the failed runs below."
    return "no method helps significantly; " + "; ".join(parts) + "."


def _table(methods: list[str], totals: list[int], runs: pd.DataFrame, decisions: list[Decision]) -> pd.DataFrame:
    """One row per method: its ratio, both arms' mean accuracies over the judged seeds and the judged columns."""
    rows = []
    for method, total, decision in zip(methods, totals, decisions, strict=True):
        mine = runs[(runs["method"] == method) & (runs["seed"] < total)] if len(runs) else runs
        key = {"method": method, "ratio": mine["ratio"].iloc[0] if len(mine) else float("nan")}
        key["baseline"] = mine["baseline"].mean() if len(mine) else float("nan")
        key["treated"] = mine["treated"].mean() if len(mine) else float("nan")
        rows.append({**key, **decision_columns(decision)})
    return pd.DataFrame(rows)


def render(
    table: pd.DataFrame,
    runs: pd.DataFrame,
    failures: list[str],
    rule: DecisionRule,
    commands: tuple[str, str],
    wall_s: float,
    track: Track = TRACKS["text"],
) -> str:
    """report.md: the recommendation first, then how it was reached, the table and the figure. `commands` are
    the command that ran and the one a rerun with more seeds starts from."""
    command, rerun = commands
    protocol = PROTOCOLS[track.config]
    rows = [
        [
            row["method"],
            str(row["n"]),
            percent(row["baseline"]),
            percent(row["treated"]),
            lift_cell(row),
            p_cell(row["p_adjusted"]),
            p_cell(row["p_equivalence_adjusted"]),
            verdict_cell(row),
        ]
        for _, row in table.sort_values("lift", ascending=False, na_position="last").iterrows()
    ]
    headers = [
        "method",
        "seeds",
        f"real only ({track.metric}, %)",
        f"with synthetic ({track.metric}, %)",
        "lift (points) [95% CI]",
        "p adj.",
    ]
    headers += ["p equiv. adj.", "verdict"]
    return (
        "\n".join(
            [
                "# synthlift compare: does synthetic data help on this data?",
                "",
                f"**Recommendation: {recommendation(table, rule, rerun)}**",
                "",
                f"Generated by `{command}` on {datetime.date.today().isoformat()} in {wall_s / 60:.1f} min "
                f"(finished runs resume without work). Machine: {machine_summary()}.",
                "",
                *code_versions_lines(runs["code"] if len(runs) else []),
                "",
                protocol,
                "",
                f"Seeds until decided: a pilot of {rule.pilot_seeds} seeds per method is judged at α/2; a method it "
                "leaves undecided gets the seeds a power calculation at δ asks for from its pilot's spread (never "
                f"its mean), at most {rule.max_seeds}, and all its seeds are judged again at α/2. Over both looks the "
                "chance of any false claim stays at most α (tests/core/test_verdicts.py checks it by simulation).",
                "",
                rule.describe("the compared methods", len(table), looks=2),
                "",
                f"Rows by verdict: {verdict_counts(table)}.",
                "",
                *markdown_table(headers, rows),
                "",
                f"![Forest plot: lift and CI per method, the ±δ band shaded]({FOREST_PNG})",
                *failures_section(failures),
            ]
        )
        + "\n"
    )


def compare(argv: list[str]) -> int:
    args, overrides, rule = parse(argv)
    started = time.perf_counter()
    console = Console(width=min(Console().width, 80))
    out = Path(default_output_root()) / "compare" / (args.name or _default_name(overrides))
    sweep_dir = out / "runs"
    sweep_dir.mkdir(parents=True, exist_ok=True)
    program = ["python", "-m", "synthlift"] if Path(sys.argv[0]).name == "__main__.py" else ["synthlift"]
    command = shlex.join([*program, "compare", *argv])
    rerun = shlex.join([*program, "compare", *_without_max_seeds(argv)])
    console.print(Text(f"compare · {len(args.methods)} methods · writing {out}", style="bold"))
    pilot = range(rule.pilot_seeds)
    track, describe = args.track, _describer(args.track)
    codes = [run_sweep(track, sweep_dir, args.methods, pilot, overrides, args.jobs, "pilot", console)]
    runs, _ = text_runs([sweep_dir], describe)
    pilot_lifts = _lifts(runs, args.methods, [rule.pilot_seeds] * len(args.methods))
    pilot_decisions = decide(pilot_lifts, rule, looks=2)
    totals = plan_more_seeds(pilot_decisions, rule)
    for total in sorted(set(totals) - {rule.pilot_seeds}):
        methods = [m for m, t in zip(args.methods, totals, strict=True) if t == total]
        stage = f"{', '.join(methods)} to {total} seeds"
        codes.append(
            run_sweep(track, sweep_dir, methods, range(rule.pilot_seeds, total), overrides, args.jobs, stage, console)
        )
    runs, failures = text_runs([sweep_dir], describe)
    decisions = decide_two_looks(pilot_decisions, _lifts(runs, args.methods, totals), rule)
    table = _table(args.methods, totals, runs, decisions)
    wall_s = time.perf_counter() - started
    forest_figure(table, "method", out / FOREST_PNG, rule, "Lift over real-only (points, 95% CI)")
    atomic_write_text(out / REPORT_MD, render(table, runs, failures, rule, (command, rerun), wall_s, track))
    ordered = table.sort_values("lift", ascending=False, na_position="last")
    rows = [(row["method"], row.to_dict()) for _, row in ordered.iterrows()]
    console.print(console_table("lift over real-only", rows, rule.alpha, 20, label="method"))
    console.print(Text(f"Recommendation: {recommendation(table, rule, rerun)}", style="bold"))
    console.print(f"wrote {out / REPORT_MD}, {out / FOREST_PNG} ({wall_s / 60:.1f} min)")
    if runs.empty:
        console.print(Text(f"no run finished: see {out / SWEEP_LOG}", style="red"))
        return 1
    return 1 if all(codes) else 0
