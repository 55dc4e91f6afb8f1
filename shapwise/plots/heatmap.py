"""Heatmap: the values of many rows at once, rows side by side, features top to bottom."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explanation import Explanation, OpChain
from shapwise.plots._common import (
    clean_spines,
    displayed_features,
    dtype_note,
    feature_importance,
    feature_names,
    finish,
    matrix,
    new_axes,
    red_blue,
)


def row_order(values: np.ndarray) -> np.ndarray:
    """Rows ordered so that similar explanations sit together (hierarchical clustering leaves)."""
    if len(values) < 3:
        return np.arange(len(values))
    from scipy.cluster.hierarchy import leaves_list, linkage

    return leaves_list(linkage(values, method="complete", metric="euclidean"))


def instance_positions(order: Any, explanation: Explanation) -> np.ndarray:
    """shap's ``instance_order``: row positions, or scores (an op chain such as
    ``Explanation.sum(1)``, an Explanation or an array) whose descending order it is."""
    if isinstance(order, OpChain):
        order = order.apply(explanation)
    order = np.asarray(getattr(order, "values", order))
    count = len(explanation.values)
    if order.shape != (count,):
        raise ValueError(
            f"instance_order must give one entry per row ({count}); got shape {order.shape}"
        )
    if order.dtype.kind in "iu" and sorted(order.tolist()) == list(range(count)):
        return order
    return np.argsort(-order.astype(np.float64), kind="stable")


def heatmap(
    explanation: Explanation,
    max_display: int = 10,
    show: bool = True,
    ax: Any = None,
    instance_order: Any = None,
    feature_values: Any = None,
    feature_order: Any = None,
    cmap: Any = None,
    plot_width: float = 9,
) -> Any:
    """An image of the values (features x rows) with the output f(x) drawn above it.

    Rows are ordered by hierarchical clustering of their values; features by mean |value|, the rest
    summed into "Sum of N other features".

    Args:
        instance_order: shap's row order instead: positions, or scores to sort by descending
            (``Explanation.sum(1)``, ``Explanation.hclust()``, an array).
        feature_values: one importance per feature (an op chain such as
            ``Explanation.abs.max(0)``, or an array) to order the features by.
        feature_order: the features' positions, most important first.
        cmap, plot_width: the colormap and the figure's width in inches.

    Returns:
        The matplotlib Axes of the image; the figure also holds the f(x) line and a colorbar.
    """
    explanation = matrix(explanation, "heatmap")
    values = explanation.values.astype(np.float64)
    names = feature_names(explanation)
    ranking = feature_order if feature_order is not None else feature_values
    importance = feature_importance(ranking, explanation, np.abs(values).mean(axis=0))
    _, labels, table = displayed_features(values, names, importance, max_display)
    order = (
        row_order(values)
        if instance_order is None
        else instance_positions(instance_order, explanation)
    )
    image = np.stack(table)[:, order]

    ax = new_axes(ax, (plot_width, 0.45 * len(labels) + 2.5))
    limit = max(float(np.nanpercentile(np.abs(image), 99.5)), 1e-12)
    shown_image = ax.imshow(
        image,
        aspect="auto",
        cmap=red_blue() if cmap is None else cmap,
        vmin=-limit,
        vmax=limit,
        interpolation="nearest",
    )
    ax.set_yticks(np.arange(len(labels)), labels)
    ax.set_xlabel("Rows (clustered by their explanations)" if instance_order is None else "Rows")
    clean_spines(ax)
    ax.spines["bottom"].set_visible(False)
    colorbar = ax.figure.colorbar(shown_image, ax=ax, aspect=40, pad=0.02)
    colorbar.set_label("SHAP value")
    colorbar.outline.set_visible(False)
    totals = values.sum(axis=1)[order]
    if explanation.base_values is not None:
        totals = totals + np.asarray(explanation.base_values, dtype=np.float64).reshape(-1)[order]
    top = ax.inset_axes([0.0, 1.02, 1.0, 0.18])
    top.plot(np.arange(len(totals)), totals, color="#333333", linewidth=1)
    top.set_xlim(-0.5, len(totals) - 0.5)
    top.set_xticks([])
    top.set_ylabel("f(x)", rotation=0, ha="right", va="center")
    for side in ("top", "right", "bottom"):
        top.spines[side].set_visible(False)
    dtype_note(ax, explanation)
    finish(ax.figure, show)
    return ax
