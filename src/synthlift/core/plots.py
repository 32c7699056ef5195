"""Figures for the reports: forest plots of lifts, label-budget curves, a t-SNE of real vs synthetic embeddings and
sample grids."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: sweeps and CI have no display

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from synthlift.core.io import atomic_path
from synthlift.core.verdicts import EQUIVALENT, HELPS, HURTS, INCONCLUSIVE, NOT_MEASURED, TOO_FEW_SEEDS

VERDICT_COLORS = {
    HELPS: "#2e7d32",
    HURTS: "#c62828",
    EQUIVALENT: "#1565c0",
    INCONCLUSIVE: "#757575",
    TOO_FEW_SEEDS: "#bdbdbd",
    NOT_MEASURED: "#eeeeee",
}
BAND_COLOR = "#bbdefb"  # the ±δ equivalence band


def _save(fig: plt.Figure, path: str | Path) -> None:
    """Write atomically (readers never see half a PNG) and close, so long sweeps don't leak figures."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)


Row = tuple[str, float, float, float, str]  # (label, lift, CI low, CI high, verdict), in display units


def _verdict_legend(ax: plt.Axes, verdicts: set[str], margin: float) -> None:
    handles = [Patch(color=c, label=v) for v, c in VERDICT_COLORS.items() if v in verdicts]
    handles.append(Patch(color=BAND_COLOR, label=f"±δ = {margin:g} (equivalence)"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never on a row


def plot_forest(panels: dict[str, list[Row]], path: str | Path, margin: float, title: str) -> None:
    """A forest plot per panel: each row's lift (dot) and CI (line), sorted by lift, coloured by verdict, over
    the shaded ±δ band — so the reader sees which rows clear 0, which sit inside the band, and how wide each
    interval is. A row without a CI (one seed) is a dot alone; one without a lift is left out."""
    panels = {name: [r for r in rows if math.isfinite(r[1])] for name, rows in panels.items()}
    panels = {name: rows for name, rows in panels.items() if rows} or {"": []}
    columns = 1 if len(panels) == 1 else 2
    grid_rows = -(-len(panels) // columns)
    sizes = [len(rows) for rows in panels.values()]
    heights = [max(max(sizes[r * columns : (r + 1) * columns]), 1) for r in range(grid_rows)]  # rows per band
    fig, axes = plt.subplots(
        grid_rows,
        columns,
        figsize=(6.5 * columns, sum(1.2 + 0.3 * h for h in heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": [1.2 / 0.3 + h for h in heights]},
    )
    seen: set[str] = set()
    for ax, (name, rows) in zip(axes.flat, panels.items(), strict=False):
        rows = sorted(rows, key=lambda r: r[1], reverse=True)
        y = np.arange(len(rows))
        ax.axvspan(-margin, margin, color=BAND_COLOR, zorder=0)
        ax.axvline(0, color="black", linewidth=0.8, zorder=1)
        for yi, (_, lift, low, high, verdict) in zip(y, rows, strict=True):
            color = VERDICT_COLORS.get(verdict, "#000000")
            if math.isfinite(low) and math.isfinite(high):
                ax.plot([low, high], [yi, yi], color=color, linewidth=2, zorder=2)
            ax.plot([lift], [yi], "o", color=color, markersize=5, zorder=3)
            seen.add(verdict)
        ax.set_yticks(y, [textwrap.shorten(r[0], 40) for r in rows], fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first (best) row on top
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("lift (points), 95% CI", fontsize=8)
    _verdict_legend(axes[0][-1], seen, margin)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_budget_curve(
    curves: dict[str, dict[str, list[tuple[float, float, float, float]]]],
    path: str | Path,
    margin: float,
    title: str,
    xlabel: str = "labels",
    columns: int | None = None,
    share_rows: bool = False,
) -> None:
    """Lift against labels, one line per method, one panel per key of `curves` (a dataset, or a dataset's group
    of methods): `curves[panel][method]` holds (labels, lift, CI low, CI high) points in display units. Shows where
    synthetic data pays: the budgets at which a method's band of CIs lies above the shaded ±δ band. `columns`
    (default up to 3) lays panels out as a grid whose rows and columns mean something; a panel whose methods no
    earlier panel showed carries its own legend; `share_rows` gives each row of panels one y scale (a row is one
    dataset's groups of methods, read against each other)."""
    columns = columns or (1 if len(curves) == 1 else min(3, len(curves)))
    grid_rows = -(-len(curves) // columns) if curves else 1
    fig, axes = plt.subplots(
        grid_rows, columns, figsize=(5 * columns, 3.6 * grid_rows), squeeze=False, sharey="row" if share_rows else False
    )
    cmap = plt.get_cmap("tab10")
    methods = sorted({method for lines in curves.values() for method in lines})
    legends: list[set[str]] = []
    for ax, (name, lines) in zip(axes.flat, curves.items(), strict=False):
        ax.axhspan(-margin, margin, color=BAND_COLOR, zorder=0)
        ax.axhline(0, color="black", linewidth=0.8)
        for method, points in lines.items():
            points = sorted(points)
            x = np.array([p[0] for p in points], dtype=float)
            lift, low, high = (np.array([p[i] for p in points], dtype=float) for i in (1, 2, 3))
            color = cmap(methods.index(method) % cmap.N)
            ax.plot(x, lift, "o-", color=color, label=method, markersize=4)
            ax.fill_between(x, low, high, color=color, alpha=0.15)
        if lines and set(lines) not in legends:
            legends.append(set(lines))
            ax.legend(fontsize=7, loc="best")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({p[0] for pts in lines.values() for p in pts}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("lift (points), 95% CI", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(curves) :]:
        ax.axis("off")
    fig.suptitle(title + f" (shaded: ±δ = {margin:g})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the title above the top panels
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
