"""Images with dense per-pixel labels for the HandsOff-style image track: a procedural `shapes` set with
exact segmentation, keypoint and depth labels, CelebAMask faces, Weizmann horses and users' own folders,
split into an unlabeled GAN pool, a scarce labeled set and a real held-out test set.

Conventions: images are uint8 (N, H, W, 3) RGB; keypoints are (x, y, visible) in pixel coordinates with
pixel (row r, column c) centred at (x=c, y=r), so the pixel holding a keypoint is (rint(y), rint(x)); an
absent keypoint is (0, 0, 0); depth grows with distance and background sits at the far plane.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue
from PIL import Image

from synthlift.errors import ConfigError, DataError
from synthlift.paths import require_data_file

logger = logging.getLogger(__name__)

TASKS = ("seg", "keypoints", "depth")
RESOLUTIONS = (16, 32, 64, 128, 256)
DATASETS = ("shapes", "celebamask", "horse", "folder")

# Separate random streams, so that split_seed == seed does not make the test split and the labeled draw
# share random numbers, and so that the three generated shapes sets never share an image.
_SPLIT_STREAM, _SAMPLE_STREAM = 0, 1
_SHAPES_UNLABELED_STREAM, _SHAPES_POOL_STREAM, _SHAPES_TEST_STREAM = 2, 3, 4

SHAPE_CLASSES = ("background", "circle", "square", "triangle")
SHAPE_KEYPOINTS = ("circle", "square", "triangle")
SHAPES_FAR_DEPTH = 1.0
SHAPES_DEPTH_RANGE = (0.2, 0.9)
_SHAPES_CHUNK = 256  # images drawn at once: bounds the (chunk, max_shapes, H, W) temporaries

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
FACE_MERGED_CLASSES = (
    "background",
    "skin",
    "nose",
    "eyes",
    "brows",
    "ears",
    "mouth",
    "hair",
    "neck",
    "cloth",
)
FACE_MERGE_MAP = np.array([0, 1, 2, 3, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 5, 8, 8, 9], dtype=np.int64)
FACE_MERGE_MAP.setflags(write=False)

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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


@dataclass(frozen=True)
class ImageSplit:
    """`unlabeled`: every image the GAN and encoder may train on (no labels attached, never a test image);
    `labeled`: exactly `num_labeled` labeled images, drawn with the run seed; `test`: real held-out
    labeled images fixed by `split_seed`, never trained on."""

    unlabeled: ImageSet
    labeled: ImageSet
    test: ImageSet


# ---------------------------------------------------------------------------------------------------
# Tensors and resizing


def to_tensor_images(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1], the range the generators produce."""
    x = torch.from_numpy(np.asarray(images).astype(np.float32))
    return (x.permute(0, 3, 1, 2) / 127.5 - 1.0).contiguous()


