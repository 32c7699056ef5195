"""DiffAugment (Zhao et al., NeurIPS 2020): differentiable augmentations applied to *both* real and fake
images before the discriminator, so D cannot memorise a small training set while G still gets gradients.

Each sample draws its own parameters; all channels (and, for colour, all pixels) of a sample share them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from synthlift.core.errors import InvalidArgument


def _uniform(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U[0, 1) draw per sample, shaped (N, 1, 1, 1) to broadcast over a batch."""
    device = generator.device if generator is not None else x.device
    draw = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=device, dtype=x.dtype)
    return draw.to(x.device)


def _randint(low: int, high: int, n: int, x: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else x.device
    return torch.randint(low, high, (n, 1, 1), generator=generator, device=device).to(x.device)


def _color(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Brightness shift in [-0.5, 0.5), saturation scale in [0, 2), contrast scale in [0.5, 1.5)."""
    x = x + (_uniform(x, generator) - 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (_uniform(x, generator) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _translation(x: Tensor, generator: torch.Generator | None, ratio: float = 0.125) -> Tensor:
    """Shift by up to `ratio` of the size in each direction; uncovered pixels become zero."""
    n, _, h, w = x.shape
    shift_h, shift_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(-shift_h, shift_h + 1, n, x, generator)
    dx = _randint(-shift_w, shift_w + 1, n, x, generator)
    batch, rows, cols = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    # Indices into a copy padded by one zero pixel: anything shifted in from outside reads the padding.
    rows = torch.clamp(rows + dy + 1, 0, h + 1)
    cols = torch.clamp(cols + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: Tensor, generator: torch.Generator | None, ratio: float = 0.5) -> Tensor:
    """Zero one square of `ratio` times the size, centred anywhere (it may be clipped by the border)."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = _randint(0, h + (1 - size_h % 2), n, x, generator) - size_h // 2
    left = _randint(0, w + (1 - size_w % 2), n, x, generator) - size_w // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTATIONS: dict[str, Callable[[Tensor, torch.Generator | None], Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
}


def parse_policy(policy: str) -> list[str]:
    """ "color,translation" -> ["color", "translation"]; unknown names fail before any training."""
    names = [name.strip() for name in policy.split(",") if name.strip()] if isinstance(policy, str) else None
    if names is None or set(names) - set(AUGMENTATIONS):
        expected = f"a comma-separated list of {', '.join(AUGMENTATIONS)} ('' = off)"
        raise InvalidArgument("diffaugment", policy, expected)
    return names


def diff_augment(
    x: Tensor, policy: str = "color,translation,cutout", generator: torch.Generator | None = None
) -> Tensor:
    """Augment a batch (N, C, H, W) by the comma-separated `policy`, in its order; "" is the identity."""
    for name in parse_policy(policy):
        x = AUGMENTATIONS[name](x, generator)
    return x
