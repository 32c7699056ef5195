"""`python -m synthlift.report.tuning` (`make tune`): every generator tuned on the same budget as the baseline.

Runs `experiment=text/tune/<generator>` for every generator that has one (`conf/experiment/text/tune/`; the
language model's only where it is installed): the same declared number of Optuna trials on the validation lift
of a development dataset (`tune/_generator.yaml` says which, and why its test split is never read). Then it
writes each study's best setting as a generator option, `conf/gan/text/tuned/<generator>.yaml`, which any run
picks up as `gan=text/tuned/<generator>`, and `experiments/tuning.md`: per generator, the budget, the best and
median validation lift over trials and the chosen setting. Sweeps resume, so a rerun with nothing changed runs no
trial; `--render-only` skips the sweeps. Settings come from the studies' optimization_results.yaml, never typed.
"""

from __future__ import annotations

import datetime
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from synthlift.core.io import atomic_write_text
from synthlift.core.paths import CONF_DIR, default_output_root
from synthlift.generators.text.offline_models import TABLES_MODEL, missing_packages
from synthlift.report.collect import load_runs, metric
from synthlift.report.lifts import DASH, markdown_table, points
from synthlift.report.provenance import code_label, code_versions_lines
from synthlift.report.tables import machine_summary, run_stage, table_parser

COMMAND = "python -m synthlift.report.tuning"
TUNE_DIR = CONF_DIR / "experiment" / "text" / "tune"
TUNED_DIR = CONF_DIR / "gan" / "text" / "tuned"
SHARED = TUNE_DIR / "_generator.yaml"
LANGUAGE_MODELS = ("smollm2", "smollm2_paraphrase")


def tuned_generators(with_llm: bool) -> list[str]:
    """The generators with a tuning experiment, the language model's only where it can run."""
    names = sorted(path.stem for path in TUNE_DIR.glob("*.yaml") if not path.stem.startswith("_"))
    return [name for name in names if with_llm or name not in LANGUAGE_MODELS]


def tuning_option(experiment: Path, group: str) -> str:
    """The `override /<group>: <option>` an experiment yaml's defaults list makes: `gan` of a tuning experiment,
    `tricks` of the shared one (what a tuned generator must be built on to be the setting that was tried)."""
    for entry in OmegaConf.load(experiment).get("defaults", []):
        if isinstance(entry, Mapping) and f"override /{group}" in entry:
            return str(entry[f"override /{group}"])
    raise ValueError(f"{experiment} overrides no /{group} option")


def tuned_option(generator: str, best: Mapping[str, Any], provenance: str) -> str:
    """The yaml of `gan=text/tuned/<generator>`: the generator's option with the best `gan.*` values, and, where
    the study searched GAN tricks (`tricks.*`), the shared tricks option with the best flags as the generator's
    own `tricks` (so the tuned GAN keeps them whatever `tricks=` a run chooses)."""
    option = tuning_option(TUNE_DIR / f"{generator}.yaml", "gan")
    gan = {key.removeprefix("gan."): value for key, value in best.items() if key.startswith("gan.")}
    tricks = {key.removeprefix("tricks."): value for key, value in best.items() if key.startswith("tricks.")}
    unknown = sorted(set(best) - {f"gan.{key}" for key in gan} - {f"tricks.{key}" for key in tricks})
    if unknown:
        raise ValueError(f"tuned setting of {generator} has keys outside gan.* and tricks.*: {unknown}")
    defaults = [f"/gan/{option}@_here_"]
    body = OmegaConf.create()
    for key, value in gan.items():
        OmegaConf.update(body, key, value, force_add=True)
    if tricks:
        defaults.append(f"/tricks/{tuning_option(SHARED, 'tricks')}@tricks")
        for key, value in tricks.items():
            OmegaConf.update(body, f"tricks.{key}", value, force_add=True)
    head = "".join(f"# {line}\n" for line in provenance.splitlines())
    return head + OmegaConf.to_yaml(OmegaConf.create({"defaults": defaults})) + OmegaConf.to_yaml(body)


