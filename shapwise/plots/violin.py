"""Violin plot: the spread of each feature's values over the rows, as a density; the layered
violin stacks the densities of rows with low to high feature values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.plots._arrays import rows_explanation
from shapwise.plots._common import (
    GREY,
    clean_spines,
    finish,
    new_axes,
    one_output,
)
from shapwise.plots._common import feature_names as names_of

GRID_POINTS = 120


def _density(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A Gaussian kernel density of ``samples`` on ``grid`` (Scott's bandwidth; a spike for
    samples that are all equal)."""
    if len(samples) == 0:
        return np.zeros_like(grid)
    spread = np.std(samples)
    width = 1.06 * spread * len(samples) ** (-1 / 5) if spread > 0 else 0.0
    if width == 0:
        step = grid[1] - grid[0] if len(grid) > 1 else 1.0
        width = step
    z = (grid[:, None] - samples[None, :]) / width
    return np.exp(-0.5 * z**2).sum(axis=1) / (len(samples) * width * np.sqrt(2 * np.pi))


def _numbers(column: Any) -> np.ndarray | None:
    try:
        return np.asarray(column).astype(np.float64)
    except (TypeError, ValueError):
        return None


def violin(
    shap_values: Any,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    max_display: int | None = None,
    plot_type: str = "violin",
    color: Any = None,
    axis_color: str = "#333333",
    title: str | None = None,
    alpha: float = 1.0,
    show: bool = True,
    sort: bool = True,
    color_bar: bool = True,
    plot_size: Any = "auto",
    layered_violin_max_num_bins: int = 20,
    class_names: Any = None,
    class_inds: Any = None,
    color_bar_label: str = "Feature value",
    cmap: Any = None,
    use_log_scale: bool = False,
    ax: Any = None,
    **style: Any,
) -> Any:
    """One violin per feature (most important at the top): the density of its values.

    Args:
        shap_values: an Explanation (rows x features, one output), or shap's array with
            ``features`` (array or DataFrame) and ``feature_names``.
        plot_type: 'violin' (a density, with each row's value as a dot coloured by the feature's
            value) or 'layered_violin' (the densities of rows binned by feature value, low to
            high, stacked and coloured by the bin).
        sort: order by mean |value| (else the features' own order).
        use_log_scale: a symmetric log scale on the value axis.
        style: shap's other styling keywords (label and tick sizes, ...), accepted and not used.

    Returns:
        The matplotlib Axes.
    """
    if plot_type not in ("violin", "layered_violin"):
        raise ValueError(f"plot_type must be 'violin' or 'layered_violin'; got {plot_type!r}")
    explanation = one_output(
        rows_explanation(shap_values, features, feature_names, "violin"), "violin"
    )
    values = np.asarray(explanation.values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"violin draws rows x features; got shape {values.shape}")
    names = names_of(explanation)
    data = (
        explanation.data
        if explanation.data is not None and explanation.data.shape == values.shape
        else None
    )
    order = (
        np.argsort(-np.abs(values).mean(axis=0), kind="stable")
        if sort
        else np.arange(values.shape[1])
    )
    order = order[: max_display or 20]

    from shapwise.plots.colors import red_blue

    colormap = red_blue if cmap is None else cmap
    ax = new_axes(ax, (8, 0.5 * len(order) + 1.5))
    low, high = values[:, order].min(), values[:, order].max()
    pad = 0.05 * (high - low) if high > low else 1.0
    grid = np.linspace(low - pad, high + pad, GRID_POINTS)
    positions = np.arange(len(order))[::-1]
    for position, feature in zip(positions, order, strict=True):
        column = values[:, feature]
        feature_values = None if data is None else _numbers(data[:, feature])
        if plot_type == "violin":
            _draw_violin(ax, position, column, feature_values, grid, colormap, color, alpha)
        else:
            _draw_layers(
                ax,
                position,
                column,
                feature_values,
                grid,
                colormap,
                layered_violin_max_num_bins,
                alpha,
            )
    ax.set_yticks(positions, [names[f] for f in order])
    ax.axvline(0, color="#999999", linewidth=0.8, zorder=-1)
    ax.set_xlabel("SHAP value (impact on model output)")
    if use_log_scale:
        ax.set_xscale("symlog")
    if title:
        ax.set_title(title)
    clean_spines(ax)
    if color_bar and data is not None:
        from matplotlib.cm import ScalarMappable

        mappable = ScalarMappable(cmap=colormap)
        mappable.set_array(np.array([0.0, 1.0]))
        bar = ax.figure.colorbar(mappable, ax=ax, ticks=[0, 1], aspect=40, pad=0.02)
        bar.set_ticklabels(["Low", "High"])
        bar.set_label(color_bar_label)
        bar.outline.set_visible(False)
    finish(ax.figure, show)
    return ax


def _scaled(column: np.ndarray) -> np.ndarray:
    """Feature values scaled to [0, 1] by their 5th-95th percentiles."""
    low, high = np.nanpercentile(column, [5, 95])
    if high <= low:
        low, high = np.nanmin(column), np.nanmax(column)
    if high <= low:
        return np.full(len(column), 0.5)
    return np.clip((column - low) / (high - low), 0.0, 1.0)


def _draw_violin(ax, position, column, feature_values, grid, colormap, color, alpha) -> None:
    density = _density(column, grid)
    half = 0.4 * density / density.max() if density.max() > 0 else density
    body_color = color if color is not None else "#cccccc"
    ax.fill_between(
        grid, position - half, position + half, color=body_color, alpha=0.6 * alpha, linewidth=0
    )
    if feature_values is None:
        ax.scatter(column, np.full(len(column), position), s=6, color=GREY, linewidths=0)
    else:
        ax.scatter(
            column,
            np.full(len(column), position),
            s=6,
            c=colormap(_scaled(feature_values)),
            linewidths=0,
            alpha=alpha,
        )


def _draw_layers(ax, position, column, feature_values, grid, colormap, max_bins, alpha) -> None:
    """Densities of the rows in each feature-value bin, stacked (each scaled by its share), so the
    outline is the density of all rows."""
    if feature_values is None:
        feature_values = np.zeros(len(column))
    distinct = np.unique(feature_values)
    n_bins = int(min(max_bins, len(distinct)))
    ranks = np.argsort(np.argsort(feature_values, kind="stable"), kind="stable")
    bins = np.minimum(ranks * n_bins // len(column), n_bins - 1)
    layers = [_density(column[bins == b], grid) * np.mean(bins == b) for b in range(n_bins)]
    total = np.sum(layers, axis=0)
    scale = 0.4 / total.max() if total.max() > 0 else 0.0
    below = np.zeros_like(grid)
    for b, layer in enumerate(layers):
        above = below + layer
        shade = colormap(b / max(n_bins - 1, 1))
        ax.fill_between(
            grid,
            position - above * scale,
            position - below * scale,
            color=shade,
            alpha=alpha,
            linewidth=0,
        )
        ax.fill_between(
            grid,
            position + below * scale,
            position + above * scale,
            color=shade,
            alpha=alpha,
            linewidth=0,
        )
        below = above
