"""Dense-prediction metrics: mIoU / per-class IoU / pixel accuracy, PCK, depth RMSE and AbsRel.

Predictions are keyed by head name (`seg` logits (N,C,H,W) or class ids (N,H,W), `keypoints` heatmap
logits (N,K,H,W), `depth` (N,H,W)); targets by label name (`masks` (N,H,W), `keypoints` (N,K,3) rows
(x, y, visible) in pixels, `depth` (N,H,W)), as the data modules provide them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsolutePercentageError, MeanSquaredError, Metric
from torchmetrics.classification import MulticlassJaccardIndex

# Which label each head is trained and evaluated against.
LABEL_OF_HEAD = {"seg": "masks", "keypoints": "keypoints", "depth": "depth"}


def heatmap_argmax(heatmaps: Tensor) -> Tensor:
    """(N,K,H,W) heatmaps -> (N,K,2) integer pixel coordinates (x = column, y = row) of each maximum."""
    width = heatmaps.shape[-1]
    flat = heatmaps.flatten(2).argmax(-1)
    return torch.stack((flat % width, flat // width), dim=-1)


class PCK(Metric):
    """Percentage of Correct Keypoints: the heatmap argmax lies closer than `threshold` x reference size
    to the ground truth. The reference size is `ref_size` pixels if given, else max(H, W) of the heatmap:
    our images are tightly cropped objects, so the image size stands in for the object size (bounding box
    or torso size in the pose literature). Only visible ground-truth keypoints are counted."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, threshold: float = 0.1, ref_size: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold
        self.ref_size = ref_size
        self.add_state("correct", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, heatmaps: Tensor, keypoints: Tensor) -> None:
        ref = self.ref_size if self.ref_size is not None else max(heatmaps.shape[-2:])
        dist = torch.linalg.vector_norm(heatmap_argmax(heatmaps).float() - keypoints[..., :2], dim=-1)
        visible = keypoints[..., 2] > 0
        self.correct += (visible & (dist < self.threshold * ref)).sum()
        self.total += visible.sum()

    def compute(self) -> Tensor:
        return self.correct / self.total


class DenseMetrics(nn.Module):
    """Accumulates the metrics of the given tasks (head names) over batches; `compute()` gives flat keys
    `miou`, `pixel_acc`, `iou_<class>`, `pck`, `depth_rmse`, `depth_absrel` for those tasks only.

    mIoU is the mean over classes that occur in the test targets or in the predictions (torchmetrics'
    macro rule): a class absent from both has no defined IoU, so its `iou_<class>` is NaN and it is left
    out of the mean rather than counted as 0 (punishing a model for a class nobody showed it) or 1
    (rewarding it for nothing). A class only predicted, never present, counts with IoU 0.
    Pixel accuracy comes from the same accumulated confusion matrix. Depth metrics use pixels with gt > 0.
    """

    def __init__(
        self,
        tasks: Iterable[str],
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        pck_threshold: float = 0.1,
    ):
        super().__init__()
        self.tasks = [t for t in tasks if t in LABEL_OF_HEAD]
        self.metrics = nn.ModuleDict()
        if "seg" in self.tasks:
            if num_classes is None:
                raise ValueError("Segmentation metrics need num_classes.")
            self.class_names = list(class_names) if class_names else [str(c) for c in range(num_classes)]
            if len(self.class_names) != num_classes:
                raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes.")
            self.metrics["iou"] = MulticlassJaccardIndex(num_classes, average=None)
        if "keypoints" in self.tasks:
            self.metrics["pck"] = PCK(pck_threshold)
        if "depth" in self.tasks:
            self.metrics["depth_rmse"] = MeanSquaredError(squared=False)
            self.metrics["depth_absrel"] = MeanAbsolutePercentageError()

    @torch.no_grad()
    def update(self, pred: Mapping[str, Tensor], target: Mapping[str, Tensor]) -> None:
        if "seg" in self.tasks:
            seg = pred["seg"]
            self.metrics["iou"].update(seg.argmax(1) if seg.ndim == 4 else seg, target["masks"])
        if "keypoints" in self.tasks:
            self.metrics["pck"].update(pred["keypoints"], target["keypoints"])
        if "depth" in self.tasks:
            gt = target["depth"]
            valid = gt > 0
            for key in ("depth_rmse", "depth_absrel"):
                self.metrics[key].update(pred["depth"][valid], gt[valid])

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if "seg" in self.tasks:
            iou_metric = self.metrics["iou"]
            confmat = iou_metric.confmat
            iou = iou_metric.compute().float()
            iou[confmat.sum(0) + confmat.sum(1) == 0] = float("nan")
            out["miou"] = iou.nanmean().item()
            out["pixel_acc"] = (confmat.trace() / confmat.sum()).item()
            out.update({f"iou_{name}": value.item() for name, value in zip(self.class_names, iou, strict=True)})
        for key in ("pck", "depth_rmse", "depth_absrel"):
            if key in self.metrics:
                out[key] = self.metrics[key].compute().item()
        return out

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()


def dense_metrics(
    pred: Mapping[str, Tensor],
    target: Mapping[str, Tensor | None],
    num_classes: int | None,
    class_names: Sequence[str] | None = None,
    pck_threshold: float = 0.1,
) -> dict[str, float]:
    """One-shot `DenseMetrics` over the tasks that have both a prediction and a target label."""
    tasks = [h for h, label in LABEL_OF_HEAD.items() if h in pred and target.get(label) is not None]
    metrics = DenseMetrics(tasks, num_classes, class_names, pck_threshold).to(next(iter(pred.values())).device)
    metrics.update(pred, target)
    return metrics.compute()
