"""Containers for images with dense labels, shared by every image dataset.

Conventions: images are uint8 (N, H, W, 3) RGB; keypoints are (x, y, visible) in pixel coordinates with
pixel (row r, column c) centred at (x=c, y=r), so the pixel holding a keypoint is (rint(y), rint(x)); an
absent keypoint is (0, 0, 0); depth grows with distance and background sits at the far plane.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from synthlift.core.errors import DataError

TASKS = ("seg", "keypoints", "depth")
RESOLUTIONS = (16, 32, 64, 128, 256)


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view (frozen means frozen), leaving the caller's own array writable."""
    view = array.view()
    view.setflags(write=False)
    return view


@dataclass(frozen=True, eq=False)
class DenseLabels:
    """Per-image dense labels. `eq=False`: field-wise `==` is ambiguous for numpy arrays."""

    masks: np.ndarray
    keypoints: np.ndarray | None
    depth: np.ndarray | None
    class_names: list[str]
    keypoint_names: list[str]

    def __post_init__(self) -> None:
        masks = np.ascontiguousarray(self.masks, dtype=np.int64)
        if masks.ndim != 3:
            raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
        if masks.size and (masks.min() < 0 or masks.max() >= len(self.class_names)):
            raise ValueError(f"mask ids must lie in [0, {len(self.class_names)}) for {self.class_names}")
        object.__setattr__(self, "masks", _readonly(masks))
        object.__setattr__(self, "class_names", [str(c) for c in self.class_names])
        object.__setattr__(self, "keypoint_names", [str(k) for k in self.keypoint_names])
        if self.keypoints is not None:
            keypoints = np.ascontiguousarray(self.keypoints, dtype=np.float32)
            expected = (len(masks), len(self.keypoint_names), 3)
            if keypoints.shape != expected:
                raise ValueError(f"keypoints must have shape {expected}, got {keypoints.shape}")
            object.__setattr__(self, "keypoints", _readonly(keypoints))
        elif self.keypoint_names:
            raise ValueError("keypoint_names given without keypoints")
        if self.depth is not None:
            depth = np.ascontiguousarray(self.depth, dtype=np.float32)
            if depth.shape != masks.shape:
                raise ValueError(f"depth must have the masks' shape {masks.shape}, got {depth.shape}")
            object.__setattr__(self, "depth", _readonly(depth))

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def tasks(self) -> tuple[str, ...]:
        present = {"seg": True, "keypoints": self.keypoints is not None, "depth": self.depth is not None}
        return tuple(t for t in TASKS if present[t])

    def subset(self, indices: Sequence[int] | np.ndarray) -> DenseLabels:
        idx = np.asarray(indices, dtype=np.int64)
        return DenseLabels(
            self.masks[idx],
            None if self.keypoints is None else self.keypoints[idx],
            None if self.depth is None else self.depth[idx],
            list(self.class_names),
            list(self.keypoint_names),
        )


@dataclass(frozen=True, eq=False)
class ImageSet:
    """RGB images, optionally with dense labels of the same size. `eq=False` as for `DenseLabels`."""

    images: np.ndarray
    labels: DenseLabels | None
    name: str

    def __post_init__(self) -> None:
        images = np.ascontiguousarray(self.images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if self.labels is not None and self.labels.masks.shape != images.shape[:3]:
            raise ValueError(f"labels of shape {self.labels.masks.shape} for images of shape {images.shape}")
        object.__setattr__(self, "images", _readonly(images))

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        idx = np.asarray(indices, dtype=np.int64)
        labels = None if self.labels is None else self.labels.subset(idx)
        return ImageSet(self.images[idx], labels, self.name)

    def renamed(self, name: str) -> ImageSet:
        return ImageSet(self.images, self.labels, name)


@dataclass(frozen=True)
class ImageSplit:
    """`unlabeled`: every image the GAN and encoder may train on (no labels attached, never a test image);
    `labeled`: exactly `num_labeled` labeled images, drawn with the run seed; `test`: real held-out
    labeled images fixed by `split_seed`, never trained on; `validation` (only with
    `dataset.validation_size > 0`): real labeled images fixed by `split_seed`, never among the labeled draw
    nor the test set, for choosing settings without looking at the test set."""

    unlabeled: ImageSet
    labeled: ImageSet
    test: ImageSet
    validation: ImageSet | None = None

    def __post_init__(self) -> None:
        """Refuse a split whose held-out images are also trained or selected on: the test set shares no
        image (pixel for pixel) with the others, nor the validation set with the labeled draw. A folder that
        holds one image twice, or a hand-built split, would otherwise score a model on what it saw."""
        held_out = {"test": self.test, "validation": self.validation}
        seen_by = {"unlabeled": self.unlabeled, "labeled": self.labeled, "validation": self.validation}
        for held_name, held in held_out.items():
            digests = _image_digests(held) if held is not None else {}
            for other_name, other in seen_by.items():
                if other is None or other_name == held_name or (held_name, other_name) == ("validation", "unlabeled"):
                    continue
                if shared := sorted(digests.keys() & _image_digests(other).keys()):
                    first = digests[shared[0]]
                    raise DataError(
                        f"the split would leak: {len(shared)} image(s) of the {held_name} set ({held.name}) are "
                        f"also in the {other_name} set ({other.name}), e.g. its image {first}, pixel for pixel. "
                        "Remove the duplicate images from the dataset"
                    )


def _image_digests(images: ImageSet) -> dict[bytes, int]:
    """SHA-1 of each image's pixels -> the index of its first occurrence."""
    digests: dict[bytes, int] = {}
    for index, image in enumerate(images.images):
        digests.setdefault(hashlib.sha1(image.tobytes()).digest(), index)
    return digests


@dataclass(frozen=True, eq=False)
class ClassMerge:
    """A coarser class set for an extra evaluation (e.g. faces' left/right parts folded together): class id
    `i` of the dataset becomes `merge_map[i]`, an index into `names`."""

    names: tuple[str, ...]
    merge_map: np.ndarray

    def __post_init__(self) -> None:
        merge_map = np.asarray(self.merge_map, dtype=np.int64)
        if merge_map.ndim != 1 or merge_map.min() < 0 or merge_map.max() >= len(self.names):
            raise ValueError(f"merge_map must map class ids to 0..{len(self.names) - 1}, got {merge_map}")
        object.__setattr__(self, "merge_map", _readonly(merge_map))

    def merge(self, masks: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Dataset class ids -> merged class ids, for numpy arrays and tensors (on the tensor's device)."""
        if isinstance(masks, torch.Tensor):
            return torch.tensor(self.merge_map, device=masks.device)[masks.long()]
        return self.merge_map[np.asarray(masks, dtype=np.int64)]
