"""HandsOff's labeler: an ensemble of small per-pixel MLPs mapping generator hypercolumns to labels. The
members' disagreement (Jensen-Shannon divergence) flags generated samples whose labels should not be
trusted, and the uncertainty filter drops them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.errors import ConfigError
from synthlift.core.progress import stage_progress
from synthlift.generators.image.base import ImageGenerator
from synthlift.labeler.hypercolumns import iter_hypercolumn_chunks, label_size, module_device, synthesize


class _PixelMLP(nn.Module):
    """One ensemble member: d -> 256 -> 32 -> heads, each hidden layer Linear, ReLU, BatchNorm1d."""

    def __init__(self, in_dim: int, hidden: Sequence[int], heads: dict[str, int]):
        super().__init__()
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip([in_dim, *hidden[:-1]], hidden, strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), nn.BatchNorm1d(fan_out)]
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({task: nn.Linear(hidden[-1], dim) for task, dim in heads.items()})

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        hidden = self.trunk(features)
        out = {task: head(hidden) for task, head in self.heads.items()}
        if "depth" in out:
            out["depth"] = out["depth"].squeeze(-1)
        return out


class PixelLabeler(nn.Module):
    """An ensemble of `num_members` per-pixel MLPs with one head per task given.

    Heads: `seg` (num_classes logits), `keypoints` (num_keypoints heatmap values), `depth` (1 value).
    Members get different init seeds (`seed + m`) so that their disagreement means something.
    """

    def __init__(
        self,
        in_dim: int,
        *,
        num_classes: int | None = None,
        num_keypoints: int | None = None,
        depth: bool = False,
        num_members: int = 10,
        hidden: Sequence[int] = (256, 32),
        seed: int = 0,
    ):
        super().__init__()
        heads = {"seg": num_classes, "keypoints": num_keypoints, "depth": 1 if depth else None}
        self.heads = {task: dim for task, dim in heads.items() if dim}
        if not self.heads:
            raise ConfigError("the labeler needs at least one task: num_classes, num_keypoints or depth")
        if num_members < 1 or not hidden:
            raise ConfigError(f"labeler needs num_members >= 1 and hidden sizes, got {num_members}, {hidden}")
        members = []
        for m in range(num_members):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + m)
                members.append(_PixelMLP(in_dim, list(hidden), self.heads))
        self.members = nn.ModuleList(members)

    @classmethod
    def for_targets(
        cls, in_dim: int, targets: dict[str, Tensor], *, num_classes: int | None = None, **kwargs
    ) -> PixelLabeler:
        """Heads sized from the targets; pass `num_classes` when some class is absent from the masks."""
        if "seg" in targets and num_classes is None:
            num_classes = int(targets["seg"].max()) + 1
        return cls(
            in_dim,
            num_classes=num_classes if "seg" in targets else None,
            num_keypoints=targets["keypoints"].shape[1] if "keypoints" in targets else None,
            depth="depth" in targets,
            **kwargs,
        )

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        """(P, D) -> {task: (M, P, C) seg logits | (M, P, K) heatmaps | (M, P) depth}, one row per member."""
        outputs = [member(features) for member in self.members]
        return {task: torch.stack([out[task] for out in outputs]) for task in self.heads}


def _task_losses(outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
    losses = {}
    if "seg" in outputs:
        losses["seg"] = F.cross_entropy(outputs["seg"], targets["seg"])
    if "keypoints" in outputs:
        losses["keypoints"] = F.mse_loss(outputs["keypoints"], targets["keypoints"])
    if "depth" in outputs:
        losses["depth"] = F.l1_loss(outputs["depth"], targets["depth"].float())
    return losses


def train_labeler(
    labeler: PixelLabeler,
    generator: ImageGenerator,
    latents: Tensor,
    targets: dict[str, Tensor],
    *,
    epochs: int = 20,
    lr: float = 1e-3,
    images_per_chunk: int = 8,
    pixels_per_batch: int = 2048,
    pixels_per_image: int | None = None,
    seed: int = 0,
    loss_weights: dict[str, float] | None = None,
    heatmap_sigma: float = 1.5,
) -> list[dict[str, float]]:
    """Train every member on the labeled images; returns per-epoch mean losses (over members, batches).

    Members are trained independently, as in HandsOff: own Adam optimiser, own pixel order. A chunk's
    hypercolumns are computed once and shared by all members, each reading its own permutation of it,
    so the synthesis cost does not grow with the ensemble. BatchNorm sees batch statistics of one chunk
    of images but labels with running statistics of all of them: very small chunks widen that gap.
    """
    if set(targets) != set(labeler.heads):
        raise ConfigError(f"labeler heads {sorted(labeler.heads)} do not match the targets {sorted(targets)}")
    size = label_size(generator, targets, len(latents))
    weights = {task: 1.0 for task in labeler.heads} | dict(loss_weights or {})
    device = module_device(labeler)
    optimizers = [torch.optim.Adam(member.parameters(), lr=lr) for member in labeler.members]
    chunk_rng = torch.Generator().manual_seed(seed)
    member_rngs = [torch.Generator().manual_seed(seed + 1 + m) for m in range(len(labeler.members))]
    labeler.train()
    history = []
    with stage_progress("labeler epochs", epochs) as advance:
        for epoch in range(epochs):
            sums = dict.fromkeys(["loss", *labeler.heads], 0.0)
            steps = 0
            chunks = iter_hypercolumn_chunks(
                generator,
                latents,
                targets,
                images_per_chunk=images_per_chunk,
                size=size,
                heatmap_sigma=heatmap_sigma,
                rng=chunk_rng,
                pixels_per_image=pixels_per_image,
            )
            for features, pixel_targets in chunks:
                features = features.to(device)
                pixel_targets = {task: value.to(device) for task, value in pixel_targets.items()}
                for member, optimizer, rng in zip(labeler.members, optimizers, member_rngs, strict=True):
                    for index in torch.randperm(len(features), generator=rng).split(pixels_per_batch):
                        if len(index) < 2:  # BatchNorm cannot normalise a single pixel
                            continue
                        index = index.to(device)
                        losses = _task_losses(member(features[index]), {t: v[index] for t, v in pixel_targets.items()})
                        total = sum(weights[task] * loss for task, loss in losses.items())
                        optimizer.zero_grad(set_to_none=True)
                        total.backward()
                        optimizer.step()
                        sums["loss"] += total.item()
                        for task, loss in losses.items():
                            sums[task] += loss.item()
                        steps += 1
            history.append({"epoch": epoch} | {key: value / max(steps, 1) for key, value in sums.items()})
            advance(1)
    labeler.eval()
    return history


def ensemble_js_divergence(probs: Tensor) -> Tensor:
    """Jensen-Shannon divergence of M members' class distributions (M, ..., C) -> (...), in nats.

    JS = H(mean p) - mean H(p): zero exactly when all members agree, larger the more they disagree.
    """
    mean_entropy = torch.special.entr(probs).sum(-1).mean(0)
    return (torch.special.entr(probs.mean(0)).sum(-1) - mean_entropy).clamp_min(0)


@torch.no_grad()
def label_images(
    labeler: PixelLabeler,
    generator: ImageGenerator,
    w: Tensor,
    *,
    size: int | None = None,
    batch_size: int = 16,
    keypoint_threshold: float = 0.25,
) -> dict[str, Tensor]:
    """Generate images from latents `w` and label them, `batch_size` images at a time (flat memory).

    Returns, on the CPU: `images` (N, 3, size, size), resized to the label resolution (default: the
    generator's) so that images and labels line up; `seg` (N, size, size) argmax of the ensemble-mean
    probabilities; `keypoints` (N, K, 3) at the argmax of the mean heatmap, visible when that peak exceeds
    `keypoint_threshold` (training heatmaps peak at 1, but MSE-trained heatmaps under-shoot peaks, so
    the default 0.25 asks for a quarter of a real peak; invisible keypoints train towards 0);
    `depth` (N, size, size) ensemble mean; `uncertainty` (N,) mean per-pixel Jensen-Shannon divergence
    of the members' seg softmax, or (labelers without seg) the mean across-member variance.
    """
    size = size or generator.resolution
    device = module_device(labeler)
    was_training = labeler.training
    labeler.eval()
    parts: dict[str, list[Tensor]] = {}
    for wb in w.split(batch_size):
        image, features = synthesize(generator, wb, size)
        if image.shape[-1] != size:
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        n = len(wb)
        out = labeler(features.reshape(-1, features.shape[-1]).to(device))
        batch = {"images": image}
        if "seg" in out:
            probs = out["seg"].softmax(-1)
            batch["seg"] = probs.mean(0).argmax(-1).view(n, size, size)
            batch["uncertainty"] = ensemble_js_divergence(probs).view(n, -1).mean(1)
        else:
            spread = [out[t].var(0, unbiased=False).view(n, size * size, -1).sum(-1) for t in out]
            batch["uncertainty"] = sum(spread).mean(1)
        if "keypoints" in out:
            heat = out["keypoints"].mean(0).view(n, size * size, -1)
            peak, where = heat.max(1)
            x, y = (where % size).float(), torch.div(where, size, rounding_mode="floor").float()
            batch["keypoints"] = torch.stack([x, y, (peak > keypoint_threshold).float()], dim=-1)
        if "depth" in out:
            batch["depth"] = out["depth"].mean(0).view(n, size, size)
        for key, value in batch.items():
            parts.setdefault(key, []).append(value.cpu())
    labeler.train(was_training)
    return {key: torch.cat(values) for key, values in parts.items()}


def filter_uncertain(labels: dict[str, Tensor], fraction: float) -> tuple[dict[str, Tensor], Tensor]:
    """Drop the round(fraction * N) samples with the highest `uncertainty` (HandsOff's filtering).

    Returns the kept samples of every per-sample entry, and their indices in the original order.
    """
    if not 0 <= fraction < 1:
        raise ConfigError(f"the uncertainty filter fraction must be in [0, 1), got {fraction}")
    if "uncertainty" not in labels:
        raise ConfigError("filter_uncertain needs labels['uncertainty'] (from label_images)")
    uncertainty = labels["uncertainty"]
    n = len(uncertainty)
    dropped = torch.argsort(uncertainty, descending=True, stable=True)[: round(fraction * n)]
    keep = torch.ones(n, dtype=torch.bool)
    keep[dropped] = False
    kept = keep.nonzero().squeeze(1)
    return {key: value[kept] for key, value in labels.items()}, kept
