"""experiments/handsoff.md is computed from sweep folders: every arm's mIoU, its paired lift over the real-only
and the ImageNet-pretrained U-Net, the stage diagnostics, the lever ablation against its reference, and the
headline that says whether synthetic data met the goal."""

from __future__ import annotations

import os
import subprocess
import threading

import pandas as pd
import pytest
from omegaconf import OmegaConf

from synthlift.core.results import write_results
from synthlift.report import handsoff, tables
from synthlift.report.handsoff import TRANSFER_YAML, best_strategy, lever_title, render, run_table, tuning_section

LIFTS = {"mix": [0.02, 0.03, 0.025], "synthetic_pretrain": [0.05, 0.06, 0.04], "replace": [-0.1, -0.12, -0.08]}


def write_run(sweep, overrides: list[str], seed: int, augmented: float, labeled: int = 16, kid: float = 0.01):
    run_dir = sweep / ",".join([*overrides, f"seed={seed}"])
    run_dir.mkdir(parents=True)
    write_results(
        run_dir,
        {
            "status": "ok",
            "seed": seed,
            "overrides": [*overrides, f"seed={seed}"],
            "config": {
                "dataset": {"name": "horse", "num_labeled": labeled},
                "augment": {"_target_": "synthlift.augment.mix.Mix"},
                "gan": {"max_steps": 5000},
                "transfer_baseline": {"network": {"pretrained": True}, "lr": 0.001},
            },
            "metrics": {
                "miou_real_only": 0.70 + seed / 100,
                "miou_transfer": 0.72 + seed / 100,
                "miou_augmented": augmented,
                "inversion_mse": 0.1,
                "labeler_test_miou": 0.6,
                "kid": kid,
            },
            "timings": {"gan_s": 60.0, "labeler_s": 10.0, "downstream_s": 5.0},
            "started_at": f"2026-12-05T09:{seed:02d}:00+00:00",
            "finished_at": f"2026-12-05T10:{seed:02d}:00+00:00",
        },
    )


def test_the_handsoff_table_pairs_every_arm_by_seed_and_says_whether_the_goal_is_met(tmp_path):
    budgets = tmp_path / "handsoff_budgets"
    for strategy, lifts in LIFTS.items():
        for seed, lift in enumerate(lifts):
            write_run(budgets, [f"augment={strategy}", "dataset=image/horse"], seed, 0.70 + seed / 100 + lift)
    ablation = tmp_path / "handsoff_ablation"
    for seed in range(3):
        write_run(ablation, [], seed, 0.75 + seed / 100)  # the experiment's own strategy: mix
        write_run(ablation, ["tricks.uncertainty_filter=0"], seed, 0.74 + seed / 100)
        # the command line names the strategy (the budget sweep's best); only a lever that changes it counts
        write_run(ablation, ["augment=mix", "tricks.latent_space=w_plus"], seed, 0.76 + seed / 100)
    runs, failures = run_table(budgets, "handsoff_budgets")
    levers, _ = run_table(ablation, "handsoff_ablation")
    assert len(runs) == 9 and failures == [] and best_strategy(runs, "horse", 16) == "synthetic_pretrain"
    assert lever_title("tricks.uncertainty_filter=0") == "no uncertainty filter"

    text = render(runs, levers, failures, grids={}, wall_s=None)
    assert "generator trained 5000 steps" in text and "over 3 seeds" in text  # read off the runs' configs
    assert "the first run started 2026-12-05 09:00 and the last finished 2026-12-05 10:02 UTC (62 min wall)" in text
    assert "| 16 | real only (U-Net from scratch) | 71.0 ± 1.0 |" in text
    assert "|  | synthetic pre-train → real | 76.0 ± 1.0 | +5.0 [+2.5, +7.5] helps | +3.0 [+0.5, +5.5] helps |" in text
    assert "|  | ImageNet EfficientNet-Lite0 U-Net (real only) | 73.0 ± 1.0 | +2.0 [+2.0, +2.0] helps |" in text
    assert "**horse, 16 labels**: best recipe `synthetic_pretrain`, lift +5.0 [+2.5, +7.5] helps" in text
    # Shapes and 50 labels were not run here: said so, not called a miss.
    assert "horse at 16 labels: met; shapes at 16 labels: not measured; some domain at 50 labels: not measured" in text
    assert "| no uncertainty filter | mix | +4.0 [+4.0, +4.0] helps | -1.0 [-1.0, -1.0] hurts |" in text
    assert "| W+ inversion | mix | +6.0 [+6.0, +6.0] helps | +1.0 [+1.0, +1.0] helps |" in text


def test_failed_runs_are_listed_not_dropped(tmp_path):
    sweep = tmp_path / "handsoff_budgets"
    write_run(sweep, ["augment=mix"], 0, 0.7)
    (sweep / "broken").mkdir()
    write_results(sweep / "broken", {"status": "failed", "error": {"type": "DataError", "message": "bad mask"}})
    runs, failures = run_table(sweep, "handsoff_budgets")
    assert len(runs) == 1 and len(failures) == 1 and "bad mask" in failures[0]


