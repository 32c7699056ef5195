"""`dataset=image/horse`: Weizmann horses with figure/ground masks (`root/train.npz`, 277 images)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from synthlift.core.paths import require_data_file
from synthlift.data.image.base import LabeledFilesDataset
from synthlift.data.image.labels import ImageSet
from synthlift.data.image.npz import read_labeled_npz


@dataclass(kw_only=True)
class HorseDataset(LabeledFilesDataset):
    name: str = "horse"
    test_size: int = 50

    def read(self, root: Path, data_dir: str | os.PathLike | None) -> tuple[ImageSet, list[ImageSet], str]:
        path = require_data_file(root / "train.npz", data_dir)
        return read_labeled_npz(path, None), [], str(path)
