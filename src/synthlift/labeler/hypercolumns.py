"""Per-pixel "hypercolumns" (DatasetGAN; HandsOff): every generator block's feature map, bilinearly resized to
the label resolution and concatenated, for one pixel.

DatasetGAN materialised the hypercolumn table of all labeled images (160 GB of RAM at 512 px). Here
hypercolumns are recomputed for `images_per_chunk` images at a time, so peak memory is set by the chunk
and never grows with the number of labeled images (`benchmarks/image.py` measures it).

Label conventions: `seg` int64 (N, H, W) class ids; `keypoints` float (N, K, 3) as (x, y, visible) in
pixel coordinates of the label resolution (pixel centres at integers); `depth` float (N, H, W).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthlift.core.errors import ConfigError, DataError, InvalidArgument
from synthlift.data.image.labels import TASKS
from synthlift.data.image.transforms import keypoint_heatmaps
from synthlift.generators.image.base import ImageGenerator


def module_device(module: nn.Module) -> torch.device:
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


class SelectedBlocks(ImageGenerator):
    """A view of `generator` whose hypercolumns hold only the feature maps of `blocks` (indices into its
    blocks, coarse to fine; negative counts from the finest). HandsOff's ablation: all blocks vs. the last
    only. The wrapped generator is shared, not copied; images and latents are unchanged."""

    def __init__(self, generator: ImageGenerator, blocks: Sequence[int]) -> None:
        super().__init__()
        count = len(generator.feature_channels)
        if not blocks or not all(isinstance(b, int) and -count <= b < count for b in blocks):
            raise InvalidArgument(
                "feature_blocks", list(blocks), f"a non-empty list of block indices in -{count}..{count - 1}"
            )
        self.blocks = sorted({b % count for b in blocks})
        self.generator = generator
        self.resolution = generator.resolution
        self.feature_channels = [generator.feature_channels[b] for b in self.blocks]

    def random_latents(self, n: int, seed: int) -> Tensor:
        return self.generator.random_latents(n, seed)

    def sample_with_features(self, latents: Tensor) -> tuple[Tensor, list[Tensor]]:
        image, features = self.generator.sample_with_features(latents)
        return image, [features[b] for b in self.blocks]


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
    pixels_per_image: int | None = None,
) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
    """(features (P, D), per-pixel targets) for `images_per_chunk` images at a time, in shuffled order.

    With `pixels_per_image`, each image contributes that many pixels drawn at random (fresh each time),
    not all size x size: neighbouring pixels' hypercolumns are nearly the same, so a sample teaches the
    MLPs almost as much for a fraction of their steps (the synthesis, done per image, costs the same).
    """
    if images_per_chunk < 1:
        raise ConfigError(f"images_per_chunk must be >= 1, got {images_per_chunk}")
    order = torch.randperm(len(latents), generator=rng)
    pixels = size * size
    for index in order.split(images_per_chunk):
        _, features = synthesize(generator, latents[index.to(latents.device)], size)
        features = features.reshape(-1, features.shape[-1])
        pixel_targets = _pixel_targets(targets, index, size, heatmap_sigma)
        if pixels_per_image is not None and pixels_per_image < pixels:
            offsets = torch.arange(len(index)).unsqueeze(1) * pixels
            picks = torch.rand(len(index), pixels, generator=rng).argsort(1)[:, :pixels_per_image]
            chosen = (offsets + picks).flatten()
            features = features[chosen.to(features.device)]
            pixel_targets = {task: value[chosen.to(value.device)] for task, value in pixel_targets.items()}
        yield features, pixel_targets
