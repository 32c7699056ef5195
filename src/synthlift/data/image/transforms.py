"""Conversions between uint8 images and the generators' tensors, resizing of images with their labels, and
keypoint heatmaps: what every dataset and stage of the image track shares."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from synthlift.data.image.labels import DenseLabels, ImageSet


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


def keypoint_heatmaps(keypoints: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """(N,K,3) rows (x, y, visible) -> (N,K,H,W) Gaussians of std `sigma` pixels, peak 1 at the keypoint,
    all zero for invisible keypoints."""
    ys = torch.arange(height, device=keypoints.device, dtype=keypoints.dtype).view(1, 1, height, 1)
    xs = torch.arange(width, device=keypoints.device, dtype=keypoints.dtype).view(1, 1, 1, width)
    x, y, visible = (keypoints[..., i, None, None] for i in range(3))
    gauss = torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return gauss * (visible > 0)
