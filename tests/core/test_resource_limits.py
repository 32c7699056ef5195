"""A size that cannot fit is refused before anything is allocated, with a message naming the key, the estimate
and the limit, and the job ends with a failed results.json instead of being killed by the kernel; the
defaults are never refused."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from synthlift.augment.filter import ConfidenceFilter
from synthlift.augment.mix import Mix
from synthlift.core import resources
from synthlift.core.errors import ResourceLimitError
from synthlift.core.resources import available_memory_bytes, check_count, check_fits, format_bytes, nbytes
from synthlift.data.image.shapes import MAX_SHAPES_PER_SET, ShapesDataset
from synthlift.data.text.examples import EmbeddedExamples, GeneratorSource
from synthlift.generators.text.base import TextGenerator, activation_bytes_per_example
from synthlift.generators.text.ddpm import ConditionalDDPM
from synthlift.generators.text.llm import MAX_POOL_PER_CLASS, PromptedLanguageModel
from synthlift.pipelines.image import build_components
from tests.core.test_fault_catalogue import Fault, run_job

GIB = 1024**3
REAL = EmbeddedExamples(np.zeros((24, 384), dtype=np.float32), np.arange(24) % 2)  # the text smoke run's size


@pytest.fixture
def eight_gib_available(monkeypatch):
    """A machine with 8 GiB available, so that limits in messages do not depend on the test machine."""
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 8 * GIB)


class UntouchableGenerator(TextGenerator):
    """A fitted generator that fails the test if it is asked for a sample: the refusal must come first."""

    def fit(self, train, context):
        return {}

    def sample(self, labels, seed):
        raise AssertionError(f"sampled {len(labels)} synthetic examples before refusing")


def test_check_fits_names_the_key_the_estimate_and_the_limit(eight_gib_available):
    with pytest.raises(ResourceLimitError) as refused:
        check_fits("augment.ratio", 1e6, items=10**9, item="examples", bytes_per_item=3072, counting="3 copies")
    assert str(refused.value) == (
        "augment.ratio=1000000.0 is too large: 1,000,000,000 examples at about 3.0 KiB each (3 copies) need about "
        "2.8 TiB of memory, more than the limit of 4.0 GiB (50% of the 8.0 GiB available now); lower it"
    )


def test_check_fits_passes_what_fits_and_defers_to_the_caps_where_memory_cannot_be_read(monkeypatch):
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 8 * GIB)
    check_fits("num_synthetic", 500, items=500, item="images", bytes_per_item=3 * 24 * 32**2, counting="3 copies")
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: None)
    check_fits("num_synthetic", 10**12, items=10**12, item="images", bytes_per_item=10**6, counting="one copy")


def test_check_count_names_the_key_and_the_cap():
    assert check_count("test_size", 200, cap=20_000, item="images", why="no end") == 200
    expected = (
        r"^test_size=20001 is too large: it would make 20,001 images, more than the cap of 20,000 \(no end\); lower it"
    )
    with pytest.raises(ResourceLimitError, match=expected):
        check_count("test_size", 20_001, cap=20_000, item="images", why="no end")


def test_this_machine_reports_its_available_memory_and_arrays_are_priced_by_their_bytes():
    available = available_memory_bytes()
    assert available is not None and available > 0
    assert nbytes(REAL) == 24 * 384 * 4 + 24 * 8
    network = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    assert activation_bytes_per_example(network) == 2 * 4 * (5 + 2)  # each layer's output and its activation
    assert format_bytes(512) == "512 B" and format_bytes(1.5 * GIB) == "1.5 GiB"


@pytest.mark.parametrize("strategy", [Mix(ratio=1e6), ConfidenceFilter(ratio=1e6, oversample=3)], ids=["mix", "filter"])
def test_a_text_ratio_that_cannot_fit_is_refused_before_drawing(strategy, eight_gib_available):
    teacher = lambda examples: np.full((len(examples), 2), 0.5)  # noqa: E731
    with pytest.raises(ResourceLimitError) as refused:
        strategy.plan(REAL, GeneratorSource(UntouchableGenerator(), 2, dim=384), seed=0, teacher=teacher)
    message = str(refused.value)
    assert message.startswith("augment.ratio=1000000.0 is too large: 24,000,000 synthetic examples")
    assert "limit of 4.0 GiB" in message


@pytest.mark.parametrize("size_key", ["num_unlabeled", "num_labeled_pool", "test_size", "validation_size"])
def test_a_shapes_set_beyond_the_cap_is_refused_in_the_constructor(size_key):
    with pytest.raises(ResourceLimitError, match=rf"^{size_key}=100000 is too large: .*cap of 20,000"):
        ShapesDataset(**{size_key: 100_000})


def test_shapes_sets_that_cannot_fit_at_their_resolution_name_the_largest_set(eight_gib_available):
    with pytest.raises(ResourceLimitError) as refused:
        ShapesDataset(resolution=256, num_unlabeled=MAX_SHAPES_PER_SET)
    expected = r"num_unlabeled=20000 is too large: 20,400 256x256 shapes images .* limit of 4\.0 GiB"
    assert re.match(expected, str(refused.value))


def test_an_llm_pool_beyond_the_cap_is_refused_in_the_constructor():
    assert PromptedLanguageModel(model="gpt2", pool_per_class=MAX_POOL_PER_CLASS).pool_per_class == MAX_POOL_PER_CLASS
    with pytest.raises(ResourceLimitError, match=r"^pool_per_class=1000000 is too large: .*cap of 10,000"):
        PromptedLanguageModel(model="gpt2", pool_per_class=10**6)


def test_num_synthetic_that_cannot_fit_is_refused_at_start_up(compose_config, eight_gib_available):
    cfg = compose_config("image", "num_synthetic=1000000000", "dataset.resolution=16", "gan.generator.resolution=16")
    with pytest.raises(ResourceLimitError, match=r"^num_synthetic=1000000000 is too large: .*limit of 4\.0 GiB"):
        build_components(cfg)


def test_the_defaults_are_not_refused(compose_config):
    build_components(compose_config("image"))  # shapes' set sizes and num_synthetic=500 at 32 px
    assert PromptedLanguageModel(model="gpt2").pool_per_class == 64
    # The leaderboard's largest ratio on 5,000 real MiniLM embeddings, drawn from the generator that needs the
    # most memory per sample (the default DDPM's network, built as its fit builds it).
    ddpm = ConditionalDDPM()
    ddpm.network = ddpm._build(torch.zeros(1, 384), num_classes=2)
    real = EmbeddedExamples(np.zeros((5000, 384), dtype=np.float32), np.arange(5000) % 2)
    assert Mix(ratio=4.0).synthetic_count(real, GeneratorSource(ddpm, 2, dim=384)) == 20_000


@pytest.mark.parametrize(
    ("fault", "key"),
    [
        (Fault("ratio-1e6", "text", ("augment.ratio=1e6",), ""), "augment.ratio"),
        (Fault("validation-100000", "image", ("+dataset.validation_size=100000",), ""), "dataset.validation_size"),
    ],
    ids=["text-augment-ratio", "image-validation-size"],
)
def test_a_job_that_cannot_fit_ends_with_a_failed_record_naming_the_key(
    fault, key, tmp_path, shared_cache_dir, compose_config, eight_gib_available
):
    run_dir = tmp_path / "job"
    record = run_job(fault, tmp_path / "data", run_dir, shared_cache_dir, compose_config)
    assert record["status"] == "failed" and "traceback" not in record["error"], record["error"]
    assert record["error"]["message"].startswith(f"{key}=")
    assert "is too large" in record["error"]["message"]
    assert not (run_dir / "synthetic.npz").exists()
