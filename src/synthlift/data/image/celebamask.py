"""`dataset=image/celebamask`: CelebAMask-HQ face parsing (research-only: read from `paths.data_dir`, never
copied). 19 classes; keypoints are derived from the part masks (centroids of eyes, nose, mouth); no depth.
Besides its own classes, a run also scores the usual merged face-parsing classes (`merged_classes`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from synthlift.core.errors import DataError
from synthlift.core.paths import require_data_file
from synthlift.data.image.base import LabeledFilesDataset
from synthlift.data.image.labels import ClassMerge, DenseLabels, ImageSet
from synthlift.data.image.npz import check_images, load_npz, read_labeled_npz

# CelebAMask-HQ label order (switchablenorms/CelebAMask-HQ g_mask.py); the npz files are checked against it.
CELEBAMASK_CLASSES = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
# Faces have no keypoint labels, so keypoints are part centroids (l_* is the person's left = image right).
FACE_KEYPOINTS = ("l_eye", "r_eye", "nose", "mouth")
_FACE_KEYPOINT_PARTS = ((4,), (5,), (2,), (10, 11, 12))

# The usual merged face-parsing evaluation: left/right parts and accessories fold into the part they sit
# on (glasses -> eyes, earring -> ears, necklace -> neck, hat -> hair), lips join the mouth interior.
FACE_MERGED_CLASSES = ("background", "skin", "nose", "eyes", "brows", "ears", "mouth", "hair", "neck", "cloth")
FACE_MERGE_MAP = np.array([0, 1, 2, 3, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 5, 8, 8, 9], dtype=np.int64)
FACE_MERGE_MAP.setflags(write=False)


@dataclass(kw_only=True)
class CelebAMaskDataset(LabeledFilesDataset):
    """`root/train.npz` is the labeled source (the test set is held out of it by split_seed);
    `unlabeled.npz` and `test_public.npz` only add GAN/encoder images."""

    name: str = "celebamask"

    merged_classes: ClassVar[ClassMerge] = ClassMerge(FACE_MERGED_CLASSES, FACE_MERGE_MAP)

    def read(self, root: Path, data_dir: str | os.PathLike | None) -> tuple[ImageSet, list[ImageSet], str]:
        """Keypoints are derived from the part masks at native resolution: the centroids of l_eye, r_eye,
        nose and the whole mouth (mouth + u_lip + l_lip), visible when the part has at least one pixel."""
        train_path = require_data_file(root / "train.npz", data_dir)
        train = read_labeled_npz(train_path, None)
        labels = train.labels
        assert labels is not None
        if labels.class_names != list(CELEBAMASK_CLASSES):
            raise DataError(
                f"{train_path}: class_names {labels.class_names} are not the CelebAMask-HQ order "
                f"{list(CELEBAMASK_CLASSES)}, on which the derived keypoints and FACE_MERGE_MAP rely."
            )
        keypoints = face_keypoints(labels.masks)
        labels = DenseLabels(labels.masks, keypoints, None, labels.class_names, list(FACE_KEYPOINTS))
        extra = []
        for file in ("unlabeled.npz", "test_public.npz"):
            path = require_data_file(root / file, data_dir)
            images = load_npz(path, ("images",))["images"]
            check_images(images, str(path))
            extra.append(ImageSet(images, None, path.stem))
        return ImageSet(train.images, labels, "celebamask"), extra, str(train_path)


def face_keypoints(masks: np.ndarray) -> np.ndarray:
    """(N, 4, 3) part centroids (x, y, visible) in pixel coordinates; (0, 0, 0) where a part is absent."""
    rows, cols = (g.astype(np.float64) for g in np.mgrid[0 : masks.shape[1], 0 : masks.shape[2]])
    keypoints = np.zeros((len(masks), len(FACE_KEYPOINTS), 3), dtype=np.float32)
    for k, parts in enumerate(_FACE_KEYPOINT_PARTS):
        part = np.isin(masks, parts)
        count = part.sum(axis=(1, 2))
        safe = np.maximum(count, 1)
        keypoints[:, k, 0] = (part * cols).sum(axis=(1, 2)) / safe
        keypoints[:, k, 1] = (part * rows).sum(axis=(1, 2)) / safe
        keypoints[:, k, 2] = count > 0
    return keypoints
