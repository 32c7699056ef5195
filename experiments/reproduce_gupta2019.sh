#!/usr/bin/env bash
# Gupta (ICASSP 2019): GAN augmentation of sentence embeddings for low-resource sentiment analysis.
# Runs each sweep (resumable: rerun after an interruption and it continues) and then its report.
# Usage: experiments/reproduce_gupta2019.sh [extra Hydra overrides, e.g. hydra/launcher=joblib]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
sweep() {  # sweep NAME OVERRIDES...
  local name=$1; shift
  "$PY" -m synthlift.run -m name="$name" "$@"
  "$PY" -m synthlift.report "outputs/multirun/$name"
}
sweep paper_mr experiment=text/paper_mr "$@"                                   # the paper's mean word vectors
sweep paper_mr_minilm experiment=text/paper_mr embedder=minilm "$@"           # sentence embeddings
sweep paper_cr experiment=text/paper_cr "$@"
sweep ablation_tricks experiment=text/ablation_tricks "$@"                      # one trick at a time (MiniLM)
