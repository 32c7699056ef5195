"""Small U-Net for the image track's dense tasks (segmentation, keypoint heatmaps, depth). As with the
text classifier, the same code, seed and hyper-parameters train the real-only, synthetic-only and mixed
models, so their metric differences are the lift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule, seed_everything
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from synthlift.data.images import keypoint_heatmaps
from synthlift.metrics.dense import LABEL_OF_HEAD, DenseMetrics
from synthlift.trainer import make_trainer


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """`depth` max-pool downsamplings with channels doubling from `base_channels`; bilinear upsampling to
    the skip's size (so odd sizes work) and concatenation. One 1x1 head per task: `seg` -> (N,C,H,W)
    logits, `keypoints` -> (N,K,H,W) heatmap logits, `depth` -> (N,H,W) (channel squeezed to match the
    depth labels)."""

    def __init__(self, in_channels: int = 3, base_channels: int = 16, depth: int = 3, *, heads: dict[str, int]):
        super().__init__()
        unknown = set(heads) - set(LABEL_OF_HEAD)
        if unknown:
            raise ValueError(f"Unknown heads {sorted(unknown)}; known: {sorted(LABEL_OF_HEAD)}.")
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_double_conv(in_channels, widths[0])])
        self.down.extend(_double_conv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(_double_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth)))
        self.heads = nn.ModuleDict({name: nn.Conv2d(widths[0], ch, 1) for name, ch in heads.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        skips = []
        for i, block in enumerate(self.down):
            x = block(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat((x, skip), dim=1))
        out = {name: head(x) for name, head in self.heads.items()}
        if "depth" in out:
            out["depth"] = out["depth"].squeeze(1)
        return out


def hflip(images: Tensor, labels: Mapping[str, Tensor], which: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Mirror the samples selected by the boolean (N,) `which`: images, masks and depth along width,
    keypoint x -> W-1-x (pixel centres at integer coordinates). Left/right classes are NOT swapped."""
    width = images.shape[-1]
    sel = which.view(-1, 1, 1, 1)
    images = torch.where(sel, images.flip(-1), images)
    out = {}
    for key, value in labels.items():
        if key == "keypoints":
            x = torch.where(which.view(-1, 1), width - 1 - value[..., 0], value[..., 0])
            out[key] = torch.cat((x.unsqueeze(-1), value[..., 1:]), dim=-1)
        else:
            out[key] = torch.where(sel[:, 0], value.flip(-1), value)
    return images, out


class DenseTaskModel(LightningModule):
    """U-Net trained on the sum of weighted per-task losses: cross-entropy (seg), L1 over pixels with
    gt > 0 (depth), and BCE-with-logits on Gaussian heatmaps (keypoints), averaged over visible keypoints.

    BCE rather than MSE: a Gaussian heatmap is a per-pixel probability of "the keypoint is here", which
    BCE scores properly, and the outputs stay logits (argmax decoding unchanged, no output activation).
    With ~1% of pixels near a peak, MSE first learns the flat near-zero background and lifts the peak
    slowly; our runs are short (tens to hundreds of steps), and on a toy task BCE reached PCK 1.0 in half
    the steps MSE needed.

    `flip` (random horizontal flip, p=0.5 per sample) is off by default: on faces and bodies a mirror image
    turns the left eye into the right eye, so flipped samples would carry wrong left/right mask classes and
    keypoint identities unless those are swapped too, which needs dataset-specific pairs.
    """

    def __init__(
        self,
        heads: dict[str, int],
        base_channels: int = 16,
        depth: int = 3,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        loss_weights: Mapping[str, float] | None = None,
        heatmap_sigma: float = 1.5,
        flip: bool = False,
    ):
        super().__init__()
        self.tasks = list(heads)
        self.net = UNet(3, base_channels, depth, heads=heads)
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss_weights = {task: float((loss_weights or {}).get(task, 1.0)) for task in self.tasks}
        self.heatmap_sigma = heatmap_sigma
        self.flip = flip

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.net(x)

    def task_losses(self, out: Mapping[str, Tensor], labels: Mapping[str, Tensor]) -> dict[str, Tensor]:
        losses = {}
        if "seg" in out:
            losses["seg"] = F.cross_entropy(out["seg"], labels["masks"])
        if "keypoints" in out:
            logits, kps = out["keypoints"], labels["keypoints"]
            target = keypoint_heatmaps(kps, *logits.shape[-2:], self.heatmap_sigma)
            visible = (kps[..., 2] > 0).to(logits.dtype)[..., None, None]
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            losses["keypoints"] = (bce * visible).sum() / (visible.sum() * logits[0, 0].numel()).clamp_min(1)
        if "depth" in out:
            gt = labels["depth"]
            valid = (gt > 0).to(gt.dtype)
            losses["depth"] = ((out["depth"] - gt).abs() * valid).sum() / valid.sum().clamp_min(1)
        return losses

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, *values = batch
        labels = {LABEL_OF_HEAD[task]: value for task, value in zip(self.tasks, values, strict=True)}
        if self.flip:
            x, labels = hflip(x, labels, torch.rand(x.shape[0], device=x.device) < 0.5)
        losses = self.task_losses(self(x), labels)
        loss = sum(self.loss_weights[task] * value for task, value in losses.items())
        for task, value in losses.items():
            self.log(f"train/loss_{task}", value, on_step=False, on_epoch=True)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def dense_heads(labels: Mapping[str, Tensor | None], num_classes: int) -> dict[str, int]:
    """Heads for the tasks whose labels a dataset provides: seg always, keypoints/depth if present."""
    heads = {"seg": num_classes}
    if labels.get("keypoints") is not None:
        heads["keypoints"] = labels["keypoints"].shape[1]
    if labels.get("depth") is not None:
        heads["depth"] = 1
    return heads


