"""Metrics, for both tracks.

Quality of the synthetic data (the `metrics` config group), each a `QualityMetric` (`base.py`) with one
`evaluate(real, synthetic)` returning a flat dict merged into results.json:

- `prdc`: precision, recall, density and coverage (Naeem et al. 2020);
- `c2st`: a classifier two-sample test, real vs. synthetic;
- `dcr`: distance to closest record, with exact and near copies (privacy, memorisation);
- `diversity`: within-class spread of the synthetic samples relative to the real ones;
- `synthetic_as_test`: the real-only model scored on synthetic samples (text track);
- `kid`: the Kernel Inception Distance to the real test images (image track).

The text track computes them on its sentence embeddings; the image track computes the same metrics on a
fixed pretrained feature space (`image_features.py`, ImageNet EfficientNet-Lite0 features).

Scores of the downstream models on the real test set: `dense.py` holds the image track's dense-prediction
metrics (mIoU and per-class IoU, pixel accuracy, PCK, depth RMSE and AbsRel) as torchmetrics objects, so
evaluation accumulates batch by batch and reduces across processes.
"""