def write_tuning_run(sweep, domain: str, seed: int, encoder_input_size, lr: float, val: float, test: float):
    overrides = [f"dataset=image/{domain}", f"transfer_baseline.network.encoder_input_size={encoder_input_size}"]
    overrides += [f"transfer_baseline.lr={lr}", f"seed={seed}"]
    run_dir = sweep / ",".join(overrides)
    run_dir.mkdir(parents=True)
    write_results(
        run_dir,
        {
            "status": "ok",
            "seed": seed,
            "overrides": overrides,
            "config": {
                "dataset": {"name": domain, "num_labeled": 16},
                "augment": {"_target_": "synthlift.augment.none.RealOnly"},
                "downstream": {"max_steps": 300},
                "transfer_baseline": {"network": {"encoder_input_size": encoder_input_size}, "lr": lr},
            },
            "metrics": {
                "miou_real_only": 0.6,
                "val_miou_real_only": 0.6,
                "miou_transfer": test,
                "val_miou_transfer": val,
            },
        },
    )


@pytest.mark.parametrize("shipped_wins", [True, False])
def test_the_transfer_setting_is_chosen_on_validation_and_checked_against_the_yaml(tmp_path, shipped_wins):
    """Ranked by validation mIoU averaged over domains (never by test), and the report says whether the
    shipped yaml, and the budget sweep's runs, use the winner."""
    shipped = OmegaConf.load(TRANSFER_YAML)
    ours = (shipped.network.encoder_input_size, float(shipped.lr))
    other = (96, 0.05)
    sweep = tmp_path / "transfer_tuning"
    for domain in ("horse", "shapes"):
        for seed in range(2):
            write_tuning_run(sweep, domain, seed, *ours, val=0.7 if shipped_wins else 0.5, test=0.5)
            write_tuning_run(sweep, domain, seed, *other, val=0.6, test=0.9)  # the test set must not decide
    tuning, failures = run_table(sweep, "transfer_tuning")
    assert len(tuning) == 8 and failures == []
    budgets = tmp_path / "handsoff_budgets"
    write_run(budgets, ["augment=mix"], 0, 0.7)
    text = "\n".join(tuning_section(tuning, run_table(budgets, "handsoff_budgets")[0]))
    size = "image's own size" if ours[0] is None else f"{ours[0]} px"
    winner = f"encoder input {size}, lr {ours[1]:g}" if shipped_wins else "encoder input 96 px, lr 0.05"
    assert f"Chosen on validation: **{winner}**" in text
    assert ("carries it" in text) == shipped_wins and ("**does not** carry it" in text) != shipped_wins
    assert "| encoder input 96 px, lr 0.05 | 60.0 ± 0.0 | 60.0 ± 0.0 | 60.0 | 90.0 |" in text
    assert "2 seeds" in text and "16 real labeled images" in text and "(300 steps)" in text
    # a run from before the setting existed ran at the image's own size
    assert "the budget sweep's transfer baseline ran with encoder input image's own size, lr 0.001." in text


def test_an_untuned_transfer_baseline_is_said_so():
    assert "the transfer baseline is untuned" in tuning_section(pd.DataFrame(), pd.DataFrame())[0]


def test_lever_sweeps_run_side_by_side_each_on_its_share_of_the_cores(tmp_path, monkeypatch):
    """The levers are independent sweeps: two at a time, each capped to half the cores, every lever run
    once with the budget sweep's best strategy, and the table still written."""
    monkeypatch.setenv("SYNTHLIFT_OUTPUT_DIR", str(tmp_path / "outputs"))
    budgets = tmp_path / "outputs" / "multirun" / "handsoff_budgets"
    for strategy, lifts in LIFTS.items():
        for seed, lift in enumerate(lifts):
            write_run(budgets, [f"augment={strategy}", "dataset=image/horse"], seed, 0.70 + seed / 100 + lift)
    both_running = threading.Barrier(2, timeout=10)  # broken (and the test failed) if levers ran one by one
    calls = []

    def fake_stage(experiment, overrides=(), track="text", threads=None):
        calls.append((experiment, tuple(overrides), threads))
        if experiment == handsoff.ABLATION_STAGE and len(calls) <= 4:
            both_running.wait()
        return 0

    monkeypatch.setattr(handsoff, "run_stage", fake_stage)
    output = tmp_path / "handsoff.md"
    assert handsoff.main(["--output", str(output), "--levers-at-once", "2"]) == 0
    levers = [overrides for experiment, overrides, _ in calls if experiment == handsoff.ABLATION_STAGE]
    assert sorted(levers) == sorted(("augment=synthetic_pretrain", *lever) for lever in handsoff.LEVERS.values())
    assert {threads for experiment, _, threads in calls if experiment == handsoff.ABLATION_STAGE} == {
        max(1, (os.cpu_count() or 1) // 2)
    }
    assert "synthetic pre-train → real" in output.read_text()


@pytest.mark.parametrize("already_set", [None, "3"])
def test_a_stage_thread_cap_never_overrides_the_users_setting(monkeypatch, already_set):
    seen = {}
    monkeypatch.setattr(
        subprocess, "run", lambda command, **kwargs: seen.update(kwargs) or subprocess.CompletedProcess(command, 0)
    )
    if already_set is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", already_set)
    assert tables.run_stage("handsoff_ablation", ["seed=0"], track="image", threads=1) == 0
    assert seen["env"]["OMP_NUM_THREADS"] == (already_set or "1")
