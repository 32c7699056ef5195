"""Reading labeled images from files, with errors that name the file (and image) at fault."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthlift.core.errors import ConfigError, DataError
from synthlift.data.image.labels import DenseLabels, ImageSet


def load_npz(path: Path, keys: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The arrays under `keys` (each must exist) and under those of `optional` that exist."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(f"{path}: no key {missing[0]!r} in the archive; its keys are {archive.files}")
            return {k: archive[k] for k in [*keys, *optional] if k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as a NumPy .npz archive: {exc}") from exc


def check_images(images: np.ndarray, origin: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(f"{origin}: images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")


def check_ids(masks: np.ndarray, origin: str, class_names: list[str]) -> None:
    bad = (masks < 0) | (masks >= len(class_names))
    if bad.any():
        where = np.argwhere(bad)[0]
        item = f" (image {where[0]})" if masks.ndim == 3 else ""
        raise DataError(
            f"{origin}{item}: mask label id {int(masks[tuple(where)])} is outside 0..{len(class_names) - 1}: "
            f"there are {len(class_names)} classes {class_names}."
        )


def read_labeled_npz(path: Path, class_names: list[str] | None) -> ImageSet:
    """An .npz with `images` (N,H,W,3) uint8 and `masks` (N,H,W); class names given or from the file."""
    arrays = load_npz(path, ("images", "masks"), optional=("class_names",))
    images, masks = arrays["images"], arrays["masks"]
    if class_names is None:
        if "class_names" not in arrays:
            raise ConfigError(f"dataset.class_names is not set and {path} has no 'class_names' key")
        class_names = [str(c) for c in arrays["class_names"]]
    check_images(images, str(path))
    if masks.ndim != 3 or not np.issubdtype(masks.dtype, np.integer):
        raise DataError(f"{path}: masks must be integer class ids (N, H, W), got {masks.dtype} {masks.shape}")
    if images.shape[:3] != masks.shape:
        raise DataError(
            f"{path}: images are {images.shape[0]} x {images.shape[1]}x{images.shape[2]} (N x HxW) but masks "
            f"are {masks.shape[0]} x {masks.shape[1]}x{masks.shape[2]}; each mask must match its image."
        )
    check_ids(masks, str(path), class_names)
    return ImageSet(images, DenseLabels(masks, None, None, class_names, []), path.stem)
