"""Per-pixel "hypercolumns" (DatasetGAN; HandsOff): every generator block's feature map, bilinearly resized to
the label resolution and concatenated, for one pixel.

DatasetGAN materialised the hypercolumn table of all labeled images (160 GB of RAM at 512 px). Here
hypercolumns are recomputed for `images_per_chunk` images at a time, so peak memory is set by the chunk
and never grows with the number of labeled images (`benchmarks/image.py` measures it).

Label conventions: `seg` int64 (N, H, W) class ids; `keypoints` float (N, K, 3) as (x, y, visible) in
pixel coordinates of the label resolution (pixel centres at integers); `depth` float (N, H, W).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.errors import ConfigError, DataError
from synthlift.data.image.labels import TASKS
from synthlift.data.image.transforms import keypoint_heatmaps
from synthlift.generators.image.base import ImageGenerator


def module_device(module: nn.Module) -> torch.device:
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@torch.no_grad()
def synthesize(generator: ImageGenerator, latents: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """One synthesis pass of `latents` -> (image, hypercolumns laid out (N, size, size, D)).

    Each resized map is written straight into its channel slice of one preallocated buffer, so the
    concatenation never holds a second copy, and the pixel-major layout flattens to (P, D) for free.
    """
    image, features = generator.sample_with_features(latents.to(module_device(generator)))
    out = image.new_empty(len(latents), size, size, generator.hypercolumn_dim)
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


def hypercolumns(generator: ImageGenerator, latents: Tensor, size: int) -> Tensor:
    """(N, D, size, size): every feature map resized bilinearly (align_corners=False) and concatenated."""
    return synthesize(generator, latents, size)[1].permute(0, 3, 1, 2)


def label_size(generator: ImageGenerator, targets: dict[str, Tensor], num_latents: int) -> int:
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
        _, features = synthesize(generator, latents[index.to(latents.device)], size)
        yield features.reshape(-1, features.shape[-1]), _pixel_targets(targets, index, size, heatmap_sigma)