def to_uint8_images(images: torch.Tensor) -> np.ndarray:
    """Inverse of `to_tensor_images`; values outside [-1, 1] (generator overshoot) are clamped."""
    x = images.detach().float().cpu().clamp(-1.0, 1.0)
    return ((x + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _resize_smooth(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) float: area averaging when shrinking both sides, else bilinear (antialiased)."""
    if x.shape[-2:] == (size, size):
        return x
    if size <= min(x.shape[-2:]):
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _resize_images(images: np.ndarray, size: int) -> np.ndarray:
    x = torch.from_numpy(np.asarray(images).astype(np.float32)).permute(0, 3, 1, 2)
    x = _resize_smooth(x, size).round().clamp(0, 255)
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _resize_masks(masks: np.ndarray, size: int) -> np.ndarray:
    """Nearest neighbour, so that every output pixel is a class id of the input (never a blend)."""
    x = torch.from_numpy(np.asarray(masks).astype(np.float32))[:, None]
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="nearest-exact")
    return x[:, 0].round().to(torch.int64).numpy()


def _scale_keypoints(keypoints: np.ndarray, height: int, width: int, size: int) -> np.ndarray:
    """Map pixel-centre coordinates as `interpolate(align_corners=False)` maps pixels; absent stay (0,0,0)."""
    out = keypoints.astype(np.float32).copy()
    absent = (out[..., 2] == 0) & (out[..., 0] == 0) & (out[..., 1] == 0)
    out[..., 0] = (out[..., 0] + 0.5) * (size / width) - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * (size / height) - 0.5
    out[absent] = 0.0
    return out


def resize_set(image_set: ImageSet, resolution: int) -> ImageSet:
    """Resize images (smooth), masks (nearest), depth (smooth) and keypoints (scaled) to a square
    `resolution`; non-square inputs are stretched, as the horse data already is."""
    _, height, width, _ = image_set.images.shape
    if (height, width) == (resolution, resolution):
        return image_set
    labels = image_set.labels
    if labels is not None:
        depth = None
        if labels.depth is not None:
            depth = _resize_smooth(torch.from_numpy(labels.depth.astype(np.float32))[:, None], resolution)
            depth = depth[:, 0].numpy()
        keypoints = None
        if labels.keypoints is not None:
            keypoints = _scale_keypoints(labels.keypoints, height, width, resolution)
        labels = DenseLabels(
            _resize_masks(labels.masks, resolution),
            keypoints,
            depth,
            list(labels.class_names),
            list(labels.keypoint_names),
        )
    return ImageSet(_resize_images(image_set.images, resolution), labels, image_set.name)


# ---------------------------------------------------------------------------------------------------
# shapes: a procedural set whose labels are exact for every task


@dataclass(frozen=True, eq=False)
class ShapeInstances:
    """Every shape as placed, before occlusion, so tests can re-derive the labels independently.
    Slot j of image i is unused where `types[i, j] == 0` (then its depth is inf)."""

    types: np.ndarray  # int64 (N, S): class id 1..3, 0 = unused slot
    depths: np.ndarray  # float32 (N, S)
    centres: np.ndarray  # float32 (N, S, 2): (x, y) pixel coordinates
    masks: np.ndarray  # bool (N, S, H, W): the full silhouette of each shape
    visible: np.ndarray  # int64 (N, H, W): slot of the visible shape per pixel, -1 = background


def make_shapes(n: int, resolution: int = 32, seed: int | Sequence[int] = 0, max_shapes: int = 3) -> ImageSet:
    """`n` images of 1..`max_shapes` textured circles, squares and triangles on a textured background,
    with exact masks, depth and one keypoint per shape type (see `make_shapes_with_instances`)."""
    return make_shapes_with_instances(n, resolution, seed, max_shapes, keep_instances=False)[0]


def make_shapes_with_instances(
    n: int,
    resolution: int = 32,
    seed: int | Sequence[int] = 0,
    max_shapes: int = 3,
    keep_instances: bool = True,
) -> tuple[ImageSet, ShapeInstances | None]:
    """Shapes and (with `keep_instances`) the per-instance layout behind their labels.

    Each shape gets a depth in `SHAPES_DEPTH_RANGE`; per pixel the nearest covering shape is the visible
    one (a z-buffer: the same result as painting far to near), so masks, depth and keypoint visibility
    all agree. The keypoint of a type is the centre of its nearest instance, visible when that centre's
    pixel shows that very instance; an absent type gives (0, 0, 0). Geometry and colours come from their
    own random stream, in units of the image size, so one seed gives the same scenes at every resolution.
    """
    if n < 0 or max_shapes < 1 or resolution < 1:
        raise ValueError(f"need n >= 0, max_shapes >= 1, resolution >= 1; got {n}, {max_shapes}, {resolution}")
    geometry_seq, pixel_seq = np.random.SeedSequence(seed).spawn(2)
    geo, pixel_rng = np.random.default_rng(geometry_seq), np.random.default_rng(pixel_seq)
    params = _shape_params(geo, n, max_shapes)
    chunks = [
        _draw_shape_chunk({k: v[start : start + _SHAPES_CHUNK] for k, v in params.items()}, resolution, pixel_rng)
        for start in range(0, n, _SHAPES_CHUNK)
    ]
    if not chunks:  # n == 0: keep the shapes of the arrays right
        chunks = [_draw_shape_chunk({k: v[:0] for k, v in params.items()}, resolution, pixel_rng)]

    def cat(key: str) -> np.ndarray:
        return np.concatenate([c[key] for c in chunks])

    labels = DenseLabels(cat("masks"), cat("keypoints"), cat("depth"), list(SHAPE_CLASSES), list(SHAPE_KEYPOINTS))
    image_set = ImageSet(cat("images"), labels, "shapes")
    if not keep_instances:
        return image_set, None
    instances = ShapeInstances(
        types=params["types"],
        depths=params["depth"],
        centres=params["centre"] * resolution - 0.5,
        masks=cat("cover"),
        visible=cat("slot"),
    )
    return image_set, instances


def _shape_params(rng: np.random.Generator, n: int, slots: int) -> dict[str, np.ndarray]:
    """Everything random about a scene except per-pixel noise; lengths are fractions of the image size."""
    count = rng.integers(1, slots + 1, size=n)
    types = rng.integers(1, len(SHAPE_CLASSES), size=(n, slots))
    types[np.arange(slots)[None, :] >= count[:, None]] = 0
    depth = rng.uniform(*SHAPES_DEPTH_RANGE, size=(n, slots))
    depth[types == 0] = np.inf
    params = {
        "types": types,
        "depth": depth,
        "centre": rng.uniform(0.2, 0.8, size=(n, slots, 2)),
        "radius": rng.uniform(0.1, 0.28, size=(n, slots)),
        "angle": rng.uniform(0, 2 * np.pi, size=(n, slots)),
        "colour": rng.uniform(0, 1, size=(n, slots, 3)),
        "colour2": rng.uniform(0, 1, size=(n, slots, 3)),
        "texture": rng.integers(0, 3, size=(n, slots)),  # 0 solid, 1 stripes, 2 noise
        # Stripes as (period, angle, phase); the background's as (amplitude, period, angle, phase).
        "stripe": rng.uniform([0.08, 0, 0], [0.2, np.pi, 2 * np.pi], size=(n, slots, 3)),
        "noise_amp": rng.uniform(0.08, 0.2, size=(n, slots)),
        "bg": rng.uniform(0, 1, size=(n, 2, 3)),  # gradient end colours
        "bg_angle": rng.uniform(0, 2 * np.pi, size=n),
        "bg_stripe": rng.uniform([0, 0.15, 0, 0], [0.06, 0.4, np.pi, 2 * np.pi], size=(n, 4)),
        "bg_noise": rng.uniform(0, 0.05, size=n),
    }
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in params.items()}


def _draw_shape_chunk(p: dict[str, np.ndarray], size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, slots = p["types"].shape
    ys, xs = (g.astype(np.float32) for g in np.mgrid[0:size, 0:size])

    def per_image(v: np.ndarray) -> np.ndarray:  # (n,) -> (n, 1, 1) for broadcasting over pixels
        return v[:, None, None]

    # Background: a gradient, faint stripes and faint noise, so that "not a shape" is not a flat colour.
    a = p["bg_angle"]
    t = ((xs - size / 2) * per_image(np.cos(a)) + (ys - size / 2) * per_image(np.sin(a))) / size + 0.5
    t = np.clip(t, 0, 1)[..., None]
    bg = p["bg"][:, None, None, 0] * (1 - t) + p["bg"][:, None, None, 1] * t
    amp, period, angle, phase = (p["bg_stripe"][:, i] for i in range(4))
    wave = np.sin(
        2 * np.pi * (xs * per_image(np.cos(angle)) + ys * per_image(np.sin(angle))) / per_image(period * size)
        + per_image(phase)
    )
    bg = bg + (per_image(amp) * wave)[..., None]
    bg = bg + per_image(p["bg_noise"])[..., None] * rng.standard_normal((n, size, size, 1), dtype=np.float32)

    # Silhouettes, (n, slots, H, W); each used slot evaluates only its own type's test.
    centre = p["centre"] * size - 0.5
    cover = np.zeros((n, slots, size, size), dtype=bool)
    for shape_type in range(1, len(SHAPE_CLASSES)):
        i, j = np.nonzero(p["types"] == shape_type)
        dx, dy = xs - centre[i, j, 0, None, None], ys - centre[i, j, 1, None, None]
        r, ang = p["radius"][i, j, None, None] * size, p["angle"][i, j, None, None]
        if shape_type == 1:
            cover[i, j] = dx**2 + dy**2 <= r**2
        elif shape_type == 2:
            u, v = dx * np.cos(ang) + dy * np.sin(ang), dy * np.cos(ang) - dx * np.sin(ang)
            cover[i, j] = np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r
        else:  # equilateral, circumradius 1.2 r: inside each edge, which lies at the inradius 0.6 r
            inside = np.ones(dx.shape, dtype=bool)
            for k in range(3):
                vertex = ang + np.pi / 2 + 2 * np.pi * k / 3
                inside &= dx * np.cos(vertex) + dy * np.sin(vertex) >= -0.6 * r
            cover[i, j] = inside

    zbuf = np.where(cover, p["depth"][..., None, None], np.inf)
    nearest = zbuf.argmin(axis=1)
    shown = np.isfinite(zbuf.min(axis=1))
    slot = np.where(shown, nearest, -1)
    img_idx = np.arange(n)[:, None, None]
    masks = np.where(shown, p["types"][img_idx, nearest], 0)
    depth = np.where(shown, p["depth"][img_idx, nearest], SHAPES_FAR_DEPTH).astype(np.float32)

    # Shape colours, evaluated only for the visible slot of each pixel.
    colour = p["colour"][img_idx, nearest]
    texture = p["texture"][img_idx, nearest]
    period, angle, phase = (p["stripe"][..., i] for i in range(3))
    kx, ky = 2 * np.pi * np.cos(angle) / (period * size), 2 * np.pi * np.sin(angle) / (period * size)
    stripes = np.sin(xs * kx[img_idx, nearest] + ys * ky[img_idx, nearest] + phase[img_idx, nearest]) > 0
    colour = np.where(((texture == 1) & stripes)[..., None], p["colour2"][img_idx, nearest], colour)
    noise = p["noise_amp"][img_idx, nearest] * (texture == 2)
    colour = colour + noise[..., None] * rng.standard_normal((n, size, size, 3), dtype=np.float32)
    image = np.where(shown[..., None], colour, bg)
    images = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)

    # One keypoint per type: the centre of its nearest instance.
    keypoints = np.zeros((n, len(SHAPE_KEYPOINTS), 3), dtype=np.float32)
    rows = np.arange(n)
    for k in range(len(SHAPE_KEYPOINTS)):
        of_type = np.where(p["types"] == k + 1, p["depth"], np.inf)
        first = of_type.argmin(axis=1)
        present = np.isfinite(of_type.min(axis=1))
        x, y = centre[rows, first, 0], centre[rows, first, 1]
        px = np.clip(np.rint(x).astype(np.int64), 0, size - 1)
        py = np.clip(np.rint(y).astype(np.int64), 0, size - 1)
        visible = present & (slot[rows, py, px] == first)
        keypoints[:, k] = np.stack([np.where(present, x, 0), np.where(present, y, 0), visible], axis=1)
    return {
        "images": images,
        "masks": masks,
        "depth": depth,
        "keypoints": keypoints,
        "cover": cover,
        "slot": slot,
    }


# ---------------------------------------------------------------------------------------------------
# Config-driven loading


def load_image_dataset(cfg: Mapping[str, Any], data_dir: str | os.PathLike | None = None) -> ImageSplit:
    """Build the split `cfg` (a `conf/dataset` node) describes, at `cfg.resolution` pixels.

    The test set depends only on `split_seed` (and the data), so every run seed of a sweep is scored on
    the same images; the labeled set is drawn from the rest with `seed`, and for one seed the draw for a
    smaller `num_labeled` is a subset of the draw for a larger one. `data_dir` only explains a missing
    file (the paths in `cfg.root` are used as given).
    """
    name = str(_get(cfg, "name"))
    if name not in DATASETS:
        raise ConfigError(f"dataset.name={name!r} is not one of {list(DATASETS)}")
    resolution = _int(cfg, "resolution")
    if resolution not in RESOLUTIONS:
        raise ConfigError(f"dataset.resolution={resolution} must be one of {list(RESOLUTIONS)}")
    num_labeled = _int(cfg, "num_labeled", default=50, minimum=1)
    split_seed = _int(cfg, "split_seed", minimum=0)
    seed = _int(cfg, "seed", minimum=0)

    if name == "shapes":
        split = _load_shapes(cfg, resolution, num_labeled, split_seed, seed)
    else:
        labeled_set, extra_unlabeled, origin = _read_labeled_source(name, cfg, resolution, data_dir)
        default_test = {"celebamask": 100, "horse": 50}.get(name)
        test_size = _int(cfg, "test_size", default=default_test, minimum=1)
        test_idx, pool_idx = _split_test(len(labeled_set), test_size, split_seed, origin)
        labeled_idx = _draw_labeled(pool_idx, num_labeled, seed, origin)
        assert not np.intersect1d(labeled_idx, test_idx).size and len(labeled_idx) == num_labeled
        full = resize_set(labeled_set, resolution)
        unlabeled_images = [full.images[pool_idx]]
        unlabeled_images += [resize_set(extra, resolution).images for extra in extra_unlabeled]
        split = ImageSplit(
            unlabeled=ImageSet(np.concatenate(unlabeled_images), None, f"{name}/unlabeled"),
            labeled=_renamed(full.subset(labeled_idx), f"{name}/labeled"),
            test=_renamed(full.subset(test_idx), f"{name}/test"),
        )
    logger.info(
        "Loaded %s at %d px: %d unlabeled, %d labeled (seed %d), %d test (split_seed %d); tasks %s",
        name,
        resolution,
        len(split.unlabeled),
        len(split.labeled),
        seed,
        len(split.test),
        split_seed,
        split.test.labels.tasks if split.test.labels is not None else (),
    )
    return split


def _renamed(image_set: ImageSet, name: str) -> ImageSet:
    return ImageSet(image_set.images, image_set.labels, name)


def _get(cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """`cfg[key]`, else `default`; a key that is unset with no default is a ConfigError naming it."""
    try:
        value = cfg[key]
    except (KeyError, MissingMandatoryValue):
        value = None
    if value is None:
        if default is None:
            raise ConfigError(f"dataset.{key} is not set")
        return default
    return value


def _int(cfg: Mapping[str, Any], key: str, default: int | None = None, minimum: int | None = None) -> int:
    value = _get(cfg, key, default)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"dataset.{key}={value!r} must be an integer")
    if minimum is not None and value < minimum:
        raise ConfigError(f"dataset.{key}={value} must be >= {minimum}")
    return int(value)


def _split_test(n: int, test_size: int, split_seed: int, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (test, rest) indices; the test draw depends only on `split_seed` and `n`."""
    if test_size >= n:
        raise DataError(
            f"{origin}: only {n} labeled images, so dataset.test_size={test_size} leaves none to train on; "
            f"lower dataset.test_size."
        )
    order = np.random.default_rng([split_seed, _SPLIT_STREAM]).permutation(n)
    return np.sort(order[:test_size]), np.sort(order[test_size:])


def _draw_labeled(pool: np.ndarray, num_labeled: int, seed: int, origin: str) -> np.ndarray:
    """`num_labeled` sorted indices from `pool`: a prefix of one seeded permutation, so draws nest."""
    if len(pool) < num_labeled:
        raise DataError(
            f"{origin}: only {len(pool)} labeled images are available for training (after holding out the "
            f"test set), fewer than dataset.num_labeled={num_labeled}. Lower dataset.num_labeled or "
            f"dataset.test_size."
        )
    return np.sort(np.random.default_rng([seed, _SAMPLE_STREAM]).permutation(pool)[:num_labeled])


def _load_shapes(cfg: Mapping[str, Any], resolution: int, num_labeled: int, split_seed: int, seed: int) -> ImageSplit:
    """Three independently generated sets (distinct streams of `split_seed`), so no image repeats
    across them and the unlabeled pool and test set do not change with the run seed."""
    max_shapes = _int(cfg, "max_shapes", minimum=1)

    def generate(key: str, stream: int) -> ImageSet:
        n = _int(cfg, key, minimum=1)
        return make_shapes(n, resolution, seed=[split_seed, stream], max_shapes=max_shapes)

    unlabeled = generate("num_unlabeled", _SHAPES_UNLABELED_STREAM)
    pool = generate("num_labeled_pool", _SHAPES_POOL_STREAM)
    test = generate("test_size", _SHAPES_TEST_STREAM)
    labeled_idx = _draw_labeled(np.arange(len(pool)), num_labeled, seed, "shapes (dataset.num_labeled_pool)")
    assert len(labeled_idx) == num_labeled
    return ImageSplit(
        unlabeled=ImageSet(unlabeled.images, None, "shapes/unlabeled"),
        labeled=_renamed(pool.subset(labeled_idx), "shapes/labeled"),
        test=_renamed(test, "shapes/test"),
    )


def _read_labeled_source(
    name: str, cfg: Mapping[str, Any], resolution: int, data_dir: str | os.PathLike | None
) -> tuple[ImageSet, list[ImageSet], str]:
    """(labeled images, image-only sets that join the unlabeled pool, origin for messages); sizes may
    still differ from `resolution` except for PNG folders, whose images are resized one by one."""
    root = require_data_file(Path(str(_get(cfg, "root"))).expanduser(), data_dir)
    if name == "celebamask":
        return _read_celebamask(root, data_dir)
    if name == "horse":
        path = require_data_file(root / "train.npz", data_dir)
        return _read_labeled_npz(path, None), [], str(path)
    class_names = _get(cfg, "class_names", default=[])
    if isinstance(class_names, DictConfig | ListConfig):
        class_names = OmegaConf.to_container(class_names, resolve=True)
    class_names = [str(c) for c in class_names] or None
    if root.suffix.lower() == ".npz":
        return _read_labeled_npz(root, class_names), [], str(root)
    if class_names is None:
        raise ConfigError(f"dataset.class_names is not set: the PNG masks in {root} carry no class names")
    return _read_png_folder(root, class_names, resolution), [], str(root)


def _load_npz(path: Path, keys: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The arrays under `keys` (each must exist) and under those of `optional` that exist."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(f"{path}: no key {missing[0]!r} in the archive; its keys are {archive.files}")
            return {k: archive[k] for k in [*keys, *optional] if k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as a NumPy .npz archive: {exc}") from exc


def _check_images(images: np.ndarray, origin: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(f"{origin}: images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")


def _check_ids(masks: np.ndarray, origin: str, class_names: list[str]) -> None:
    bad = (masks < 0) | (masks >= len(class_names))
    if bad.any():
        where = np.argwhere(bad)[0]
        item = f" (image {where[0]})" if masks.ndim == 3 else ""
        raise DataError(
            f"{origin}{item}: mask label id {int(masks[tuple(where)])} is outside 0..{len(class_names) - 1}: "
            f"there are {len(class_names)} classes {class_names}."
        )


def _read_labeled_npz(path: Path, class_names: list[str] | None) -> ImageSet:
    """An .npz with `images` (N,H,W,3) uint8 and `masks` (N,H,W); class names from config or the file."""
    arrays = _load_npz(path, ("images", "masks"), optional=("class_names",))
    images, masks = arrays["images"], arrays["masks"]
    if class_names is None:
        if "class_names" not in arrays:
            raise ConfigError(f"dataset.class_names is not set and {path} has no 'class_names' key")
        class_names = [str(c) for c in arrays["class_names"]]
    _check_images(images, str(path))
    if masks.ndim != 3 or not np.issubdtype(masks.dtype, np.integer):
        raise DataError(f"{path}: masks must be integer class ids (N, H, W), got {masks.dtype} {masks.shape}")
    if images.shape[:3] != masks.shape:
        raise DataError(
            f"{path}: images are {images.shape[0]} x {images.shape[1]}x{images.shape[2]} (N x HxW) but masks "
            f"are {masks.shape[0]} x {masks.shape[1]}x{masks.shape[2]}; each mask must match its image."
        )
    _check_ids(masks, str(path), class_names)
    return ImageSet(images, DenseLabels(masks, None, None, class_names, []), path.stem)


def _read_celebamask(root: Path, data_dir: str | os.PathLike | None) -> tuple[ImageSet, list[ImageSet], str]:
    """train.npz is the labeled source; unlabeled.npz and test_public.npz only add GAN/encoder images.

    Keypoints are derived from the part masks at native resolution: the centroids of l_eye, r_eye, nose
    and the whole mouth (mouth + u_lip + l_lip), visible when the part has at least one pixel.
    """
    train_path = require_data_file(root / "train.npz", data_dir)
    train = _read_labeled_npz(train_path, None)
    labels = train.labels
    assert labels is not None
    if labels.class_names != list(CELEBAMASK_CLASSES):
        raise DataError(
            f"{train_path}: class_names {labels.class_names} are not the CelebAMask-HQ order "
            f"{list(CELEBAMASK_CLASSES)}, on which the derived keypoints and FACE_MERGE_MAP rely."
        )
    keypoints = _face_keypoints(labels.masks)
    labels = DenseLabels(labels.masks, keypoints, None, labels.class_names, list(FACE_KEYPOINTS))
    extra = []
    for file in ("unlabeled.npz", "test_public.npz"):
        path = require_data_file(root / file, data_dir)
        images = _load_npz(path, ("images",))["images"]
        _check_images(images, str(path))
        extra.append(ImageSet(images, None, path.stem))
    return ImageSet(train.images, labels, "celebamask"), extra, str(train_path)


def _face_keypoints(masks: np.ndarray) -> np.ndarray:
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


def merge_face_classes(masks: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """CelebAMask-HQ ids (19 classes) -> the merged `FACE_MERGED_CLASSES` ids (10), via `FACE_MERGE_MAP`."""
    if isinstance(masks, torch.Tensor):
        return torch.tensor(FACE_MERGE_MAP, device=masks.device)[masks.long()]
    return FACE_MERGE_MAP[np.asarray(masks, dtype=np.int64)]


def _read_png_folder(root: Path, class_names: list[str], resolution: int) -> ImageSet:
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
        pairs.append(resize_set(ImageSet(image[None], labels, stem), resolution))
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
    _check_ids(mask, str(mask_path), class_names)
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


def keypoint_heatmaps(keypoints: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """(N,K,3) rows (x, y, visible) -> (N,K,H,W) Gaussians of std `sigma` pixels, peak 1 at the keypoint,
    all zero for invisible keypoints."""
    ys = torch.arange(height, device=keypoints.device, dtype=keypoints.dtype).view(1, 1, height, 1)
    xs = torch.arange(width, device=keypoints.device, dtype=keypoints.dtype).view(1, 1, 1, width)
    x, y, visible = (keypoints[..., i, None, None] for i in range(3))
    gauss = torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return gauss * (visible > 0)