def study(generator: str, sweeps: Path) -> dict[str, Any] | None:
    """One study's outcome: its best setting and value (optimization_results.yaml), the validation lift of each
    finished trial, its failures, code versions and wall minutes; None when it has not run."""
    sweep = sweeps / f"tune_{generator}"
    results = sweep / "optimization_results.yaml"
    if not results.is_file():
        return None
    best = OmegaConf.to_container(OmegaConf.load(results))
    records, unreadable = load_runs(sweep)
    finished = [record for _, record in records if record.get("status") == "ok"]
    values = [metric(record, str(best["objective"])) for record in finished]
    started = [pd.Timestamp(record["started_at"]) for record in finished]
    ended = [pd.Timestamp(record["finished_at"]) for record in finished]
    return {
        "generator": generator,
        **best,
        "values": [value for value in values if np.isfinite(value)],
        "failed": len(records) - len(finished) + len(unreadable),
        "codes": [code_label(record) for record in finished],
        "wall_min": (max(ended) - min(started)).total_seconds() / 60 if finished else math.nan,
    }


def render(studies: list[dict[str, Any]], missing: list[str], trials: int) -> str:
    """experiments/tuning.md: the shared protocol, then one row per generator."""
    body = []
    for s in studies:
        values = s["values"]
        chosen = (s.get("best_params") or {}).items()
        shown = (f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}" for key, value in chosen)
        setting = ", ".join(shown) or DASH
        body.append(
            [
                f"`gan=text/tuned/{s['generator']}`",
                f"{len(values)} of {s['trials']}",  # a trial that repeats a setting reuses that setting's run
                str(s["failed"]),
                points(s["best_value"]) if "best_value" in s else DASH,
                points(float(np.median(values))) if values else DASH,
                setting,
                f"{s['wall_min']:.1f}" if math.isfinite(s["wall_min"]) else DASH,
            ]
        )
    shared = OmegaConf.load(SHARED)
    dataset = tuning_option(SHARED, "dataset")
    out = [
        "# Generators tuned on the same budget as the baseline",
        "",
        f"Generated by `{COMMAND}` on {datetime.date.today().isoformat()} from the studies' optimization_results.yaml "
        "and trial results.json files (nothing typed by hand).",
        f"Machine: {machine_summary()}.",
        "",
        *code_versions_lines([code for s in studies for code in s["codes"]]),
        "",
        f"Protocol: every generator gets {trials} Optuna (TPE) trials, each one run (seed {shared.seed}) scored by "
        f"its validation lift on the development dataset `{dataset}` at {shared.dataset.train_per_class} labels per "
        "class; its test split is never read. The real-only classifier inside every trial is tuned on the "
        "same validation split as in every run. The chosen settings are written to `conf/gan/text/tuned/` and run "
        "as `gan=text/tuned/<generator>`. One seed per trial: the validation lift of a 200-text split is noisy, so "
        "the best value overstates what the setting buys (winner's curse); only the test lift of fresh runs says that. "
        "A trial that proposes a setting already run reuses that run, so a small or discrete search space runs "
        "fewer settings than trials. The table shows 3 significant digits; the yaml keeps every digit.",
        "",
        *markdown_table(
            [
                "option",
                "settings run (of trials)",
                "failed",
                "best val lift",
                "median val lift",
                "chosen setting",
                "wall (min)",
            ],
            body,
        ),
    ]
    if missing:
        out += ["", "Not tuned: " + ", ".join(missing) + "."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = table_parser("synthlift-tuning", __doc__, "tuning.md")
    args = parser.parse_args(argv)
    missing_llm = missing_packages(TABLES_MODEL)
    with_llm = not missing_llm
    generators = tuned_generators(with_llm)
    codes = [] if args.render_only else [run_stage(f"tune/{generator}") for generator in generators]
    sweeps = Path(default_output_root()) / "multirun"
    studies, missing = [], [] if with_llm else [f"{', '.join(LANGUAGE_MODELS)} ({', '.join(missing_llm)} missing)"]
    for generator in generators:
        outcome = study(generator, sweeps)
        if outcome is None or "best_params" not in outcome:
            missing.append(f"{generator} (no finished study)")
            continue
        studies.append(outcome)
        provenance = (
            f"Generated by `{COMMAND}` on {datetime.date.today().isoformat()}: the best of {outcome['trials']} "
            f"trials of experiment=text/tune/{generator}\n(validation lift {points(outcome['best_value'])} points; "
            f"code {', '.join(sorted(set(outcome['codes'])))}). Do not edit: rerun `make tune`."
        )
        TUNED_DIR.mkdir(parents=True, exist_ok=True)
        atomic_write_text(TUNED_DIR / f"{generator}.yaml", tuned_option(generator, outcome["best_params"], provenance))
    trials = int(OmegaConf.load(SHARED).hydra.sweeper.n_trials)
    atomic_write_text(args.output, render(studies, missing, trials))
    print(f"wrote {args.output} and {len(studies)} tuned option(s) in {TUNED_DIR}")
    return 1 if any(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
