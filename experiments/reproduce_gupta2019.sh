#!/usr/bin/env bash
# Gupta (ICASSP 2019): GAN augmentation of sentence embeddings for low-resource sentiment analysis.
# Usage: experiments/reproduce_gupta2019.sh [extra Hydra overrides, e.g. hydra/launcher=joblib]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
for experiment in paper_mr paper_cr ablation_tricks; do
  "$PY" -m synthlift.run -m experiment="$experiment" "$@"
  "$PY" -m synthlift.report "outputs/multirun/$experiment"
done
