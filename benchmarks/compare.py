"""`synthlift compare` on a 2,000-row CSV: how long the user's one command takes to answer, cold (a fresh output
folder: embeddings, pilot and planned seeds all computed), with its defaults — every generator and cheap
baseline, a 5-seed pilot, at most 15 seeds per method, 2 jobs at a time. Goal: about 15 minutes on 2 cores.

The CSV is a stratified 2,000-row sample of the CR reviews (`dataset.max_rows=2000`) read from
$SYNTHLIFT_DATA_DIR (default ../shared/data); its report.md and forest.png stay in
outputs/bench/compare_cold/compare/cr_2000/. `--quick` compares two cheap methods on TF-IDF features with a
3-seed pilot, to check the path in about a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from synthlift.core.paths import PROJECT_ROOT, default_data_dir

ROWS = 2000
GOAL_S = 15 * 60


def run(quick: bool) -> list[dict]:
    source = Path(default_data_dir()) / "text" / "cr_custrev.csv"
    overrides = ["dataset=text/file", f"dataset.source={source}", f"dataset.max_rows={ROWS}"]
    options = ["--methods", "smote,mixup", "--pilot-seeds", "3", "--max-seeds", "4"] if quick else []
    options += ["embedder=tfidf_svd"] if quick else []
    root = PROJECT_ROOT / "outputs" / "bench" / "compare_cold"  # kept: its report.md and forest.png are the answer
    shutil.rmtree(root, ignore_errors=True)  # cold: no cached embedding, no finished run
    env = {**os.environ, "SYNTHLIFT_OUTPUT_DIR": str(root), "WANDB_MODE": "offline"}
    command = [sys.executable, "-m", "synthlift", "compare", *overrides, *options, "--name", "cr_2000"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"synthlift compare failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    runs = sorted((root / "compare" / "cr_2000" / "runs").rglob("results.json"))
    report = (root / "compare" / "cr_2000" / "report.md").read_text()
    recommendation = next(line for line in report.splitlines() if line.startswith("**Recommendation"))
    print(recommendation)
    kind = " (quick)" if quick else ""
    return [
        {
            "stage": f"synthlift compare, {ROWS}-row CSV, cold{kind} (goal <= {GOAL_S // 60} min)",
            "n": len(runs),
            "seconds": seconds,
            "rate": f"{seconds / 60:.1f} min, {len(runs) / seconds * 60:.1f} runs/min",
        }
    ]
