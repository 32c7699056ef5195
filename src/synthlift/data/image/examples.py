"""Training examples of the image track, in the form the augmentation strategies combine (`Examples` and
`SyntheticSource` of `synthlift.augment.base`) and the dense downstream models fit."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from synthlift.core.errors import DataError
from synthlift.data.image.labels import ImageSet
from synthlift.data.image.transforms import to_tensor_images

LABEL_KEYS = ("masks", "keypoints", "depth")


@dataclass(frozen=True, eq=False)
class DenseExamples:
    """Images (N, 3, H, W) in [-1, 1] with their label tensors: `masks` (N, H, W) class ids, `keypoints`
    (N, K, 3) or `depth` (N, H, W); a task the dataset lacks is None."""

    images: Tensor
    labels: dict[str, Tensor | None]

    def __post_init__(self) -> None:
        if set(self.labels) != set(LABEL_KEYS):
            raise ValueError(
                f"labels must have the keys {LABEL_KEYS} (None for a missing task), got {sorted(self.labels)}"
            )
        for key, value in self.labels.items():
            if value is not None and len(value) != len(self.images):
                raise ValueError(f"{len(value)} {key} labels for {len(self.images)} images")

    @classmethod
    def from_image_set(cls, image_set: ImageSet) -> DenseExamples:
        labels = image_set.labels
        if labels is None:
            raise ValueError(f"{image_set.name} has no labels")

        def as_tensor(array, dtype: torch.dtype) -> Tensor | None:
            return None if array is None else torch.tensor(array, dtype=dtype)

        return cls(
            to_tensor_images(image_set.images),
            {
                "masks": as_tensor(labels.masks, torch.long),
                "keypoints": as_tensor(labels.keypoints, torch.float32),
                "depth": as_tensor(labels.depth, torch.float32),
            },
        )

    def __len__(self) -> int:
        return len(self.images)

    def concat(self, other: DenseExamples) -> DenseExamples:
        """These examples followed by `other`'s; both must label the same tasks."""
        tasks, other_tasks = self.tasks, other.tasks
        if tasks != other_tasks:
            raise ValueError(f"cannot join examples labeled for {tasks} with examples labeled for {other_tasks}")
        labels = {k: None if v is None else torch.cat([v, other.labels[k]]) for k, v in self.labels.items()}
        return DenseExamples(torch.cat([self.images, other.images]), labels)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The label keys present, in `LABEL_KEYS` order."""
        return tuple(key for key in LABEL_KEYS if self.labels[key] is not None)


@dataclass(frozen=True, eq=False)
class SyntheticPool:
    """The synthetic labeled images a generation stage kept (after the uncertainty filter), with each
    one's `uncertainty`; the strategies draw from it in order, so a draw is a prefix of the pool."""

    examples: DenseExamples
    uncertainty: Tensor

    def __len__(self) -> int:
        return len(self.examples)

    def draw(self, count: int | None, seed: int) -> DenseExamples:
        """`count` images (the pool is already in random order, so `seed` is not needed); None = all."""
        if count is None or count == len(self):
            return self.examples
        if count > len(self):
            raise DataError(
                f"augment.ratio asks for {count} synthetic images but the generation stage kept only {len(self)}: "
                f"raise num_synthetic, lower augment.ratio, or set it to null for every kept image"
            )
        return DenseExamples(
            self.examples.images[:count],
            {k: None if v is None else v[:count] for k, v in self.examples.labels.items()},
        )
