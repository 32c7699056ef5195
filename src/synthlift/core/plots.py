"""Figures for the report: lift per configuration, and a t-SNE of real vs synthetic embeddings."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: sweeps and CI have no display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from synthlift.core.io import atomic_path
from synthlift.core.stats import HELPS, HURTS, NO_DIFFERENCE, NOT_MEASURED, TOO_FEW_SEEDS, LiftSummary, verdict

VERDICT_COLORS = {
    HELPS: "#2e7d32",
    HURTS: "#c62828",
    NO_DIFFERENCE: "#757575",
    TOO_FEW_SEEDS: "#bdbdbd",
    NOT_MEASURED: "#eeeeee",
}


def _save(fig: plt.Figure, path: str | Path) -> None:
    """Write atomically (readers never see half a PNG) and close, so long sweeps don't leak figures."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)


def plot_lift_bars(
    rows: Sequence[tuple[str, LiftSummary]], path: str | Path, metric_label: str, scale: float = 1.0
) -> None:
    """One bar per configuration: mean lift with CI whiskers, coloured by verdict, so the reader
    sees at a glance which configurations clear zero. Values are multiplied by `scale` (100 gives
    percentage points); a NaN mean or CI (no or one seed) is drawn as a bar of 0 / no whisker."""
    labels = [textwrap.fill(label, 40) for label, _ in rows]
    means = np.array([s.mean for _, s in rows], dtype=float) * scale
    lows = np.array([s.ci_low for _, s in rows], dtype=float) * scale
    highs = np.array([s.ci_high for _, s in rows], dtype=float) * scale
    xerr = np.nan_to_num(np.vstack([means - lows, highs - means]))
    verdicts = [verdict(s) for _, s in rows]
    height = 1.0 + 0.3 * sum(label.count("\n") + 2 for label in labels)
    fig, ax = plt.subplots(figsize=(8, height))
    y = np.arange(len(rows))
    ax.barh(y, np.nan_to_num(means), xerr=xerr, color=[VERDICT_COLORS[v] for v in verdicts], capsize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    right_ends = np.fmax(np.fmax(means, highs), 0.0)  # fmax skips NaN
    for yi, right, (_, summary) in zip(y, right_ends, rows, strict=True):
        ax.annotate(f" n={summary.n}", (right, yi), va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()  # first configuration on top, as in the report table
    ax.set_xlabel(metric_label)
    ax.margins(x=0.12)  # room for the n labels
    legend = [Patch(color=c, label=v) for v, c in VERDICT_COLORS.items() if v in verdicts]
    ax.legend(handles=legend, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never on a bar
    _save(fig, path)


def _subsample(n_real: int, n_synthetic: int, max_points: int, rng: np.random.Generator):
    """Up to half of `max_points` from each source (the rest to the other when one is short), so a
    large synthetic set cannot crowd the real points out of the picture being compared."""
    keep_real = min(n_real, max(max_points // 2, max_points - n_synthetic))
    keep_synthetic = min(n_synthetic, max_points - keep_real)
    real_idx = np.sort(rng.choice(n_real, keep_real, replace=False))
    synthetic_idx = np.sort(rng.choice(n_synthetic, keep_synthetic, replace=False))
    return real_idx, synthetic_idx


def plot_embedding_tsne(
    real_x,
    real_y,
    synthetic_x,
    synthetic_y,
    class_names: Sequence[str],
    path: str | Path,
    seed: int = 0,
    max_points: int = 1000,
) -> None:
    """t-SNE of real (circles) and synthetic (crosses) points embedded together, coloured by class.

    Synthetic points that huddle in a few tight clumps inside the real cloud are the visual sign
    of low diversity (Gupta, ICASSP 2019). Inputs of any shape are flattened per sample; labels
    are integer indices into `class_names`.
    """
    real_x = np.asarray(real_x, dtype=float).reshape(len(real_x), -1)
    synthetic_x = np.asarray(synthetic_x, dtype=float).reshape(len(synthetic_x), -1)
    rng = np.random.default_rng(seed)
    real_idx, synthetic_idx = _subsample(len(real_x), len(synthetic_x), max_points, rng)
    points = np.vstack([real_x[real_idx], synthetic_x[synthetic_idx]])
    if len(points) < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {len(points)}")
    perplexity = min(30.0, max(1.0, (len(points) - 1) / 3))  # sklearn requires perplexity < n
    tsne = TSNE(perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    # One OpenMP thread: on a CPU busy with training, Barnes-Hut's spinning threads turned a
    # sub-second fit into tens of seconds, while one thread fits 1000 points in a few seconds.
    with threadpool_limits(limits=1, user_api="openmp"):
        embedded = tsne.fit_transform(points)
    labels = np.concatenate([np.asarray(real_y)[real_idx], np.asarray(synthetic_y)[synthetic_idx]])
    is_real = np.arange(len(points)) < len(real_idx)
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7, 6))
    for marker, mask in (("o", is_real), ("x", ~is_real)):
        colors = [cmap(int(label) % cmap.N) for label in labels[mask]]
        ax.scatter(*embedded[mask].T, c=colors, marker=marker, s=14, alpha=0.7, linewidths=1)
    handles = [Patch(color=cmap(i % cmap.N), label=name) for i, name in enumerate(class_names)]
    handles += [
        Line2D([], [], marker="o", linestyle="", color="black", label=f"real ({len(real_idx)})"),
        Line2D([], [], marker="x", linestyle="", color="black", label=f"synthetic ({len(synthetic_idx)})"),
    ]
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set_title("t-SNE of real and synthetic samples")
    ax.set_xticks([])
    ax.set_yticks([])
    _save(fig, path)


def plot_sample_grid(
    images: np.ndarray,
    masks: np.ndarray | None,
    path: str | Path,
    keypoints: np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    columns: int = 8,
    alpha: float = 0.45,
) -> None:
    """Generated images in a grid, each next to itself with its label overlaid (classes as colours,
    visible keypoints as white dots), so a person can judge whether the labels are believable.

    images: uint8 (N, H, W, 3); masks: int (N, H, W); keypoints: (N, K, 3) rows (x, y, visible)."""
    n = len(images)
    columns = min(columns, n)
    rows = -(-n // columns)
    panels = 2 if masks is not None else 1
    fig, axes = plt.subplots(rows * panels, columns, figsize=(1.3 * columns, 1.3 * rows * panels), squeeze=False)
    palette = plt.get_cmap("tab20")
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        row, col = divmod(i, columns)
        axes[row * panels, col].imshow(images[i])
        if titles is not None:
            axes[row * panels, col].set_title(titles[i], fontsize=6)
        if masks is None:
            continue
        overlay = axes[row * panels + 1, col]
        colours = (palette(masks[i] % 20)[..., :3] * 255).astype(np.uint8)
        blended = np.where(masks[i][..., None] > 0, (1 - alpha) * images[i] + alpha * colours, images[i])
        overlay.imshow(blended.astype(np.uint8))
        if keypoints is not None:
            visible = keypoints[i][keypoints[i][:, 2] > 0]
            overlay.scatter(visible[:, 0], visible[:, 1], s=6, c="white", edgecolors="black", linewidths=0.4)
    fig.tight_layout(pad=0.2)
    _save(fig, path)
