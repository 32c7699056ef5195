"""Image data with dense labels: the procedural shapes set, the real face/horse sets (read from the shared
data directory, never copied), users' folders with every user-facing error, splits and resizing."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from synthlift.core.build import build
from synthlift.core.errors import ConfigError, DataError
from synthlift.data.image.celebamask import (
    CELEBAMASK_CLASSES,
    FACE_KEYPOINTS,
    FACE_MERGE_MAP,
    FACE_MERGED_CLASSES,
    CelebAMaskDataset,
)
from synthlift.data.image.examples import DenseExamples, SyntheticPool
from synthlift.data.image.folder import ImageFolderDataset
from synthlift.data.image.horse import HorseDataset
from synthlift.data.image.labels import DenseLabels, ImageSet, ImageSplit
from synthlift.data.image.shapes import (
    SHAPE_CLASSES,
    SHAPES_DEPTH_RANGE,
    SHAPES_FAR_DEPTH,
    ShapesDataset,
    make_shapes,
    make_shapes_with_instances,
)
from synthlift.data.image.transforms import resize_set, to_tensor_images, to_uint8_images
from tests.run_if import RunIf

SHAPES_ARGS = {
    "resolution": 32,
    "num_labeled": 10,
    "split_seed": 0,
    "seed": 0,
    "num_unlabeled": 60,
    "test_size": 20,
    "num_labeled_pool": 30,
    "max_shapes": 3,
}


def load_shapes(**overrides):
    return ShapesDataset(**{**SHAPES_ARGS, **overrides}).load()


def hashes(images: np.ndarray) -> set[str]:
    return {hashlib.sha1(image.tobytes()).hexdigest() for image in images}


# ---------------------------------------------------------------------------------------------------
# shapes


def test_shapes_deterministic_per_seed():
    a, b, c = make_shapes(20, seed=0), make_shapes(20, seed=0), make_shapes(20, seed=1)
    for x, y in ((a.images, b.images), (a.labels.masks, b.labels.masks), (a.labels.depth, b.labels.depth)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.labels.keypoints, b.labels.keypoints)
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.labels.masks, c.labels.masks)


@pytest.fixture(scope="module")
def shapes_with_instances():
    return make_shapes_with_instances(400, resolution=32, seed=7, max_shapes=3)


def test_shapes_labels_match_an_independent_painter(shapes_with_instances):
    """Repaint every scene far to near from the per-instance silhouettes: mask and depth must agree."""
    shapes, inst = shapes_with_instances
    labels = shapes.labels
    assert labels.tasks == ("seg", "keypoints", "depth")
    assert labels.class_names == list(SHAPE_CLASSES)
    for i in range(len(shapes)):
        mask = np.zeros((32, 32), np.int64)
        depth = np.full((32, 32), SHAPES_FAR_DEPTH, np.float32)
        used = np.flatnonzero(inst.types[i] > 0)
        assert 1 <= len(used) <= 3 and np.all(inst.types[i, len(used) :] == 0)
        for j in sorted(used, key=lambda j: -inst.depths[i, j]):
            mask[inst.masks[i, j]] = inst.types[i, j]
            depth[inst.masks[i, j]] = inst.depths[i, j]
        np.testing.assert_array_equal(labels.masks[i], mask)
        np.testing.assert_array_equal(labels.depth[i], depth)
    background = labels.masks == 0
    assert np.all(labels.depth[background] == SHAPES_FAR_DEPTH)
    lo, hi = SHAPES_DEPTH_RANGE
    assert np.all((labels.depth[~background] >= lo) & (labels.depth[~background] < hi))
    # Occlusion happens: pixels covered by two shapes, and hidden pixels of some shape.
    overlap = inst.masks.sum(axis=1) >= 2
    assert overlap.any(axis=(1, 2)).sum() > 20
    hidden = inst.masks & (inst.visible[:, None] != np.arange(3)[None, :, None, None])
    assert hidden.any()


def test_shapes_keypoints(shapes_with_instances):
    shapes, inst = shapes_with_instances
    kp, masks = shapes.labels.keypoints, shapes.labels.masks
    assert shapes.labels.keypoint_names == ["circle", "square", "triangle"]
    assert kp.shape == (len(shapes), 3, 3) and kp.dtype == np.float32
    assert np.all((kp[..., :2] >= 0) & (kp[..., :2] <= 31))
    n_occluded = 0
    for i in range(len(shapes)):
        for k, shape_type in enumerate((1, 2, 3)):
            x, y, visible = kp[i, k]
            slots = np.flatnonzero(inst.types[i] == shape_type)
            if not len(slots):
                assert (x, y, visible) == (0, 0, 0)
                continue
            nearest = slots[np.argmin(inst.depths[i, slots])]
            np.testing.assert_allclose((x, y), inst.centres[i, nearest], atol=1e-5)
            row, col = int(np.rint(y)), int(np.rint(x))
            assert visible == (inst.visible[i, row, col] == nearest)
            if visible:
                assert masks[i, row, col] == shape_type
            else:
                n_occluded += 1
    assert n_occluded > 5


def test_shapes_fast_and_varied():
    start = time.perf_counter()
    shapes = make_shapes(1000, resolution=32, seed=3)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"make_shapes(1000) took {elapsed:.1f} s"  # loose: the test machine is shared
    assert shapes.images.shape == (1000, 32, 32, 3) and shapes.images.dtype == np.uint8
    assert set(np.unique(shapes.labels.masks)) == {0, 1, 2, 3}
    assert len(hashes(shapes.images)) == 1000
    # Backgrounds are textured, not flat: most images have many distinct background colours.
    distinct = [
        len(np.unique(img[m == 0], axis=0)) for img, m in zip(shapes.images[:50], shapes.labels.masks[:50], strict=True)
    ]
    assert np.median(distinct) > 50


def test_shapes_at_64_px_are_the_same_scenes():
    small, large = make_shapes(30, resolution=32, seed=5), make_shapes(30, resolution=64, seed=5)
    assert large.images.shape == (30, 64, 64, 3) and large.labels.depth.shape == (30, 64, 64)
    kp_small, kp_large = small.labels.keypoints, large.labels.keypoints
    present = kp_small[..., 0] != 0
    np.testing.assert_allclose(kp_large[..., :2][present], (kp_small[..., :2][present] + 0.5) * 2 - 0.5, atol=1e-4)
    assert np.mean(large.labels.masks[:, ::2, ::2] == small.labels.masks) > 0.95


def test_shapes_split_sets_are_disjoint_and_seeded():
    split = load_shapes()
    assert (len(split.unlabeled), len(split.labeled), len(split.test)) == (60, 10, 20)
    assert split.unlabeled.labels is None
    assert split.labeled.labels.tasks == split.test.labels.tasks == ("seg", "keypoints", "depth")
    all_hashes = [hashes(s.images) for s in (split.unlabeled, split.labeled, split.test)]
    assert sum(map(len, all_hashes)) == len(set.union(*all_hashes)) == 90
    other = load_shapes(seed=1)
    np.testing.assert_array_equal(other.test.images, split.test.images)
    np.testing.assert_array_equal(other.unlabeled.images, split.unlabeled.images)
    assert hashes(other.labeled.images) != hashes(split.labeled.images)
    fewer = load_shapes(num_labeled=4)
    assert hashes(fewer.labeled.images) <= hashes(split.labeled.images)  # draws nest across sizes
    with pytest.raises(DataError, match=r"only 30 labeled images.*dataset\.num_labeled=31"):
        load_shapes(num_labeled=31)


def test_shapes_validation_set_is_new_scenes_and_leaves_the_others_as_they_were():
    split, with_validation = load_shapes(), load_shapes(validation_size=8)
    assert split.validation is None and len(with_validation.validation) == 8
    for name in ("unlabeled", "labeled", "test"):
        np.testing.assert_array_equal(getattr(with_validation, name).images, getattr(split, name).images)
    others = set.union(*(hashes(s.images) for s in (split.unlabeled, split.labeled, split.test)))
    assert not hashes(with_validation.validation.images) & others
    assert with_validation.validation.labels.tasks == split.test.labels.tasks


# ---------------------------------------------------------------------------------------------------
# Tensors, resizing, containers


def test_tensor_round_trip():
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    x = to_tensor_images(images)
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert x[0, 1, 2, 3].item() == pytest.approx(images[0, 2, 3, 1] / 127.5 - 1, abs=1e-6)
    np.testing.assert_array_equal(to_uint8_images(x), images)
    clamped = to_uint8_images(torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2))
    np.testing.assert_array_equal(clamped[0, 0, :, 0], [0, 255])


def test_resize_set_keeps_class_ids_and_scales_keypoints():
    shapes = make_shapes(40, resolution=64, seed=2)
    small = resize_set(shapes, 32)
    labels = small.labels
    assert small.images.shape == (40, 32, 32, 3) and small.images.dtype == np.uint8
    assert labels.masks.dtype == np.int64 and set(np.unique(labels.masks)) <= {0, 1, 2, 3}
    assert labels.depth.dtype == np.float32 and labels.depth.shape == (40, 32, 32)
    assert labels.depth.min() >= SHAPES_DEPTH_RANGE[0] and labels.depth.max() <= SHAPES_FAR_DEPTH
    kp, kp_small = shapes.labels.keypoints, labels.keypoints
    present = kp[..., 0] != 0
    np.testing.assert_allclose(kp_small[..., :2][present], (kp[..., :2][present] + 0.5) / 2 - 0.5, atol=1e-5)
    np.testing.assert_array_equal(kp_small[~present], 0)  # absent keypoints stay (0, 0, 0)
    np.testing.assert_array_equal(kp_small[..., 2], kp[..., 2])
    # Upsampling by 2 then downsampling returns the same masks (nearest neighbour is exact both ways).
    big = resize_set(small, 64)
    assert big.labels.masks.shape == (40, 64, 64)
    np.testing.assert_array_equal(resize_set(big, 32).labels.masks, labels.masks)
    assert resize_set(small, 32) is small


def test_containers_subset_tasks_and_validation():
    masks = np.zeros((3, 4, 4), np.int64)
    labels = DenseLabels(masks, None, None, ["bg", "fg"], [])
    assert labels.tasks == ("seg",)
    image_set = ImageSet(np.zeros((3, 4, 4, 3), np.uint8), labels, "toy")
    part = image_set.subset([2, 0])
    assert len(part) == 2 and part.labels.masks.shape == (2, 4, 4)
    assert not image_set.images.flags.writeable and masks.flags.writeable
    with pytest.raises(ValueError, match="mask ids"):
        DenseLabels(masks + 2, None, None, ["bg", "fg"], [])
    with pytest.raises(ValueError, match="keypoints must have shape"):
        DenseLabels(masks, np.zeros((3, 2, 3)), None, ["bg", "fg"], ["a"])
    with pytest.raises(ValueError, match="labels of shape"):
        ImageSet(np.zeros((2, 4, 4, 3), np.uint8), labels, "toy")


# ---------------------------------------------------------------------------------------------------
# Real data, read from the shared data directory


def load_celeba(data_dir, **overrides):
    root = str(data_dir / "images" / "celebamask_mini")
    args = {"root": root, "resolution": 32, "num_labeled": 50, "split_seed": 0, "seed": 0}
    return CelebAMaskDataset(**{**args, **overrides}).load(data_dir)


@pytest.fixture(scope="module")
def celeba(data_dir):
    return load_celeba(data_dir)


@RunIf(data=True)
def test_celebamask_sizes_and_no_leak(celeba):
    assert (len(celeba.test), len(celeba.labeled), len(celeba.unlabeled)) == (100, 50, 800 + 100 + 100)
    assert celeba.test.images.shape[1:] == (32, 32, 3)
    assert celeba.unlabeled.labels is None
    assert celeba.test.labels.class_names == list(CELEBAMASK_CLASSES)
    assert celeba.labeled.labels.tasks == ("seg", "keypoints")
    test_hashes = hashes(celeba.test.images)
    assert len(test_hashes) == 100
    assert not test_hashes & hashes(celeba.labeled.images)
    assert not test_hashes & hashes(celeba.unlabeled.images)
    assert hashes(celeba.labeled.images) <= hashes(celeba.unlabeled.images)


@RunIf(data=True)
def test_celebamask_seeds(data_dir, celeba):
    again = load_celeba(data_dir, seed=1, num_labeled=16)
    np.testing.assert_array_equal(again.test.images, celeba.test.images)  # the test set follows split_seed only
    assert len(again.labeled) == 16 and hashes(again.labeled.images) != hashes(celeba.labeled.images)
    with pytest.raises(DataError, match=r"only 800 labeled images.*dataset\.num_labeled=801"):
        load_celeba(data_dir, num_labeled=801)


@RunIf(data=True)
def test_celebamask_merged_classes(celeba):
    assert len(FACE_MERGE_MAP) == len(CELEBAMASK_CLASSES) == 19
    np.testing.assert_array_equal(np.unique(FACE_MERGE_MAP), np.arange(len(FACE_MERGED_CLASSES)))
    names = dict(zip(CELEBAMASK_CLASSES, (FACE_MERGED_CLASSES[i] for i in FACE_MERGE_MAP), strict=True))
    assert names["l_eye"] == names["r_eye"] == names["eye_g"] == "eyes"
    assert names["u_lip"] == names["mouth"] == "mouth" and names["hat"] == "hair" and names["ear_r"] == "ears"
    merge = CelebAMaskDataset.merged_classes
    assert merge.names == FACE_MERGED_CLASSES
    merged = merge.merge(celeba.test.labels.masks)
    assert merged.max() < 10 and merged.shape == (100, 32, 32)
    np.testing.assert_array_equal(merged, FACE_MERGE_MAP[celeba.test.labels.masks])
    as_tensor = merge.merge(torch.tensor(celeba.test.labels.masks))
    np.testing.assert_array_equal(as_tensor.numpy(), merged)


@RunIf(data=True)
def test_celebamask_derived_keypoints(celeba):
    labels = celeba.test.labels
    kp = labels.keypoints
    assert labels.keypoint_names == list(FACE_KEYPOINTS) and kp.shape == (100, 4, 3)
    assert kp[..., 2].mean() > 0.9
    vis = kp[..., 2] > 0
    eye_y = np.concatenate([kp[vis[:, 0], 0, 1], kp[vis[:, 1], 1, 1]]).mean()
    assert eye_y + 4 < kp[vis[:, 3], 3, 1].mean()  # eyes above the mouth
    assert kp[vis[:, 0], 0, 0].mean() > kp[vis[:, 1], 1, 0].mean()  # the person's left eye is on image right


@RunIf(data=True)
def test_celebamask_keypoints_are_part_centroids_at_native_size(data_dir):
    labels = load_celeba(data_dir, resolution=64).test.labels
    rows, cols = np.mgrid[0:64, 0:64]
    for k, parts in enumerate([(4,), (5,), (2,), (10, 11, 12)]):
        for mask, (x, y, visible) in zip(labels.masks, labels.keypoints[:, k], strict=True):
            part = np.isin(mask, parts)
            assert visible == part.any()
            if visible:
                np.testing.assert_allclose((x, y), (cols[part].mean(), rows[part].mean()), atol=1e-4)
            else:
                assert x == y == 0


@RunIf(data=True)
@pytest.mark.parametrize("num_labeled", [16, 50])
def test_horse(data_dir, num_labeled):
    root = str(data_dir / "images" / "weizmann_horse")
    split = HorseDataset(root=root, resolution=32, num_labeled=num_labeled, split_seed=0, seed=0).load(data_dir)
    assert HorseDataset.merged_classes is None
    assert (len(split.test), len(split.labeled), len(split.unlabeled)) == (50, num_labeled, 227)
    assert split.test.labels.class_names == ["background", "horse"]
    assert split.test.labels.tasks == ("seg",) and set(np.unique(split.test.labels.masks)) == {0, 1}
    test_hashes = hashes(split.test.images)
    assert not test_hashes & hashes(split.unlabeled.images) and not test_hashes & hashes(split.labeled.images)


# ---------------------------------------------------------------------------------------------------
# Users' folders (synthetic arrays only) and every error


def synthetic_pairs(n=12, size=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, classes, (n, size, size))


def write_png_folder(root, images, masks):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray(image).save(root / "images" / f"img{i:03d}.png")
        Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "masks" / f"img{i:03d}.png")
    return root


def load_folder(root, data_dir=None, **overrides):
    args = {"root": str(root), "resolution": 16, "num_labeled": 5, "split_seed": 0, "seed": 0, "test_size": 4}
    return ImageFolderDataset(**{**args, "class_names": ["bg", "a", "b"], **overrides}).load(data_dir)


def assert_split_reproduces(split, images, masks):
    """Every loaded image is one of the written ones with its own mask, and test is disjoint from training."""
    index = {hashlib.sha1(img.tobytes()).hexdigest(): i for i, img in enumerate(images)}
    for part in (split.labeled, split.test):
        for image, mask in zip(part.images, part.labels.masks, strict=True):
            np.testing.assert_array_equal(mask, masks[index[hashlib.sha1(image.tobytes()).hexdigest()]])
    assert (len(split.test), len(split.labeled), len(split.unlabeled)) == (4, 5, 8)
    assert not hashes(split.test.images) & hashes(split.unlabeled.images)


def test_png_folder(tmp_path):
    images, masks = synthetic_pairs()
    root = write_png_folder(tmp_path / "mine", images, masks)
    split = load_folder(root, class_names=OmegaConf.create(["bg", "a", "b"]))  # as hydra passes a list
    assert split.test.labels.class_names == ["bg", "a", "b"]
    assert_split_reproduces(split, images, masks)
    at_32 = load_folder(root, resolution=32)
    assert at_32.test.images.shape == (4, 32, 32, 3) and set(np.unique(at_32.test.labels.masks)) <= {0, 1, 2}


def test_folder_validation_set_is_held_out_beside_the_test_set(tmp_path):
    """The test set does not move when a validation set is asked for; the validation images are never
    labeled training images but stay in the (label-free) unlabeled pool, so the GAN's data is unchanged."""
    images, masks = synthetic_pairs()
    root = write_png_folder(tmp_path / "mine", images, masks)
    plain, split = load_folder(root), load_folder(root, validation_size=3)
    np.testing.assert_array_equal(split.test.images, plain.test.images)
    np.testing.assert_array_equal(split.unlabeled.images, plain.unlabeled.images)
    assert len(split.validation) == 3 and len(split.labeled) == 5 and plain.validation is None
    validation = hashes(split.validation.images)
    assert not validation & hashes(split.test.images) and not validation & hashes(split.labeled.images)
    assert validation <= hashes(split.unlabeled.images)
    for again in (load_folder(root, validation_size=3, seed=1), load_folder(root, validation_size=3, num_labeled=2)):
        np.testing.assert_array_equal(again.validation.images, split.validation.images)  # split_seed only
    with pytest.raises(DataError, match=r"dataset\.test_size=4 and dataset\.validation_size=8 leave none"):
        load_folder(root, validation_size=8)


