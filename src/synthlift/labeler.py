"""Per-pixel labeler on generator hypercolumns (DatasetGAN; HandsOff, Xu et al. CVPR 2023).

A pixel's hypercolumn is the concatenation of every synthesis block's feature map, bilinearly resized
to the label resolution. An ensemble of small MLPs maps hypercolumns to labels; the members'
disagreement (Jensen-Shannon divergence) flags generated samples whose labels should not be trusted.

DatasetGAN materialised the hypercolumn table of all labeled images (160 GB of RAM at 512 px). Here
hypercolumns are recomputed for `images_per_chunk` images at a time, so peak memory is set by the chunk
and never grows with the number of labeled images; `measure_peak_training_memory` checks that.

Label conventions: `seg` int64 (N, H, W) class ids; `keypoints` float (N, K, 3) as (x, y, visible) in
pixel coordinates of the label resolution (pixel centres at integers); `depth` float (N, H, W).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from synthlift.data.images import TASKS, keypoint_heatmaps
from synthlift.errors import ConfigError, DataError
from synthlift.gan.image_base import ImageGenerator


def _device(module: nn.Module) -> torch.device:
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@torch.no_grad()
def _synthesize(generator: ImageGenerator, w: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """One synthesis pass -> (image, hypercolumns laid out (N, size, size, D)).

    Each resized map is written straight into its channel slice of one preallocated buffer, so the
    concatenation never holds a second copy, and the pixel-major layout flattens to (P, D) for free.
    """
    image, features = generator.synthesis(w.to(_device(generator)), return_features=True)
    out = image.new_empty(len(w), size, size, generator.hypercolumn_dim)
    offset = 0
    for feature in features:
        channels = feature.shape[1]
        resized = F.interpolate(feature, size=(size, size), mode="bilinear", align_corners=False)
        out[..., offset : offset + channels] = resized.permute(0, 2, 3, 1)
        offset += channels
    if offset != generator.hypercolumn_dim:
        raise ConfigError(
            f"{type(generator).__name__}: feature maps have {offset} channels in all, "
            f"but feature_channels says {generator.hypercolumn_dim}"
        )
    return image, out


def hypercolumns(generator: ImageGenerator, w: Tensor, size: int) -> Tensor:
    """(N, D, size, size): every feature map resized bilinearly (align_corners=False) and concatenated."""
    return _synthesize(generator, w, size)[1].permute(0, 3, 1, 2)


def _label_size(generator: ImageGenerator, targets: dict[str, Tensor], num_latents: int) -> int:
    """The label resolution, read off the masks; checks every target against the latents."""
    unknown = set(targets) - set(TASKS)
    if unknown:
        raise ConfigError(f"unknown labeler targets {sorted(unknown)}; expected some of {list(TASKS)}")
    if not targets:
        raise ConfigError(f"the labeler needs at least one target out of {list(TASKS)}")
    sizes = set()
    for task, value in targets.items():
        if len(value) != num_latents:
            raise DataError(f"targets['{task}'] has {len(value)} images but there are {num_latents} latents")
        if task == "keypoints":
            if value.ndim != 3 or value.shape[2] != 3:
                raise DataError(f"targets['keypoints'] must be (N, K, 3), got {tuple(value.shape)}")
        elif value.ndim != 3 or value.shape[1] != value.shape[2]:
            raise DataError(f"targets['{task}'] must be square (N, H, H), got {tuple(value.shape)}")
        else:
            sizes.add(value.shape[1])
    if len(sizes) > 1:
        raise DataError(f"seg and depth targets have different resolutions: {sorted(sizes)}")
    return sizes.pop() if sizes else generator.resolution


def _pixel_targets(targets: dict[str, Tensor], index: Tensor, size: int, sigma: float) -> dict[str, Tensor]:
    """Per-pixel targets of the images `index`, in the same (image, row, column) order as the features."""
    out = {}
    for task, value in targets.items():
        chunk = value[index.to(value.device)]
        if task == "keypoints":
            chunk = keypoint_heatmaps(chunk.float(), size, size, sigma).permute(0, 2, 3, 1)
            out[task] = chunk.reshape(-1, chunk.shape[-1])
        else:
            out[task] = chunk.reshape(-1)
    return out


def iter_hypercolumn_chunks(
    generator: ImageGenerator,
    latents: Tensor,
    targets: dict[str, Tensor],
    *,
    images_per_chunk: int,
    size: int,
    heatmap_sigma: float,
    rng: torch.Generator,
) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
    """(features (P, D), per-pixel targets) for `images_per_chunk` images at a time, in shuffled order."""
    if images_per_chunk < 1:
        raise ConfigError(f"images_per_chunk must be >= 1, got {images_per_chunk}")
    order = torch.randperm(len(latents), generator=rng)
    for index in order.split(images_per_chunk):
        _, features = _synthesize(generator, latents[index.to(latents.device)], size)
        yield features.reshape(-1, features.shape[-1]), _pixel_targets(targets, index, size, heatmap_sigma)


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
    size = _label_size(generator, targets, len(latents))
    weights = {task: 1.0 for task in labeler.heads} | dict(loss_weights or {})
    device = _device(labeler)
    optimizers = [torch.optim.Adam(member.parameters(), lr=lr) for member in labeler.members]
    chunk_rng = torch.Generator().manual_seed(seed)
    member_rngs = [torch.Generator().manual_seed(seed + 1 + m) for m in range(len(labeler.members))]
    labeler.train()
    history = []
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
    device = _device(labeler)
    was_training = labeler.training
    labeler.eval()
    parts: dict[str, list[Tensor]] = {}
    for wb in w.split(batch_size):
        image, features = _synthesize(generator, wb, size)
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


def cross_validate_labeler(
    generator: ImageGenerator,
    latents: Tensor,
    targets: dict[str, Tensor],
    *,
    num_folds: int = 5,
    num_members: int = 3,
    hidden: Sequence[int] = (256, 32),
    num_classes: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    **train_kwargs,
) -> dict:
    """k-fold (k = min(num_folds, N)) held-out seg quality of the labeler, so a bad labeler shows.

    Each fold trains a fresh (smaller, `num_members`) ensemble on the other folds with `train_kwargs`
    (see `train_labeler`) and predicts the held-out images. Returns the mean over folds of pixel
    accuracy and mIoU (classes absent from both truth and prediction are ignored), plus per-fold values.
    """
    if "seg" not in targets:
        raise ConfigError("cross_validate_labeler scores segmentation: targets need 'seg'")
    n = len(latents)
    k = min(num_folds, n)
    if k < 2:
        raise ConfigError(f"cross-validation needs >= 2 labeled images and folds, got {n} images, {num_folds}")
    size = _label_size(generator, targets, n)
    num_classes = num_classes or int(targets["seg"].max()) + 1
    folds = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tensor_split(k)
    per_fold = []
    for i, held_out in enumerate(folds):
        train_idx = torch.cat([fold for j, fold in enumerate(folds) if j != i])
        labeler = PixelLabeler.for_targets(
            generator.hypercolumn_dim,
            targets,
            num_classes=num_classes,
            num_members=num_members,
            hidden=hidden,
            seed=seed + 100 * i,
        ).to(_device(generator))
        train_targets = {task: value[train_idx.to(value.device)] for task, value in targets.items()}
        train_labeler(
            labeler,
            generator,
            latents[train_idx.to(latents.device)],
            train_targets,
            seed=seed + i,
            **train_kwargs,
        )
        predicted = label_images(
            labeler, generator, latents[held_out.to(latents.device)], size=size, batch_size=batch_size
        )["seg"]
        truth = targets["seg"][held_out.to(targets["seg"].device)].cpu()
        accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro")(predicted, truth)
        miou = MulticlassJaccardIndex(num_classes=num_classes, average="macro")(predicted, truth)
        per_fold.append({"pixel_accuracy": accuracy.item(), "miou": miou.item(), "num_images": len(held_out)})
    return {
        "pixel_accuracy": sum(f["pixel_accuracy"] for f in per_fold) / k,
        "miou": sum(f["miou"] for f in per_fold) / k,
        "num_folds": k,
        "folds": per_fold,
    }


def _profiled_peak_bytes(prof: profile) -> int:
    """Peak of the running sum of CPU allocator events above the level when profiling started.

    The profiler sees every allocation of torch's CPU allocator (tensor storage, autograd buffers,
    optimiser state); tracemalloc does not, because torch allocates outside Python's allocator.
    """
    events = prof.profiler.kineto_results.events()
    allocations = sorted(
        (e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]" and e.device_type() == DeviceType.CPU
    )
    current = peak = 0
    for _, nbytes in allocations:
        current += nbytes
        peak = max(peak, current)
    return peak


def measure_peak_training_memory(
    generator: ImageGenerator,
    num_labeled: int,
    *,
    images_per_chunk: int = 4,
    pixels_per_batch: int = 1024,
    num_members: int = 2,
    hidden: Sequence[int] = (256, 32),
    epochs: int = 1,
    num_classes: int = 2,
    size: int | None = None,
    seed: int = 0,
) -> int:
    """Peak bytes that `train_labeler` allocates on top of its inputs, for `num_labeled` random images.

    Inputs (latents, masks) and the labeler are created before measuring: they are the same for any
    training loop. `images_per_chunk=num_labeled` reproduces DatasetGAN's materialised table.
    On CUDA this reads the allocator's peak statistics; on the CPU it replays the profiler's allocation
    events (see `_profiled_peak_bytes`).
    """
    rng = torch.Generator().manual_seed(seed)
    size = size or generator.resolution
    device = _device(generator)
    with torch.no_grad():
        latents = generator.mapping(torch.randn(num_labeled, generator.z_dim, generator=rng).to(device))
    targets = {"seg": torch.randint(num_classes, (num_labeled, size, size), generator=rng)}
    labeler = PixelLabeler(
        generator.hypercolumn_dim, num_classes=num_classes, num_members=num_members, hidden=hidden, seed=seed
    ).to(device)
    kwargs = dict(epochs=epochs, images_per_chunk=images_per_chunk, pixels_per_batch=pixels_per_batch, seed=seed)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        train_labeler(labeler, generator, latents, targets, **kwargs)
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        train_labeler(labeler, generator, latents, targets, **kwargs)
    return _profiled_peak_bytes(prof)
