"""Image-track benchmarks. Goals, on the 2-core reference machine at 32 px:
- GAN training (style, 16/64 channels, batch 32) <= 0.2 s/step;
- the labeler's training peak memory is flat in the number of labeled images (16 vs 50 within 1.25x),
  while materialising the whole hypercolumn table (DatasetGAN) grows ~3x;
- a U-Net step (base 16, batch 16) <= 0.2 s.
"""

from __future__ import annotations

import time

import torch

from synthlift.downstream.unet import fit_dense_model
from synthlift.gan.image_gan import build_image_gan, fit_image_gan
from synthlift.labeler import measure_peak_training_memory

TRAINER = {"accelerator": "cpu", "devices": 1}
GAN_CFG = {
    "arch": "style",
    "resolution": 32,
    "base_channels": 16,
    "max_channels": 64,
    "convs_per_block": 1,
    "d_base_channels": 16,
    "d_max_channels": 64,
    "r1_gamma": 0.01,
    "diffaugment": "color,translation,cutout",
}
UNET_CFG = {"base_channels": 16, "depth": 3, "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 16, "heatmap_sigma": 1.5}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(quick: bool) -> list[dict]:
    steps = 10 if quick else 40
    images = torch.rand(256, 3, 32, 32) * 2 - 1
    gan = build_image_gan(GAN_CFG)
    gan_s = timed(lambda: fit_image_gan(gan, images, batch_size=32, max_steps=steps, trainer_cfg=TRAINER, seed=0))
    rows = [
        {
            "stage": "image GAN training (style 16/64, 32 px, batch 32)",
            "n": steps,
            "seconds": gan_s,
            "rate": f"{gan_s / steps:.3f} s/step",
        }
    ]
    generator = gan.generator_ema
    for mode, chunk in (("streamed, 8 images per chunk", 8), ("whole table (DatasetGAN)", None)):
        for n in (16, 50):
            peak = measure_peak_training_memory(
                generator, n, images_per_chunk=chunk or n, pixels_per_batch=2048, num_members=2, num_classes=4
            )
            rows.append(
                {"stage": f"labeler training peak, {mode}", "n": n, "seconds": 0.0, "rate": f"{peak / 2**20:.1f} MiB"}
            )
    masks = torch.randint(0, 4, (64, 32, 32))
    unet_s = timed(
        lambda: fit_dense_model(
            images[:64], {"masks": masks}, {"seg": 4}, {**UNET_CFG, "max_steps": steps}, TRAINER, seed=0
        )
    )
    rows.append(
        {
            "stage": "U-Net training (base 16, 32 px, batch 16)",
            "n": steps,
            "seconds": unet_s,
            "rate": f"{unet_s / steps:.3f} s/step",
        }
    )
    return rows
