"""`dataset=image/folder`: your own images and masks. `root` holds `images/*.{png,jpg}` and `masks/*.png`
(same file names; masks are single-channel class ids), or is an .npz with `images` (N,H,W,3 uint8), `masks`
(N,H,W) and optionally `class_names`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from synthlift.core.errors import ConfigError, DataError
from synthlift.core.paths import require_data_file
from synthlift.data.image.base import LabeledFilesDataset
from synthlift.data.image.labels import DenseLabels, ImageSet
from synthlift.data.image.npz import check_ids, read_labeled_npz
from synthlift.data.image.transforms import resize_set

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(kw_only=True)
class ImageFolderDataset(LabeledFilesDataset):
    """`class_names` name the mask ids 0, 1, ...; an .npz may carry its own instead."""

    name: str = "folder"
    class_names: list[str] | None = None
    test_size: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.class_names is not None:
            self.class_names = [str(c) for c in self.class_names] or None

    def read(self, root: Path, data_dir: str | os.PathLike | None) -> tuple[ImageSet, list[ImageSet], str]:
        if root.suffix.lower() == ".npz":
            return read_labeled_npz(root, self.class_names), [], str(root)
        if self.class_names is None:
            raise ConfigError(f"dataset.class_names is not set: the PNG masks in {root} carry no class names")
        return self._read_png_folder(root, self.class_names), [], str(root)

    def _read_png_folder(self, root: Path, class_names: list[str]) -> ImageSet:
        """`root/images/<stem>.{png,jpg}` with `root/masks/<stem>.png` (single-channel class ids), in stem
        order. Each mask must match its image's size; pairs are then resized one by one to `resolution`,
        so a folder may mix sizes."""
        image_dir, mask_dir = root / "images", root / "masks"
        for folder in (image_dir, mask_dir):
            require_data_file(folder)
        image_files = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() in _IMAGE_SUFFIXES}
        mask_files = {p.stem: p for p in sorted(mask_dir.iterdir()) if p.suffix.lower() == ".png"}
        if not image_files:
            raise DataError(f"{image_dir}: no images ({', '.join(_IMAGE_SUFFIXES)})")
        unmatched = sorted(set(image_files) ^ set(mask_files))
        if unmatched:
            stem = unmatched[0]
            lonely, partner = (
                (image_files[stem], mask_dir / f"{stem}.png")
                if stem in image_files
                else (mask_files[stem], image_dir / f"{stem}{{{','.join(_IMAGE_SUFFIXES)}}}")
            )
            raise DataError(
                f"{lonely} has no partner {partner} ({len(unmatched)} unmatched file(s) in all): every image "
                f"needs a mask with the same stem."
            )
        pairs = []
        for stem, image_path in image_files.items():
            image, mask = _read_png_pair(image_path, mask_files[stem], class_names)
            labels = DenseLabels(mask[None], None, None, class_names, [])
            pairs.append(resize_set(ImageSet(image[None], labels, stem), self.resolution))
        masks = np.concatenate([p.labels.masks for p in pairs if p.labels is not None])
        images = np.concatenate([p.images for p in pairs])
        return ImageSet(images, DenseLabels(masks, None, None, class_names, []), root.name)


def _read_png_pair(image_path: Path, mask_path: Path, class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    image = _open_image(image_path, single_channel=False)
    mask = _open_image(mask_path, single_channel=True)
    if image.shape[:2] != mask.shape:
        raise DataError(
            f"{mask_path}: mask size {mask.shape[0]}x{mask.shape[1]} (HxW) differs from the image size "
            f"{image.shape[0]}x{image.shape[1]} of {image_path}."
        )
    check_ids(mask, str(mask_path), class_names)
    return image, mask.astype(np.int64)


def _open_image(path: Path, single_channel: bool) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if not single_channel:
                return np.asarray(img.convert("RGB"), dtype=np.uint8)
            if img.mode not in ("L", "P", "I", "I;16", "1"):
                raise DataError(
                    f"{path}: mask has mode {img.mode}; save masks as single-channel PNGs (mode L or P) "
                    f"whose pixel values are class ids."
                )
            return np.asarray(img).astype(np.int64)
    except OSError as exc:  # PIL's UnidentifiedImageError and truncated files are OSErrors
        raise DataError(f"{path}: cannot read the image: {exc}") from exc