def test_npz_folder(tmp_path):
    images, masks = synthetic_pairs()
    path = tmp_path / "mine.npz"
    np.savez(path, images=images, masks=masks.astype(np.uint8), class_names=np.array(["bg", "a", "b"]))
    split = load_folder(path, class_names=None)
    assert split.labeled.labels.class_names == ["bg", "a", "b"]
    assert_split_reproduces(split, images, masks)


def test_folder_data_errors(tmp_path):
    images, masks = synthetic_pairs()
    root = write_png_folder(tmp_path / "mine", images, masks)

    Image.fromarray(np.zeros((8, 16), np.uint8), mode="L").save(root / "masks" / "img003.png")
    with pytest.raises(DataError, match=r"img003\.png: mask size 8x16 \(HxW\) differs from the image size 16x16"):
        load_folder(root)

    Image.fromarray(np.full((16, 16), 7, np.uint8), mode="L").save(root / "masks" / "img003.png")
    with pytest.raises(DataError, match=r"img003\.png: mask label id 7 .* 3 classes"):
        load_folder(root)

    (root / "masks" / "img003.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"img003\.png: cannot read"):
        load_folder(root)

    (root / "masks" / "img003.png").unlink()
    with pytest.raises(DataError, match=r"img003\.png has no partner"):
        load_folder(root)

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "masks" / "img003.png")
    with pytest.raises(DataError, match=r"img003\.png: mask has mode RGB"):
        load_folder(root)
    Image.fromarray(masks[3].astype(np.uint8), mode="L").save(root / "masks" / "img003.png")

    with pytest.raises(DataError, match=r"only 8 labeled images are available .* dataset\.num_labeled=9"):
        load_folder(root, num_labeled=9)
    with pytest.raises(DataError, match=r"Data file not found: .*nowhere.*SYNTHLIFT_DATA_DIR"):
        load_folder(tmp_path / "nowhere", data_dir=tmp_path / "no_data_dir")


