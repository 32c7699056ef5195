"""Evaluation metrics for the image track's dense-prediction tasks (segmentation, keypoints, depth),
written as torchmetrics objects so evaluation accumulates batch by batch and reduces across processes."""
