"""`downstream=image/unet`: a small U-Net for the image track's dense tasks (segmentation, keypoint heatmaps,
depth). The same code, seed and hyper-parameters train the real-only baseline and the augmented model (on
the phases of the augmentation strategy's plan), so their metric differences are the lift. The network is
pluggable (`DenseUNet.network`): `downstream=image/unet_efficientnet` trains the ImageNet-pretrained
`EfficientNetUNet` the same way."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning import LightningModule, seed_everything
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from synthlift.augment.base import TrainingPlan
from synthlift.core.checks import check_fields, non_negative, non_negative_int, positive, positive_int, unit_target
from synthlift.core.errors import ConfigError, InvalidArgument
from synthlift.core.trainer import make_trainer
from synthlift.data.image.examples import DenseExamples
from synthlift.data.image.labels import ClassMerge
from synthlift.data.image.transforms import keypoint_heatmaps
from synthlift.metrics.dense import LABEL_OF_HEAD, DenseMetrics, dense_metrics


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def check_heads(heads: Mapping[str, int]) -> None:
    """Every network of `DenseUNet` takes the same `heads` ({task: output channels}), one per known task."""
    unknown = set(heads) - set(LABEL_OF_HEAD)
    if unknown:
        raise ValueError(f"Unknown heads {sorted(unknown)}; known: {sorted(LABEL_OF_HEAD)}.")


def head_outputs(heads: nn.ModuleDict, features: Tensor) -> dict[str, Tensor]:
    """Each head applied to the full-resolution features; depth's single channel is squeezed to (N,H,W) to
    match the depth labels."""
    out = {name: head(features) for name, head in heads.items()}
    if "depth" in out:
        out["depth"] = out["depth"].squeeze(1)
    return out


class UNet(nn.Module):
    """`depth` max-pool downsamplings with channels doubling from `base_channels`; bilinear upsampling to
    the skip's size (so odd sizes work) and concatenation. One 1x1 head per task: `seg` -> (N,C,H,W)
    logits, `keypoints` -> (N,K,H,W) heatmap logits, `depth` -> (N,H,W) (channel squeezed to match the
    depth labels). The from-scratch network of `downstream=image/unet`."""

    def __init__(self, in_channels: int = 3, base_channels: int = 16, depth: int = 3, *, heads: dict[str, int]):
        super().__init__()
        check_heads(heads)
        in_channels = positive_int("in_channels", in_channels)
        base_channels = positive_int("base_channels", base_channels)
        depth = non_negative_int("depth", depth)
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
        return head_outputs(self.heads, x)


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


def default_network() -> Callable[..., nn.Module]:
    """`UNet` with conf/downstream/image/unet.yaml's sizes, waiting for its heads."""
    return functools.partial(UNet, base_channels=16, depth=3)