def test_npz_data_errors(tmp_path):
    images, masks = synthetic_pairs()
    path = tmp_path / "bad.npz"

    np.savez(path, images=images, masks=masks[:, :8])
    with pytest.raises(DataError, match=r"bad\.npz: images are 12 x 16x16 .* masks are 12 x 8x16"):
        load_folder(path)

    np.savez(path, images=images, masks=masks + 1)
    with pytest.raises(DataError, match=r"bad\.npz \(image \d+\): mask label id 3 .* 3 classes"):
        load_folder(path)

    np.savez(path, pictures=images, masks=masks)
    with pytest.raises(DataError, match=r"bad\.npz: no key 'images'"):
        load_folder(path)

    path.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"bad\.npz: cannot read"):
        load_folder(path)


def test_npz_without_class_names_names_the_key(tmp_path):
    images, masks = synthetic_pairs()
    np.savez(tmp_path / "bare.npz", images=images, masks=masks)
    with pytest.raises(ConfigError, match=r"dataset\.class_names is not set and .*bare\.npz has no 'class_names'"):
        load_folder(tmp_path / "bare.npz", class_names=None)


SHAPES_TARGET = "synthlift.data.image.shapes.ShapesDataset"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("num_labeled", 0, "an integer > 0"),
        ("resolution", 48, "one of 16, 32, 64, 128, 256"),
        ("test_size", 0, "an integer > 0"),
        ("validation_size", -1, "an integer >= 0"),
        ("split_seed", "x", "an integer >= 0"),
        ("max_shapes", 0, "an integer > 0"),
    ],
)
def test_config_errors_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=rf"dataset\.{key}={value!r} is invalid: expected {expected}"):
        build({"_target_": SHAPES_TARGET, **SHAPES_ARGS, key: value}, "dataset")