def fit_dense_model(
    images: Tensor,
    labels: Mapping[str, Tensor | None],
    heads: dict[str, int],
    cfg: Mapping[str, Any],
    trainer_cfg: Mapping[str, Any],
    seed: int,
) -> DenseTaskModel:
    """Train from a seeded initialisation: two calls with the same seed start from identical weights.
    Training stops at `max_steps` or `max_epochs`, whichever is set and comes first."""
    max_steps, max_epochs = cfg.get("max_steps"), cfg.get("max_epochs")
    if not (max_steps or max_epochs):
        raise ValueError("The dense model config needs max_steps or max_epochs.")
    missing = [h for h in heads if labels.get(LABEL_OF_HEAD[h]) is None]
    if missing:
        raise ValueError(f"Heads {missing} have no labels.")
    seed_everything(seed, workers=True, verbose=False)
    model = DenseTaskModel(
        heads,
        int(cfg["base_channels"]),
        int(cfg["depth"]),
        float(cfg["lr"]),
        float(cfg["weight_decay"]),
        cfg.get("loss_weights"),
        float(cfg["heatmap_sigma"]),
        bool(cfg.get("flip", False)),
    )
    data = TensorDataset(images.float(), *(labels[LABEL_OF_HEAD[h]] for h in heads))
    loader = DataLoader(data, batch_size=int(cfg["batch_size"]), shuffle=True)
    trainer = make_trainer({**trainer_cfg, "max_steps": int(max_steps or -1)}, int(max_epochs or -1))
    trainer.fit(model, loader)
    return model.cpu().eval()


@torch.no_grad()
def evaluate_dense_model(
    model: DenseTaskModel,
    images: Tensor,
    labels: Mapping[str, Tensor | None],
    num_classes: int,
    class_names: list[str] | None = None,
    batch_size: int = 64,
    pck_threshold: float = 0.1,
) -> dict[str, float]:
    """`DenseMetrics` of the model's tasks that have test labels, in batches on the model's device so
    memory stays flat in the test-set size."""
    model.eval()
    device = next(model.parameters()).device
    tasks = [t for t in model.tasks if labels.get(LABEL_OF_HEAD[t]) is not None]
    metrics = DenseMetrics(tasks, num_classes, class_names, pck_threshold).to(device)
    for start in range(0, len(images), batch_size):
        batch = slice(start, start + batch_size)
        pred = model(images[batch].float().to(device))
        metrics.update(pred, {LABEL_OF_HEAD[t]: labels[LABEL_OF_HEAD[t]][batch].to(device) for t in tasks})
    return metrics.compute()
