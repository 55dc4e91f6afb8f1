"""Beeswarm plot: every row's value for each feature, coloured by the feature's value."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.plots._common import (
    BLUE,
    GREY,
    RED,
    clean_spines,
    displayed_features,
    dtype_note,
    feature_importance,
    feature_names,
    finish,
    matrix,
    new_axes,
    red_blue_solid,
)
from shapwise.plots._dendrogram import cluster_entries, plot_linkage


def swarm_offsets(values: np.ndarray, n_bins: int = 100, width: float = 0.4) -> np.ndarray:
    """Vertical offsets that stack points with close values side by side (the swarm layout)."""
    n = len(values)
    if n == 0:
        return np.zeros(0)
    spread = np.ptp(values)
    bins = (
        np.zeros(n, dtype=np.int64)
        if spread == 0
        else np.round((values - values.min()) / spread * (n_bins - 1)).astype(np.int64)
    )
    offsets = np.zeros(n)
    order = np.argsort(bins, kind="stable")
    counts = np.bincount(bins, minlength=n_bins)
    largest = max(int(counts.max()), 1)
    seen = np.zeros(n_bins, dtype=np.int64)
    for i in order:
        k = seen[bins[i]]
        seen[bins[i]] += 1
        step = (k + 1) // 2 * (1 if k % 2 else -1)  # 0, +1, -1, +2, -2, ...
        offsets[i] = step
    return offsets * (width / max(largest / 2, 1))


def _color_scale(column: np.ndarray) -> np.ndarray:
    """Feature values scaled to [0, 1] by their 5th-95th percentiles (robust to outliers)."""
    low, high = np.nanpercentile(column, [5, 95])
    if high <= low:
        low, high = np.nanmin(column), np.nanmax(column)
    if high <= low:
        return np.full(len(column), 0.5)
    return np.clip((column - low) / (high - low), 0.0, 1.0)


def _dot_colors(color: Any) -> tuple[Any, Any]:
    """(colormap of the feature values, or None; one colour for every dot, or None), read from
    shap's ``color=``: a colormap or its name colours by value, anything else is one colour."""
    if color is None:
        return red_blue_solid(), None
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if isinstance(color, Colormap):
        return color, None
    if isinstance(color, str) and color in ("shap_red", "shap_blue"):
        return None, RED if color == "shap_red" else BLUE
    if isinstance(color, str) and color in colormaps:
        return colormaps[color], None
    return None, color