def test_unknown_key_is_refused_and_png_masks_need_class_names(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.colour is not a known key; .* max_shapes, name, num_labeled"):
        build({"_target_": SHAPES_TARGET, "colour": "red"}, "dataset")
    images, masks = synthetic_pairs()
    root = write_png_folder(tmp_path / "mine", images, masks)
    with pytest.raises(ConfigError, match=r"dataset\.class_names is not set: the PNG masks in .*mine carry no"):
        load_folder(root, class_names=None)


# ---------------------------------------------------------------------------------------------------
# Training examples and the synthetic pool the augmentation strategies draw from


def examples(n: int, first: int = 0, keypoints: bool = True) -> DenseExamples:
    images = torch.arange(first, first + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 4, 4)
    labels = {
        "masks": torch.full((n, 4, 4), first, dtype=torch.long),
        "keypoints": torch.zeros(n, 2, 3) if keypoints else None,
        "depth": None,
    }
    return DenseExamples(images, labels)


def test_dense_examples_concat_keeps_order_and_tasks():
    joined = examples(3).concat(examples(2, first=3))
    assert len(joined) == 5 and joined.tasks == ("masks", "keypoints")
    assert joined.images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert joined.labels["masks"][:, 0, 0].tolist() == [0, 0, 0, 3, 3] and joined.labels["depth"] is None
    with pytest.raises(ValueError, match="cannot join"):
        examples(3).concat(examples(2, keypoints=False))
    with pytest.raises(ValueError, match="2 masks labels for 3 images"):
        DenseExamples(torch.zeros(3, 3, 4, 4), {"masks": torch.zeros(2, 4, 4), "keypoints": None, "depth": None})


def test_synthetic_pool_draws_a_prefix_or_everything():
    pool = SyntheticPool(examples(5), torch.linspace(0, 1, 5))
    assert pool.draw(None, seed=0) is pool.examples
    drawn = pool.draw(2, seed=0)
    assert len(drawn) == 2 and drawn.images[:, 0, 0, 0].tolist() == [0, 1]
    with pytest.raises(DataError, match=r"augment\.ratio asks for 6 synthetic images but .* kept only 5"):
        pool.draw(6, seed=0)


def test_a_split_whose_test_images_are_trained_on_is_refused_naming_the_sets():
    """A folder holding one image twice could put it in the labeled draw and the test set at once."""
    split = ShapesDataset(name="shapes", num_unlabeled=20, test_size=10, num_labeled=4, validation_size=4).load()
    copied = ImageSet(np.concatenate([split.labeled.images[:1], split.test.images[1:]]), None, "shapes/test")
    with pytest.raises(
        DataError, match=r"would leak: 1 image\(s\) of the test set \(shapes/test\) are also in the labeled"
    ):
        ImageSplit(split.unlabeled, split.labeled, copied, split.validation)
    in_validation = ImageSet(np.concatenate([split.validation.images, split.labeled.images[:1]]), None, "shapes/val")
    with pytest.raises(DataError, match=r"of the validation set \(shapes/val\) are also in the labeled set"):
        ImageSplit(split.unlabeled, split.labeled, split.test, in_validation)
