"""Image-track benchmarks. Goals, on the 2-core reference machine:
- GAN training (style, 16/64 channels, batch 32) <= 0.2 s/step at 32 px; steps/s and synthetic images
  labeled per second at 32 and 64 px (64 px: 4x the pixels);
- the labeler's training peak memory is flat in the number of labeled images (16, 50, 200 within 1.25x),
  while materialising the whole hypercolumn table (DatasetGAN) grows with it;
- a U-Net step (base 16, batch 16) <= 0.2 s.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from synthlift.augment.base import TrainingPhase, TrainingPlan
from synthlift.data.image.examples import DenseExamples
from synthlift.downstream.unet import DenseUNet, UNet
from synthlift.generators.image.base import ImageGenerator
from synthlift.generators.image.discriminator import Discriminator
from synthlift.generators.image.gan import ImageGAN
from synthlift.generators.image.stylegan import StyleGenerator
from synthlift.labeler.ensemble import PixelLabeler, label_images, train_labeler
from synthlift.labeler.hypercolumns import module_device

TRAINER = {"accelerator": "cpu", "devices": 1}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def small_gan(resolution: int, steps: int) -> ImageGAN:
    return ImageGAN(
        functools.partial(StyleGenerator, resolution, base_channels=16, max_channels=64, convs_per_block=1),
        functools.partial(Discriminator, resolution, base_channels=16, max_channels=64),
        r1_gamma=0.01,
        batch_size=32,
        max_steps=steps,
    )


def bench_gan_and_labeling(resolution: int, steps: int, num_images: int) -> tuple[list[dict], ImageGAN]:
    """GAN training steps/s, then synthetic images generated and labeled per second (an untrained labeler
    costs what a trained one does), at one resolution."""
    images = torch.rand(256, 3, resolution, resolution) * 2 - 1
    gan = small_gan(resolution, steps)
    gan_s = timed(lambda: gan.fit(images, TRAINER))
    generator = gan.generator_ema
    labeler = PixelLabeler(generator.hypercolumn_dim, num_classes=4, num_members=2, hidden=(256, 32), seed=0)
    latents = generator.random_latents(num_images, 0)
    label_s = timed(lambda: label_images(labeler, generator, latents))
    rows = [
        {
            "stage": f"image GAN training (style 16/64, {resolution} px, batch 32)",
            "n": steps,
            "seconds": gan_s,
            "rate": f"{steps / gan_s:.2f} steps/s",
        },
        {
            "stage": f"synthetic images generated + labeled ({resolution} px, 2 members)",
            "n": num_images,
            "seconds": label_s,
            "rate": f"{num_images / label_s:.1f} images/s",
        },
    ]
    return rows, gan


def run(quick: bool) -> list[dict]:
    steps = 10 if quick else 40
    rows, gan = bench_gan_and_labeling(32, steps, 16 if quick else 64)
    rows += bench_gan_and_labeling(64, steps, 16 if quick else 64)[0]
    generator = gan.generator_ema
    for mode, chunk, sizes in (
        ("streamed, 8 images per chunk", 8, (16, 50, 200)),
        ("whole table (DatasetGAN)", None, (16, 50)),
    ):
        for n in sizes:
            peak = measure_peak_training_memory(
                generator, n, images_per_chunk=chunk or n, pixels_per_batch=2048, num_members=2, num_classes=4
            )
            rows.append(
                {"stage": f"labeler training peak, {mode}", "n": n, "seconds": 0.0, "rate": f"{peak / 2**20:.1f} MiB"}
            )
    images = torch.rand(64, 3, 32, 32) * 2 - 1
    masks = torch.randint(0, 4, (64, 32, 32))
    examples = DenseExamples(images, {"masks": masks, "keypoints": None, "depth": None})
    unet = DenseUNet(
        network=functools.partial(UNet, base_channels=16, depth=3),
        lr=1e-3,
        weight_decay=1e-4,
        batch_size=16,
        max_steps=steps,
    )
    unet_s = timed(lambda: unet.fit(TrainingPlan((TrainingPhase(examples),)), {"seg": 4}, TRAINER, seed=0))
    rows.append(
        {
            "stage": "U-Net training (base 16, 32 px, batch 16)",
            "n": steps,
            "seconds": unet_s,
            "rate": f"{unet_s / steps:.3f} s/step",
        }
    )
    return rows


def _profiled_peak_bytes(prof: profile) -> int:
    """Peak of the running sum of CPU allocator events above the level when profiling started.

    The profiler sees every allocation of torch's CPU allocator (tensor storage, autograd buffers,
    optimiser state); tracemalloc does not, because torch allocates outside Python's allocator.
    """
    events = prof.profiler.kineto_results.events()
    allocations = sorted(
        (e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]" and e.device_type() == DeviceType.CPU
    )
    current = peak = 0
    for _, nbytes in allocations:
        current += nbytes
        peak = max(peak, current)
    return peak


def measure_peak_training_memory(
    generator: ImageGenerator,
    num_labeled: int,
    *,
    images_per_chunk: int = 4,
    pixels_per_batch: int = 1024,
    pixels_per_image: int | None = None,
    num_members: int = 2,
    hidden: Sequence[int] = (256, 32),
    epochs: int = 1,
    num_classes: int = 2,
    size: int | None = None,
    seed: int = 0,
) -> int:
    """Peak bytes that `train_labeler` allocates on top of its inputs, for `num_labeled` random images.

    Inputs (latents, masks) and the labeler are created before measuring: they are the same for any
    training loop. `images_per_chunk=num_labeled` reproduces DatasetGAN's materialised table.
    On CUDA this reads the allocator's peak statistics; on the CPU it replays the profiler's allocation
    events (see `_profiled_peak_bytes`).
    """
    size = size or generator.resolution
    device = module_device(generator)
    latents = generator.random_latents(num_labeled, seed)
    rng = torch.Generator().manual_seed(seed)
    targets = {"seg": torch.randint(num_classes, (num_labeled, size, size), generator=rng)}
    labeler = PixelLabeler(
        generator.hypercolumn_dim, num_classes=num_classes, num_members=num_members, hidden=hidden, seed=seed
    ).to(device)
    kwargs = dict(
        epochs=epochs,
        images_per_chunk=images_per_chunk,
        pixels_per_batch=pixels_per_batch,
        pixels_per_image=pixels_per_image,
        seed=seed,
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        train_labeler(labeler, generator, latents, targets, **kwargs)
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        train_labeler(labeler, generator, latents, targets, **kwargs)
    return _profiled_peak_bytes(prof)
