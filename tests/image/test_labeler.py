"""The HandsOff pixel labeler on tiny generators whose features encode known labels: a GAN-like one and one
that is no GAN at all (it only offers `random_latents` and `sample_with_features`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from benchmarks.image import measure_peak_training_memory
from torch import Tensor, nn

from synthlift.core.build import build
from synthlift.core.errors import ConfigError, DataError
from synthlift.data.image.transforms import keypoint_heatmaps
from synthlift.generators.image.base import GANGenerator, ImageGenerator
from synthlift.labeler.cross_validation import cross_validate_labeler
from synthlift.labeler.ensemble import (
    PixelLabeler,
    ensemble_js_divergence,
    filter_uncertain,
    label_images,
    train_labeler,
)
from synthlift.labeler.handsoff import HandsOffLabeler
from synthlift.labeler.hypercolumns import SelectedBlocks, hypercolumns, iter_hypercolumn_chunks


class TinyGenerator(GANGenerator):
    """A coarse map carrying a projection of w (plus a small fixed pattern), a fine map of coordinates.

    Every pixel's hypercolumn therefore holds w and its own (x, y): labels defined from both are learnable.
    """

    def __init__(self, w_dim: int = 4, resolution: int = 16, coarse_channels: int = 8):
        super().__init__()
        self.z_dim = self.w_dim = w_dim
        self.resolution = resolution
        self.feature_channels = [coarse_channels, 4]
        gen = torch.Generator().manual_seed(0)
        self.proj = nn.Linear(w_dim, coarse_channels)
        nn.init.normal_(self.proj.weight, generator=gen)
        nn.init.zeros_(self.proj.bias)
        half = resolution // 2
        self.register_buffer("pattern", 0.1 * torch.randn(coarse_channels, half, half, generator=gen))
        grid = (torch.arange(resolution) + 0.5) / resolution * 2 - 1
        ys, xs = torch.meshgrid(grid, grid, indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys, xs * ys, xs**2 - ys**2]))

    def mapping(self, z: Tensor) -> Tensor:
        return z

    def synthesis(self, w: Tensor, return_features: bool = False):
        coarse = self.proj(w)[:, :, None, None] + self.pattern
        fine = self.coords.expand(len(w), -1, -1, -1)
        image = torch.tanh(fine[:, :3] + coarse[:, :3].mean((2, 3), keepdim=True))
        return (image, [coarse, fine]) if return_features else image


def true_masks(generator: TinyGenerator, w: Tensor) -> Tensor:
    """3 classes split by a vertical line at x = tanh(w0) * 0.7 and a horizontal one at y = tanh(w1) * 0.7."""
    xs, ys = generator.coords[0], generator.coords[1]
    right = xs > torch.tanh(w[:, 0, None, None]) * 0.7
    below = ys > torch.tanh(w[:, 1, None, None]) * 0.7
    return right.long() + (right & below).long()


@pytest.fixture(scope="module")
def generator() -> TinyGenerator:
    torch.manual_seed(0)
    return TinyGenerator().eval()


def latents(n: int, seed: int, w_dim: int = 4) -> Tensor:
    return torch.randn(n, w_dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", [4, 12, 32])
def test_hypercolumns_are_resized_feature_maps(generator, size):
    w = latents(3, 0)
    hc = hypercolumns(generator, w, size)
    assert hc.shape == (3, sum(generator.feature_channels), size, size)
    _, features = generator.synthesis(w, return_features=True)
    offset = 0
    for feature in features:
        expected = F.interpolate(feature, size=(size, size), mode="bilinear", align_corners=False)
        torch.testing.assert_close(hc[:, offset : offset + feature.shape[1]], expected)
        offset += feature.shape[1]


def test_pixel_batches_cover_every_pixel_once_with_matching_targets(generator):
    n, size, sigma = 5, 8, 1.5
    w = latents(n, 1)
    # depth encodes (image, row, column), so every yielded pixel can be traced back to where it came from
    pixel_id = torch.arange(n * size * size, dtype=torch.float32).view(n, size, size)
    keypoints = torch.tensor([[2.0, 5.0, 1.0], [6.0, 1.0, 0.0]]).expand(n, -1, -1).clone()
    targets = {"depth": pixel_id, "keypoints": keypoints, "seg": true_masks(generator, w)[:, ::2, ::2]}
    hc = hypercolumns(generator, w, size)
    heat = keypoint_heatmaps(keypoints, size, size, sigma)
    seen = []
    chunks = iter_hypercolumn_chunks(
        generator, w, targets, images_per_chunk=2, size=size, heatmap_sigma=sigma, rng=torch.Generator().manual_seed(0)
    )
    for features, pixel_targets in chunks:
        assert len(features) <= 2 * size * size  # never more than one chunk of images at a time
        ids = pixel_targets["depth"].long()
        i, y, x = ids // (size * size), ids // size % size, ids % size
        torch.testing.assert_close(features, hc[i, :, y, x])
        torch.testing.assert_close(pixel_targets["keypoints"], heat[i, :, y, x])
        assert torch.equal(pixel_targets["seg"], targets["seg"][i, y, x])
        seen.append(ids)
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(n * size * size))
    assert heat[0, 0, 5, 2] == 1 and heat[:, 1].abs().max() == 0  # peak at (x=2, y=5); invisible -> 0


def test_selected_blocks_keep_only_their_feature_maps(generator):
    w = latents(3, 0)
    full = hypercolumns(generator, w, 8)
    finest = SelectedBlocks(generator, [-1])
    assert finest.hypercolumn_dim == generator.feature_channels[-1] == 4
    torch.testing.assert_close(hypercolumns(finest, w, 8), full[:, -4:])
    assert torch.equal(finest.random_latents(2, seed=1), generator.random_latents(2, seed=1))
    with pytest.raises(ConfigError, match=r"feature_blocks=\[2\] is invalid"):
        SelectedBlocks(generator, [2])


def test_pixels_per_image_draws_that_many_distinct_pixels_of_every_image(generator):
    n, size, per_image = 5, 8, 10
    w = latents(n, 1)
    pixel_id = torch.arange(n * size * size, dtype=torch.float32).view(n, size, size)
    hc = hypercolumns(generator, w, size)
    chunks = iter_hypercolumn_chunks(
        generator,
        w,
        {"depth": pixel_id},
        images_per_chunk=2,
        size=size,
        heatmap_sigma=1.0,
        rng=torch.Generator().manual_seed(0),
        pixels_per_image=per_image,
    )
    seen = []
    for features, pixel_targets in chunks:
        ids = pixel_targets["depth"].long()
        i, y, x = ids // (size * size), ids // size % size, ids % size
        torch.testing.assert_close(features, hc[i, :, y, x])  # features and targets stay aligned
        seen.append(ids)
    ids = torch.cat(seen)
    assert len(ids) == n * per_image and len(ids.unique()) == len(ids)
    assert torch.equal(torch.bincount(ids // (size * size)), torch.full((n,), per_image))


def test_mismatched_targets_are_rejected(generator):
    w = latents(4, 0)
    labeler = PixelLabeler(generator.hypercolumn_dim, num_classes=2, num_members=1)
    with pytest.raises(DataError):  # 3 masks for 4 latents
        train_labeler(labeler, generator, w, {"seg": torch.zeros(3, 8, 8, dtype=torch.long)}, epochs=1)
    with pytest.raises(ConfigError):  # a task the labeler has no head for
        train_labeler(labeler, generator, w, {"normals": torch.zeros(4, 8, 8)}, epochs=1)
    with pytest.raises(ConfigError):
        train_labeler(labeler, generator, w, {"depth": torch.zeros(4, 8, 8)}, epochs=1)


def test_js_divergence_zero_on_agreement_positive_on_disagreement():
    p = torch.tensor([0.7, 0.2, 0.1])
    assert ensemble_js_divergence(p.expand(4, 5, 3)).abs().max() < 1e-6
    disagree = torch.stack([p, p.flip(0)])
    assert ensemble_js_divergence(disagree) > 0.1
    certain_split = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two confident members, opposite classes
    torch.testing.assert_close(ensemble_js_divergence(certain_split), torch.log(torch.tensor(2.0)))


def test_label_images_identical_members_have_zero_uncertainty(generator):
    labeler = PixelLabeler(generator.hypercolumn_dim, num_classes=3, num_keypoints=2, depth=True, num_members=3)
    for member in labeler.members[1:]:
        member.load_state_dict(labeler.members[0].state_dict())
    w = latents(5, 2)
    labels = label_images(labeler, generator, w, size=12, batch_size=2)
    assert labels["images"].shape == (5, 3, 12, 12)
    assert labels["seg"].shape == (5, 12, 12) and labels["seg"].dtype == torch.long
    assert labels["keypoints"].shape == (5, 2, 3) and labels["depth"].shape == (5, 12, 12)
    assert labels["uncertainty"].abs().max() < 1e-6
    # images come from the same synthesis pass as the labels (native resolution: no resize)
    native = label_images(labeler, generator, w, batch_size=2)
    torch.testing.assert_close(native["images"], generator.synthesis(w))


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.7])
def test_filter_drops_the_most_uncertain(fraction):
    uncertainty = torch.tensor([0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.4])
    labels = {"uncertainty": uncertainty, "seg": torch.arange(8)[:, None, None].expand(8, 2, 2)}
    kept, index = filter_uncertain(labels, fraction)
    n_drop = round(fraction * 8)
    assert len(index) == 8 - n_drop
    assert torch.equal(index, index.sort().values)
    if n_drop:
        assert kept["uncertainty"].max() < uncertainty.sort(descending=True).values[n_drop - 1]
    assert torch.equal(kept["seg"][:, 0, 0], index)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_filter_fraction_out_of_range(fraction):
    with pytest.raises(ConfigError):
        filter_uncertain({"uncertainty": torch.zeros(4)}, fraction)


def test_labeler_learns_a_known_segmentation(generator):
    w_train, w_test = latents(24, 10), latents(16, 11)
    targets = {"seg": true_masks(generator, w_train)}
    labeler = PixelLabeler.for_targets(generator.hypercolumn_dim, targets, num_members=3, seed=1)
    history = train_labeler(
        labeler, generator, w_train, targets, epochs=15, lr=3e-3, images_per_chunk=8, pixels_per_batch=512
    )
    assert history[-1]["seg"] < history[0]["seg"]
    labels = label_images(labeler, generator, w_test)
    accuracy = (labels["seg"] == true_masks(generator, w_test)).float().mean()
    assert accuracy > 0.9, accuracy


def test_keypoint_and_depth_heads_learn(generator):
    w = latents(16, 3)
    keypoints = torch.tensor([[5.0, 9.0, 1.0], [3.0, 3.0, 0.0]]).expand(16, -1, -1).clone()
    targets = {"keypoints": keypoints, "depth": generator.coords[0].expand(16, -1, -1)}
    labeler = PixelLabeler.for_targets(generator.hypercolumn_dim, targets, num_members=2)
    train_labeler(
        labeler,
        generator,
        w,
        targets,
        epochs=30,
        lr=3e-3,
        images_per_chunk=8,
        pixels_per_batch=512,
        heatmap_sigma=2.0,
        loss_weights={"keypoints": 10.0},
    )
    # MSE heatmaps under-shoot their peak of 1; invisible keypoints stay below 0.1 here
    labels = label_images(labeler, generator, latents(4, 4), keypoint_threshold=0.2)
    assert (labels["depth"] - generator.coords[0]).abs().mean() < 0.15
    assert (labels["keypoints"][:, 0, :2] - torch.tensor([5.0, 9.0])).abs().max() <= 1
    assert torch.equal(labels["keypoints"][:, :, 2], torch.tensor([1.0, 0.0]).expand(4, -1))
    assert labels["uncertainty"].shape == (4,)


def test_cross_validation_separates_good_and_bad_labelers(generator):
    w = latents(8, 5)
    kwargs = dict(num_folds=4, num_members=2, epochs=10, lr=3e-3, pixels_per_batch=512)
    good = cross_validate_labeler(generator, w, {"seg": true_masks(generator, w)}, **kwargs)
    noise = torch.randint(3, (8, 16, 16), generator=torch.Generator().manual_seed(0))
    bad = cross_validate_labeler(generator, w, {"seg": noise}, **kwargs)
    assert good["num_folds"] == 4 and sum(f["num_images"] for f in good["folds"]) == 8
    # 6 training images per fold: far from perfect, but far above the unlearnable masks (chance = 1/3)
    assert good["pixel_accuracy"] > 0.7 and good["miou"] > 0.5
    assert bad["pixel_accuracy"] < 0.45 and bad["miou"] < 0.3


@pytest.mark.parametrize("options", [{}, {"pixels_per_image": 64, "feature_blocks": [0]}])
def test_training_peak_memory_does_not_grow_with_labeled_images(options):
    """Also with the labeler options on: a sample of pixels per image, one block of hypercolumns."""
    generator = TinyGenerator(coarse_channels=60)  # D = 64: the hypercolumn table dominates memory
    if "feature_blocks" in options:
        generator = SelectedBlocks(generator, options["feature_blocks"])
    settings = dict(pixels_per_batch=256, num_members=2, hidden=(32, 16), epochs=1)
    settings["pixels_per_image"] = options.get("pixels_per_image")
    streamed = {n: measure_peak_training_memory(generator, n, images_per_chunk=4, **settings) for n in (8, 32)}
    naive = {n: measure_peak_training_memory(generator, n, images_per_chunk=n, **settings) for n in (8, 32)}
    chunk_table = 4 * generator.hypercolumn_dim * 16 * 16 * 4  # one chunk's hypercolumns: real tensors are seen
    assert streamed[8] >= chunk_table
    assert streamed[32] < 1.25 * streamed[8], streamed
    assert naive[32] > 2.5 * naive[8], naive  # the same measurement does see a materialised table grow


class HalfPlaneGenerator(ImageGenerator):
    """No GAN: a latent is (angle, offset) of a line; the coarse feature map carries the latent, the fine one
    each pixel's coordinates, and the image is the half-plane the line cuts. No mapping, no synthesis, no
    parameters, registered nowhere: it plugs into the labeler through `ImageGenerator` alone."""

    def __init__(self, resolution: int = 12):
        super().__init__()
        self.resolution = resolution
        self.feature_channels = [4, 2]
        grid = (torch.arange(resolution) + 0.5) / resolution * 2 - 1
        ys, xs = torch.meshgrid(grid, grid, indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys]))

    def random_latents(self, n: int, seed: int) -> Tensor:
        draw = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed))
        return torch.stack([draw[:, 0] * 2 * torch.pi, draw[:, 1] - 0.5], dim=1)

    def masks(self, latents: Tensor) -> Tensor:
        angle, offset = latents[:, 0, None, None], latents[:, 1, None, None]
        return (self.coords[0] * torch.cos(angle) + self.coords[1] * torch.sin(angle) > offset).long()

    def sample_with_features(self, latents: Tensor) -> tuple[Tensor, list[Tensor]]:
        angle, offset = latents[:, 0], latents[:, 1]
        code = torch.stack([torch.cos(angle), torch.sin(angle), offset, torch.ones_like(offset)], dim=1)
        coarse = code[:, :, None, None].expand(-1, -1, self.resolution // 2, self.resolution // 2)
        fine = self.coords.expand(len(latents), -1, -1, -1)
        image = self.masks(latents)[:, None].float().expand(-1, 3, -1, -1) * 2 - 1
        return image, [coarse, fine]


def test_a_non_gan_generator_works_with_the_labeler_stage():
    generator = HalfPlaneGenerator()
    labeler_stage = HandsOffLabeler(
        num_members=2, hidden=(64, 16), epochs=25, lr=3e-3, cv_folds=2, uncertainty_filter=0.25
    )
    latents = generator.random_latents(16, seed=0)
    targets = {"seg": generator.masks(latents)}
    labeler = labeler_stage.fit(generator, latents, targets, num_classes=2, seed=0)
    cv = labeler_stage.cross_validate(generator, latents, targets, num_classes=2, seed=0)
    assert set(cv) == {"labeler_cv_pixel_acc", "labeler_cv_miou"} and cv["labeler_cv_pixel_acc"] > 0.6

    fresh = generator.random_latents(8, seed=1)
    labeled, kept = labeler_stage.label(labeler, generator, fresh)
    assert labeled["images"].shape == (8, 3, 12, 12) and len(kept["seg"]) == 6  # 25% most uncertain dropped
    accuracy = (labeled["seg"] == generator.masks(fresh)).float().mean()
    assert accuracy > 0.85, accuracy
    # `score` is the same agreement, measured against given masks (in a run: held-out real images' inversions)
    score = labeler_stage.score(labeler, generator, fresh, generator.masks(fresh), num_classes=2)
    assert score["labeler_test_pixel_acc"] == pytest.approx(accuracy.item())
    assert 0.7 < score["labeler_test_miou"] <= 1


def test_finest_block_only_labeler_loses_what_only_coarse_blocks_know():
    """HandsOff's hypercolumn ablation: here only the coarse map carries the line's position, so a labeler
    on the finest map alone cannot find it."""
    generator = HalfPlaneGenerator()
    latents, fresh = generator.random_latents(16, seed=0), generator.random_latents(8, seed=1)
    scores = {}
    for blocks in (None, [-1]):
        stage = HandsOffLabeler(num_members=2, hidden=(64, 16), epochs=25, lr=3e-3, cv_folds=2, feature_blocks=blocks)
        labeler = stage.fit(generator, latents, {"seg": generator.masks(latents)}, num_classes=2, seed=0)
        assert labeler.members[0].trunk[0].in_features == (6 if blocks is None else 2)
        scores[str(blocks)] = stage.score(labeler, generator, fresh, generator.masks(fresh), 2)[
            "labeler_test_pixel_acc"
        ]
    assert scores["None"] > 0.85 and scores["[-1]"] < scores["None"] - 0.15, scores


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("uncertainty_filter", 1.0, r"a number in \[0, 1\)"),
        ("cv_folds", 1, "an integer >= 2"),
        ("hidden", [], "a list of integers > 0, not empty"),
        ("loss_weights", {"normals": 1.0}, "weights of some of the tasks"),
        ("pixels_per_image", 0, "an integer > 0"),
        ("feature_blocks", [], r"null \(all\) or a list of block indices"),
    ],
)
def test_labeler_stage_config_errors_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=rf"labeler\.{key}=.* is invalid: expected {expected}"):
        build({"_target_": "synthlift.labeler.handsoff.HandsOffLabeler", key: value}, "labeler")