class DenseTaskModel(LightningModule):
    """A dense network (`network(heads=...)`, e.g. `UNet`) trained on the sum of weighted per-task losses:
    cross-entropy (seg), L1 over pixels with gt > 0 (depth), and BCE-with-logits on Gaussian heatmaps
    (keypoints), averaged over visible keypoints.

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
        network: Callable[..., nn.Module],
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        loss_weights: Mapping[str, float] | None = None,
        heatmap_sigma: float = 1.5,
        flip: bool = False,
    ):
        super().__init__()
        self.tasks = list(heads)
        self.net = network(heads=heads)
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss_weights = {task: float((loss_weights or {}).get(task, 1.0)) for task in self.tasks}
        self.heatmap_sigma = heatmap_sigma
        self.flip = flip

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.net(x)

    def task_losses(
        self, out: Mapping[str, Tensor], labels: Mapping[str, Tensor], weights: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Each task's loss; with per-example `weights` (N,), every example's terms are scaled by its weight
        inside the same normalisation, so weights of 1 give the unweighted loss and 0 drops an example."""

        def weighted(terms: Tensor) -> Tensor:  # terms: per-pixel or per-keypoint values, examples on dim 0
            return terms if weights is None else terms * weights.view(-1, *[1] * (terms.dim() - 1))

        losses = {}
        if "seg" in out:
            if weights is None:
                losses["seg"] = F.cross_entropy(out["seg"], labels["masks"])
            else:
                losses["seg"] = weighted(F.cross_entropy(out["seg"], labels["masks"], reduction="none")).mean()
        if "keypoints" in out:
            logits, kps = out["keypoints"], labels["keypoints"]
            target = keypoint_heatmaps(kps, *logits.shape[-2:], self.heatmap_sigma)
            visible = (kps[..., 2] > 0).to(logits.dtype)[..., None, None]
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            losses["keypoints"] = weighted(bce * visible).sum() / (visible.sum() * logits[0, 0].numel()).clamp_min(1)
        if "depth" in out:
            gt = labels["depth"]
            valid = (gt > 0).to(gt.dtype)
            losses["depth"] = weighted((out["depth"] - gt).abs() * valid).sum() / valid.sum().clamp_min(1)
        return losses

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """A batch is (images, one label tensor per task[, per-example weights])."""
        x, *values = batch
        weights = values.pop() if len(values) > len(self.tasks) else None
        labels = {LABEL_OF_HEAD[task]: value for task, value in zip(self.tasks, values, strict=True)}
        if self.flip:
            x, labels = hflip(x, labels, torch.rand(x.shape[0], device=x.device) < 0.5)
        losses = self.task_losses(self(x), labels, weights)
        loss = sum(self.loss_weights[task] * value for task, value in losses.items())
        for task, value in losses.items():
            self.log(f"train/loss_{task}", value, on_step=False, on_epoch=True)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def _phase_shares(total: int | None, phases: int) -> list[int | None]:
    """`total` split over `phases` as evenly as possible, at least 1 each, the remainder to the last; None
    (no limit of this kind) stays None."""
    if total is None:
        return [None] * phases
    share = max(1, total // phases)
    return [share] * (phases - 1) + [max(1, total - share * (phases - 1))]


def dense_heads(labels: Mapping[str, Tensor | None], num_classes: int) -> dict[str, int]:
    """Heads for the tasks whose labels a dataset provides: seg always, keypoints/depth if present."""
    heads = {"seg": num_classes}
    if labels.get("keypoints") is not None:
        heads["keypoints"] = labels["keypoints"].shape[1]
    if labels.get("depth") is not None:
        heads["depth"] = 1
    return heads


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


@dataclass(kw_only=True)
class DenseUNet:
    """A dense model's settings, and how it is trained on a plan and scored. A plan trains for `max_steps`
    steps or `max_epochs` epochs in all (whichever is set and comes first), shared equally by its phases
    (the remainder goes to the last), each phase continuing from the weights the previous one left with a
    fresh optimiser. Sharing keeps the optimisation budget equal between the real-only model and a
    two-phase strategy (`synthetic_pretrain`), so a lift cannot come from training longer.

    `network` builds the network from its heads (`network(heads={task: channels})`, returning the dict of
    head outputs `UNet.forward` returns); in yaml a `_target_` node with `_partial_: true`. It is a
    partial rather than a built module because the heads depend on the data (`dense_heads`), and because
    `fit` must build a fresh, seeded network for every call. Keeping the network separate from the
    training settings lets the scratch U-Net and the ImageNet-pretrained `EfficientNetUNet` share the same
    optimiser, steps and losses, so their difference is the encoder alone.
    """

    network: Callable[..., nn.Module] = field(default_factory=default_network)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 16
    max_steps: int | None = 300
    max_epochs: int | None = None
    heatmap_sigma: float = 1.5
    loss_weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(LABEL_OF_HEAD, 1.0))
    flip: bool = False
    pck_threshold: float = 0.1

    def __post_init__(self) -> None:
        self._check_network()
        checks = {
            "lr": positive,
            "weight_decay": non_negative,
            "batch_size": positive_int,
            "heatmap_sigma": positive,
            "pck_threshold": unit_target,
        }
        check_fields(self, checks)
        for name in ("max_steps", "max_epochs"):
            if getattr(self, name) is not None:
                setattr(self, name, positive_int(name, getattr(self, name)))
        if not (self.max_steps or self.max_epochs):
            raise InvalidArgument("max_steps", self.max_steps, "an integer > 0 (or set max_epochs)")
        if set(self.loss_weights) - set(LABEL_OF_HEAD):
            raise InvalidArgument("loss_weights", dict(self.loss_weights), f"weights of some of {list(LABEL_OF_HEAD)}")
        self.loss_weights = {task: non_negative(f"loss_weights.{task}", v) for task, v in self.loss_weights.items()}
        if not isinstance(self.flip, bool):
            raise InvalidArgument("flip", self.flip, "true or false")

    def _check_network(self) -> None:
        """Build the network once now (the RNG state left as it was), so that an unknown or impossible
        `network.*` value fails when the config is built, naming its key, rather than after the GAN and
        labeler have trained."""
        if not callable(self.network):
            raise InvalidArgument("network", self.network, "a network partial (_target_ + _partial_: true)")
        if isinstance(self.network, functools.partial):  # a yaml node: name its unknown keys as build does
            parameters = inspect.signature(self.network.func).parameters
            known = [name for name in parameters if name not in ("self", "heads")]
            unknown = sorted(set(self.network.keywords) - set(known))
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
            if unknown and not takes_any:
                raise ConfigError(
                    f"network.{unknown[0]} is not a known key; the known keys of network are: {', '.join(known)}"
                )
        try:
            with torch.random.fork_rng(devices=[]):
                self.network(heads={"seg": 2})
        except InvalidArgument as error:
            raise InvalidArgument(f"network.{error.argument}", error.value, error.expected) from error

    def fit(
        self, plan: TrainingPlan, heads: dict[str, int], trainer_cfg: Mapping[str, Any], seed: int
    ) -> DenseTaskModel:
        """Train from a seeded initialisation on the plan's phases in order: two calls with the same seed
        start from identical weights. A phase with `weights` weighs each example's loss by them."""
        for phase in plan.phases:
            missing = [h for h in heads if phase.examples.labels.get(LABEL_OF_HEAD[h]) is None]
            if missing:
                raise ValueError(f"Heads {missing} have no labels in phase {phase.name!r}.")
        seed_everything(seed, workers=True, verbose=False)
        model = DenseTaskModel(
            heads,
            self.network,
            self.lr,
            self.weight_decay,
            self.loss_weights,
            self.heatmap_sigma,
            self.flip,
        )
        steps, epochs = (_phase_shares(total, len(plan.phases)) for total in (self.max_steps, self.max_epochs))
        for phase, phase_steps, phase_epochs in zip(plan.phases, steps, epochs, strict=True):
            examples: DenseExamples = phase.examples
            tensors = [examples.images.float(), *(examples.labels[LABEL_OF_HEAD[h]] for h in heads)]
            if phase.weights is not None:
                tensors.append(torch.as_tensor(phase.weights, dtype=torch.float32))
            loader = DataLoader(TensorDataset(*tensors), batch_size=self.batch_size, shuffle=True)
            trainer = make_trainer({**trainer_cfg, "max_steps": phase_steps or -1}, phase_epochs or -1)
            trainer.fit(model, loader)
        return model.cpu().eval()

    def evaluate(
        self,
        model: DenseTaskModel,
        test: DenseExamples,
        class_names: list[str],
        merged_classes: ClassMerge | None = None,
    ) -> dict[str, float]:
        """`evaluate_dense_model`'s metrics on the real test set; with `merged_classes`, also `miou_merged`
        on that coarser class set."""
        scores = evaluate_dense_model(
            model, test.images, test.labels, len(class_names), class_names, pck_threshold=self.pck_threshold
        )
        if merged_classes is not None:
            scores["miou_merged"] = _merged_miou(model, test.images, test.labels["masks"], merged_classes)
        return scores


@torch.no_grad()
def _merged_miou(
    model: DenseTaskModel, images: Tensor, masks: Tensor, merge: ClassMerge, batch_size: int = 64
) -> float:
    """mIoU on a merged class set (e.g. faces' left/right parts and accessories folded together)."""
    predicted = torch.cat([model(batch)["seg"].argmax(1) for batch in images.split(batch_size)])
    merged = {"seg": merge.merge(predicted)}  # class ids: the metric takes them as they are
    return dense_metrics(merged, {"masks": merge.merge(masks)}, len(merge.names))["miou"]
