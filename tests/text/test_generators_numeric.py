"""The numeric text generators (Gaussian jitter, SMOTE, mixup, CVAE, DDPM), each built from its yaml: samples
have the right shape, are reproducible by seed and belong to the requested class; each one's own promise holds
(interpolants lie between real points, scale 0 copies, a CVAE learns, DDPM's sampler is configurable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from synthlift.core.errors import DataError, InvalidArgument
from synthlift.core.paths import PROJECT_ROOT
from synthlift.generators.text.base import TextGenerator, TextTrainData

GENERATORS = ["gaussian_jitter", "smote", "mixup", "cvae", "ddpm"]
QUICK = {"cvae": {"max_steps": 150}, "ddpm": {"max_steps": 150, "num_timesteps": 50, "sampling_steps": 50}}
LABELS = np.array([0, 0, 1, 1, 1])


def config(name: str, **overrides):
    node = OmegaConf.load(Path(PROJECT_ROOT) / "conf" / "gan" / "text" / f"{name}.yaml")
    return OmegaConf.merge(node, QUICK.get(name, {}), overrides)


def build(name: str, **overrides) -> TextGenerator:
    return instantiate(config(name, **overrides))


def train_data(x: np.ndarray, y: np.ndarray) -> TextTrainData:
    return TextTrainData([f"text {i}" for i in range(len(y))], x.astype(np.float32), y, ["neg", "pos"], object())


def two_blobs(n: int = 40, dim: int = 8) -> TextTrainData:
    """Two well separated classes: class 1 is class 0 shifted by +3 in every dimension."""
    y = np.arange(n) % 2
    return train_data(np.random.default_rng(0).normal(size=(n, dim)) + 3.0 * y[:, None], y)


@pytest.mark.parametrize("name", GENERATORS)
def test_samples_are_reproducible_and_class_conditional(name, context):
    train = two_blobs()
    generator = build(name)
    generator.fit(train, context)
    samples = generator.sample(LABELS, seed=0)

    assert samples.shape == (5, 8) and samples.dtype == np.float32 and np.isfinite(samples).all()
    assert np.array_equal(samples, generator.sample(LABELS, seed=0))
    assert not np.allclose(samples, generator.sample(LABELS, seed=1))
    means = [train.x[train.y == label].mean(axis=0) for label in (0, 1)]
    distance = lambda rows, label: np.linalg.norm(rows - means[label], axis=1)  # noqa: E731
    assert (distance(samples[LABELS == 1], 1) < distance(samples[LABELS == 1], 0)).all()
    assert (distance(samples[LABELS == 0], 0) < distance(samples[LABELS == 0], 1)).all()

    torch.manual_seed(123)  # a fit depends on its seed only, not on the global RNG
    np.random.seed(123)
    refit = build(name)
    refit.fit(train, context)
    assert np.array_equal(samples, refit.sample(LABELS, seed=0))


def distance_to_segment(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    direction = end - start
    along = np.clip((points - start) @ direction / (direction @ direction), 0.0, 1.0)
    return np.linalg.norm(points - (start + along[:, None] * direction), axis=1)


@pytest.mark.parametrize("name", ["smote", "mixup"])
def test_interpolants_lie_between_two_examples_of_their_class(name, context):
    """With exactly two examples in class 0, every class-0 sample is on the segment between them."""
    y = np.array([0, 0, 1, 1, 1, 1])
    x = np.random.default_rng(1).normal(size=(6, 8)) + 3.0 * y[:, None]
    generator = build(name)
    generator.fit(train_data(x, y), context)
    samples = generator.sample(np.zeros(50, dtype=int), seed=0)
    start, end = x[0].astype(np.float32), x[1].astype(np.float32)
    assert distance_to_segment(samples, start, end).max() < 1e-5
    assert len(np.unique(samples.round(5), axis=0)) > 40, "points along the segment, not its two ends"


@pytest.mark.parametrize("name", ["smote", "mixup", "gaussian_jitter"])
def test_a_single_example_class_yields_that_example(name, context):
    y = np.array([0, 1, 1, 1])
    x = np.random.default_rng(2).normal(size=(4, 8)) + 3.0 * y[:, None]
    generator = build(name, **({"scale": 0.0} if name == "gaussian_jitter" else {}))
    generator.fit(train_data(x, y), context)
    samples = generator.sample(np.zeros(5, dtype=int), seed=0)
    np.testing.assert_allclose(samples, np.repeat(x[:1], 5, axis=0), rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["smote", "mixup", "gaussian_jitter"])
def test_a_class_without_examples_cannot_be_resampled(name, context):
    train = TextTrainData(["a", "b"], np.ones((2, 8), np.float32), np.array([1, 1]), ["neg", "pos"], object())
    generator = build(name)
    generator.fit(train, context)
    with pytest.raises(DataError, match="cannot sample class 'neg'"):
        generator.sample(np.array([0, 1]), seed=0)


def test_jitter_of_scale_zero_copies_training_rows_of_the_class(context):
    train = two_blobs()
    generator = build("gaussian_jitter", scale=0.0)
    generator.fit(train, context)
    samples = generator.sample(LABELS, seed=0)
    for sample, label in zip(samples, LABELS, strict=True):
        assert (train.x[train.y == label] == sample).all(axis=1).any()


def test_jitter_noise_follows_each_dimensions_spread(context):
    """`scale` means the same for any embedder: the noise in each dimension is scale x that dimension's std over
    the training set. Class 0 has a single example, so its samples minus that example are the noise."""
    y = np.array([0] + [1] * 199)
    x = np.random.default_rng(3).normal(size=(200, 8)) * np.array([1, 1, 1, 1, 100, 100, 100, 100])
    generator = build("gaussian_jitter", scale=0.5)
    generator.fit(train_data(x, y), context)
    noise = generator.sample(np.zeros(4000, dtype=int), seed=0) - x[0]
    assert np.allclose(noise.std(axis=0) / (0.5 * x.std(axis=0)), 1.0, atol=0.1)


def test_cvae_training_lowers_its_loss(context):
    diagnostics = build("cvae", max_steps=300).fit(two_blobs(), context)
    assert diagnostics["train_loss_end"] < 0.8 * diagnostics["train_loss_start"]


def test_ddpm_sampling_steps_choose_the_sampler(context):
    """Training does not depend on sampling_steps, so the same seed gives the same network; fewer steps switch
    from ancestral sampling to DDIM and give different samples."""
    train = two_blobs()
    ancestral, ddim = build("ddpm"), build("ddpm", sampling_steps=10)
    ancestral.fit(train, context)
    ddim.fit(train, context)
    assert not np.allclose(ancestral.sample(LABELS, seed=0), ddim.sample(LABELS, seed=0))


def test_ddpm_rejects_more_sampling_steps_than_timesteps():
    with pytest.raises(InvalidArgument, match=r"sampling_steps=300 is invalid: expected an integer in \[1, num_t"):
        instantiate_class("ddpm", num_timesteps=200, sampling_steps=300)


def instantiate_class(name: str, **arguments):
    """The generator's class called directly, so its InvalidArgument is not wrapped by hydra."""
    return get_class(config(name)._target_)(**arguments)


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("gaussian_jitter", "scale", -0.1),
        ("smote", "k_neighbors", 0),
        ("mixup", "alpha", 0.0),
        ("cvae", "beta", -1.0),
        ("cvae", "max_steps", 0),
        ("ddpm", "schedule", "quadratic"),
        ("ddpm", "batch_size", 0),
    ],
)
def test_bad_arguments_name_their_key(name, key, value):
    with pytest.raises(InvalidArgument, match=rf"^{key}="):
        instantiate_class(name, **{key: value})