def beeswarm(
    explanation: Explanation,
    max_display: int = 10,
    order: Any = None,
    show: bool = True,
    ax: Any = None,
    color: Any = None,
    color_bar: bool = True,
    color_bar_label: str = "Feature value",
    alpha: float = 1.0,
    s: float = 12,
    log_scale: bool = False,
    plot_size: Any = "auto",
    group_remaining_features: bool = True,
    axis_color: str = "#333333",
    clustering: Any = None,
    cluster_threshold: float = 0.5,
) -> Any:
    """One row of dots per feature (most important at the top), coloured low -> high by value.

    Args:
        explanation: rows x features with one output, e.g. ``exp`` or ``exp[..., 1]``.
        max_display: the most rows of dots; the rest are summed into "Sum of N other features".
        order: which features come first, as in shap: ``Explanation.abs.max(0)``, an ordering of
            feature positions, or one importance per feature (default: mean |value|).
        color: a colormap (or its name) for the feature values, or one colour for every dot
            (then there is no colorbar).
        color_bar: draw the colorbar of feature values (labelled ``color_bar_label``).
        alpha, s: the dots' opacity and size.
        log_scale: a symmetric log scale on the value axis.
        plot_size: 'auto', (width, height) in inches, or the height of one row of dots.
        group_remaining_features: sum the features beyond ``max_display`` into one row (else
            leave them out).
        clustering: a scipy linkage matrix over the features; by default the explanation's own (a
            Partition explainer's), False for none. Features merged at a distance up to
            ``cluster_threshold`` are kept next to each other, and when ``max_display`` would
            split such a cluster its least important features are shown as one row ("a + b",
            their values summed, drawn grey). As shap's, no dendrogram is drawn here (see ``bar``).
        axis_color: shap's styling keyword, accepted.

    Returns:
        The matplotlib Axes; the figure also holds a "Feature value" colorbar.
    """
    explanation = matrix(explanation, "beeswarm")
    colormap, solid = _dot_colors(color)
    values = explanation.values.astype(np.float64)
    names = feature_names(explanation)
    data = None  # one column of numbers per feature, None for one of strings (drawn grey)
    raw = explanation.data
    if raw is not None and raw.shape == values.shape:
        data = [_numbers_or_none(raw[:, f]) for f in range(raw.shape[1])]
    importance = feature_importance(order, explanation, np.abs(values).mean(axis=0))
    linkage = plot_linkage(clustering, explanation.clustering, values.shape[1])
    if linkage is None:
        labels, columns, colors_by = _feature_rows(
            values, names, importance, data, max_display, group_remaining_features
        )
    else:
        labels, columns, colors_by = _clustered_rows(
            values,
            names,
            importance,
            data,
            max_display,
            group_remaining_features,
            linkage,
            cluster_threshold,
        )
    rows = list(zip(labels, columns, colors_by, strict=True))

    if isinstance(plot_size, (tuple, list)):
        size = tuple(plot_size)
    elif isinstance(plot_size, (int, float)) and not isinstance(plot_size, bool):
        size = (8, plot_size * len(rows) + 1.5)
    else:
        size = (8, 0.5 * len(rows) + 1.5)
    ax = new_axes(ax, size)
    positions = np.arange(len(rows))[::-1]
    for position, (_, row_values, row_data) in zip(positions, rows, strict=True):
        y = position + swarm_offsets(row_values)
        if solid is not None:
            ax.scatter(row_values, y, s=s, color=solid, alpha=alpha, linewidths=0)
        elif row_data is None:
            ax.scatter(row_values, y, s=s, color=GREY, alpha=0.8 * alpha, linewidths=0)
        else:
            colors = colormap(_color_scale(row_data))
            ax.scatter(
                row_values, y, s=s, c=colors, alpha=0.9 * alpha, linewidths=0, rasterized=True
            )
    ax.set_yticks(positions, [label for label, _, _ in rows])
    ax.axvline(0, color="#888888", linewidth=0.8)
    ax.set_xlabel("SHAP value (impact on model output)")
    if log_scale:
        ax.set_xscale("symlog")
    clean_spines(ax)
    has_values = any(column is not None for column in colors_by)
    if color_bar and colormap is not None and has_values:
        from matplotlib.cm import ScalarMappable

        mappable = ScalarMappable(cmap=colormap)
        mappable.set_array(np.array([0.0, 1.0]))
        colorbar = ax.figure.colorbar(mappable, ax=ax, ticks=[0, 1], aspect=40, pad=0.02)
        colorbar.set_ticklabels(["Low", "High"])
        colorbar.set_label(color_bar_label)
        colorbar.outline.set_visible(False)
    dtype_note(ax, explanation)
    finish(ax.figure, show)
    return ax


def _feature_rows(
    values: np.ndarray,
    names: list[str],
    importance: np.ndarray,
    data: list | None,
    max_display: int,
    group_remaining: bool,
) -> tuple[list[str], list[np.ndarray], list[np.ndarray | None]]:
    """(labels, values, feature values to colour by or None) of each row of dots, top first."""
    if group_remaining:
        shown, labels, columns = displayed_features(values, names, importance, max_display)
    else:  # the most important features only, nothing summed
        shown, labels, columns = displayed_features(values, names, importance, values.shape[1])
        shown, labels, columns = shown[:max_display], labels[:max_display], columns[:max_display]
    colors_by = [None if data is None else data[f] for f in shown]
    colors_by += [None] * (len(columns) - len(shown))  # the summed rest has no feature value
    return labels, columns, colors_by


def _clustered_rows(
    values: np.ndarray,
    names: list[str],
    importance: np.ndarray,
    data: list | None,
    max_display: int,
    group_remaining: bool,
    linkage: np.ndarray,
    cutoff: float,
) -> tuple[list[str], list[np.ndarray], list[np.ndarray | None]]:
    """As :func:`_feature_rows`, with the features ordered and merged by a clustering; merged
    features and the summed rest have no one feature value to colour by."""
    clustered = cluster_entries(
        values, names, importance, max_display, linkage, cutoff, group_remaining=group_remaining
    )
    colors_by = [
        data[group[0]] if data is not None and len(group) == 1 else None
        for group in clustered.members
    ]
    if clustered.summed_rest:
        colors_by[-1] = None
    return clustered.labels, clustered.entries, colors_by


def _numbers_or_none(column: np.ndarray) -> np.ndarray | None:
    """A column of feature values as float64, or None when it holds strings or categories."""
    try:
        return np.asarray(column).astype(np.float64)
    except (TypeError, ValueError):
        return None
