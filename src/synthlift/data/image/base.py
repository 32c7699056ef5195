"""What every image dataset shares: its arguments, and how a run's split is drawn.

A dataset is one class (one module of `synthlift.data.image`) and one yaml with its `_target_`; it only
says how to get its images. The split rules live here, so every dataset follows them: the test set
depends only on `split_seed` (and the data), so every run seed of a sweep is scored on the same images;
the labeled set is drawn from the rest with `seed`, and for one seed the draw for a smaller
`num_labeled` is a subset of the draw for a larger one. With `validation_size > 0`, a validation set is
also fixed by `split_seed` and kept out of every labeled draw, so settings (e.g. the transfer baseline's)
can be chosen on real labels without touching the test set.
"""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from synthlift.core.checks import non_negative_int, one_of, positive_int
from synthlift.core.errors import DataError
from synthlift.core.paths import require_data_file
from synthlift.data.image.labels import RESOLUTIONS, ClassMerge, ImageSet, ImageSplit
from synthlift.data.image.transforms import resize_set

logger = logging.getLogger(__name__)

# Separate random streams, so that split_seed == seed does not make the test split and the labeled draw
# share random numbers (datasets that generate images use streams from 2 on).
_SPLIT_STREAM, _SAMPLE_STREAM = 0, 1


@dataclass(kw_only=True)
class ImageDataset(abc.ABC):
    """An image dataset with dense labels, split into an unlabeled GAN pool, a scarce labeled set and a
    real held-out test set, at `resolution` pixels.

    `merged_classes`, when a dataset sets it, is a coarser class set that the pipeline also scores
    (`miou_merged_*`), e.g. the usual merged face-parsing classes.
    """

    name: str
    resolution: int = 32
    num_labeled: int = 50
    test_size: int = 100
    validation_size: int = 0
    split_seed: int = 1234
    seed: int = 0

    merged_classes: ClassVar[ClassMerge | None] = None

    def __post_init__(self) -> None:
        self.resolution = one_of("resolution", self.resolution, RESOLUTIONS)
        self.num_labeled = positive_int("num_labeled", self.num_labeled)
        self.test_size = positive_int("test_size", self.test_size)
        self.validation_size = non_negative_int("validation_size", self.validation_size)
        self.split_seed = non_negative_int("split_seed", self.split_seed)
        self.seed = non_negative_int("seed", self.seed)

    def load(self, data_dir: str | os.PathLike | None = None) -> ImageSplit:
        """The run's split. `data_dir` only explains a missing file (paths are used as configured)."""
        split = self._split(data_dir)
        logger.info(
            "Loaded %s at %d px: %d unlabeled, %d labeled (seed %d), %d test and %d validation (split_seed %d); "
            "tasks %s",
            self.name,
            self.resolution,
            len(split.unlabeled),
            len(split.labeled),
            self.seed,
            len(split.test),
            self.validation_size,
            self.split_seed,
            split.test.labels.tasks if split.test.labels is not None else (),
        )
        return split

    @abc.abstractmethod
    def _split(self, data_dir: str | os.PathLike | None) -> ImageSplit: ...

    def draw_labeled(self, pool: np.ndarray, origin: str) -> np.ndarray:
        """`num_labeled` sorted indices from `pool`: a prefix of one seeded permutation, so draws nest."""
        if len(pool) < self.num_labeled:
            raise DataError(
                f"{origin}: only {len(pool)} labeled images are available for training (after holding out the "
                f"test set), fewer than dataset.num_labeled={self.num_labeled}. Lower dataset.num_labeled or "
                f"dataset.test_size."
            )
        return np.sort(np.random.default_rng([self.seed, _SAMPLE_STREAM]).permutation(pool)[: self.num_labeled])


@dataclass(kw_only=True)
class LabeledFilesDataset(ImageDataset):
    """A dataset read from `root`: labeled images, of which `test_size` (then `validation_size`) are held
    out by `split_seed` and `num_labeled` drawn by `seed` from the rest; the unlabeled pool is every non-test
    image plus any image-only files the dataset has. Validation images stay in that pool, as the labeled
    ones do (the GAN never sees a label), so a validation split leaves the pool, and the cached GAN, as
    they are."""

    root: str

    @abc.abstractmethod
    def read(self, root: Path, data_dir: str | os.PathLike | None) -> tuple[ImageSet, list[ImageSet], str]:
        """(labeled images, image-only sets that join the unlabeled pool, origin for messages); sizes may
        still differ from `resolution`."""

    def _split(self, data_dir: str | os.PathLike | None) -> ImageSplit:
        root = require_data_file(Path(str(self.root)).expanduser(), data_dir)
        labeled_set, extra_unlabeled, origin = self.read(root, data_dir)
        test_idx, validation_idx, pool_idx = self._split_held_out(len(labeled_set), origin)
        labeled_idx = self.draw_labeled(pool_idx, origin)
        assert not np.intersect1d(labeled_idx, np.union1d(test_idx, validation_idx)).size
        full = resize_set(labeled_set, self.resolution)
        unlabeled_images = [full.images[np.union1d(validation_idx, pool_idx)]]
        unlabeled_images += [resize_set(extra, self.resolution).images for extra in extra_unlabeled]
        return ImageSplit(
            unlabeled=ImageSet(np.concatenate(unlabeled_images), None, f"{self.name}/unlabeled"),
            labeled=full.subset(labeled_idx).renamed(f"{self.name}/labeled"),
            test=full.subset(test_idx).renamed(f"{self.name}/test"),
            validation=full.subset(validation_idx).renamed(f"{self.name}/validation") if len(validation_idx) else None,
        )

    def _split_held_out(self, n: int, origin: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted (test, validation, rest) indices, consecutive slices of one permutation that depends only
        on `split_seed` and `n`: the test set is the same with or without a validation set."""
        held_out = self.test_size + self.validation_size
        if held_out >= n:
            raise DataError(
                f"{origin}: only {n} labeled images, so dataset.test_size={self.test_size} and "
                f"dataset.validation_size={self.validation_size} leave none to train on; lower them."
            )
        order = np.random.default_rng([self.split_seed, _SPLIT_STREAM]).permutation(n)
        test, validation, rest = np.split(order, [self.test_size, held_out])
        return np.sort(test), np.sort(validation), np.sort(rest)
