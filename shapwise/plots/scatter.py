"""Scatter (dependence) plot: a feature's value against its attribution, coloured by another."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explanation import FEATURE, ROW, Explanation
from shapwise.plots._common import (
    BLUE,
    as_plot_numbers,
    dtype_note,
    feature_names,
    finish,
    new_axes,
    one_output,
    red_blue_solid,
)


def interaction_strengths(column: Explanation, others: Explanation) -> np.ndarray:
    """A cheap proxy of how strongly each feature of ``others`` interacts with ``column``.

    Rows are sorted by the column's value and cut into bins; within a bin the column's own value
    hardly moves, so what still moves its attribution is other features. The proxy is the summed
    |correlation| between the attribution and each other feature's value within the bins.
    Strings and categories count by their position among the sorted distinct values.
    """
    x = as_plot_numbers(column.data)[0]
    attribution = np.asarray(column.values, dtype=np.float64)
    raw = np.asarray(others.data)
    data = np.stack([as_plot_numbers(raw[:, j])[0] for j in range(raw.shape[1])], axis=1)
    order = np.argsort(x, kind="stable")
    n_bins = max(min(len(x) // 10, 20), 1)
    strengths = np.zeros(data.shape[1])
    for rows in np.array_split(order, n_bins):
        if len(rows) < 3:
            continue
        a = attribution[rows] - attribution[rows].mean()
        d = data[rows] - data[rows].mean(axis=0)
        scale = np.sqrt((a**2).sum() * (d**2).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(scale > 0, (a @ d) / np.where(scale > 0, scale, 1.0), 0.0)
        strengths += np.abs(corr)
    same = np.all(np.isclose(data, x[:, None]), axis=0)
    strengths[same] = -np.inf  # never colour a feature by itself
    return strengths


def _column(explanation: Explanation) -> Explanation:
    explanation = one_output(explanation, "scatter")
    if explanation.axis_kinds != (ROW,) or explanation.data is None:
        raise ValueError(
            "scatter shows one feature over many rows: pass a column with its data, e.g. "
            f"exp[:, 'age'] or exp[:, 0]; got shape {explanation.values.shape} "
            f"{explanation.axis_kinds}"
        )
    return explanation


def _is_matrix(explanation: Explanation) -> bool:
    return explanation.values.ndim == 2 and explanation.axis_kinds == (ROW, FEATURE)


def _column_name(column: Explanation) -> str:
    """The name of the one feature a column explanation was cut for."""
    names = column.feature_names
    if isinstance(names, str):
        return names
    if names is not None and len(names) == 1:
        return names[0]
    return "Feature"


def scatter(
    explanation: Explanation,
    color: Explanation | None = None,
    show: bool = True,
    ax: Any = None,
) -> Any:
    """The feature's value (x) against its attribution (y).

    Args:
        explanation: one feature over many rows, e.g. ``exp[:, "bmi"]``.
        color: another column (``exp[:, "age"]``) to colour the dots by, or the whole explanation
            (``exp``) to pick the feature that interacts most strongly (see
            :func:`interaction_strengths`).

    Returns:
        The matplotlib Axes; the figure holds a colorbar named after the colouring feature.
    """
    column = _column(explanation)
    name = _column_name(column)
    color_name, color_values, color_categories = None, None, None
    if color is not None:
        color = one_output(color, "scatter")
        if _is_matrix(color):
            strengths = interaction_strengths(column, color)
            best = int(np.argmax(strengths))
            color_name = feature_names(color)[best]
            color_values, color_categories = as_plot_numbers(np.asarray(color.data)[:, best])
        else:
            color = _column(color)
            color_name = _column_name(color)
            color_values, color_categories = as_plot_numbers(color.data)

    ax = new_axes(ax, (7, 5))
    x, categories = as_plot_numbers(column.data)
    if categories is not None:  # strings or categories: one tick per distinct value
        ax.set_xticks(range(len(categories)), categories)
    y = np.asarray(column.values, dtype=np.float64)
    if color_values is None:
        ax.scatter(x, y, s=14, color=BLUE, alpha=0.8, linewidths=0)
    else:
        low, high = np.nanpercentile(color_values, [5, 95])
        if high <= low:
            low, high = np.nanmin(color_values), np.nanmax(color_values) + 1e-12
        points = ax.scatter(
            x,
            y,
            s=14,
            c=color_values,
            cmap=red_blue_solid(),
            vmin=low,
            vmax=high,
            alpha=0.9,
            linewidths=0,
        )
        colorbar = ax.figure.colorbar(points, ax=ax, aspect=40, pad=0.02)
        colorbar.set_label(color_name)
        if color_categories is not None:
            colorbar.set_ticks(range(len(color_categories)), labels=color_categories)
        colorbar.outline.set_visible(False)
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.set_xlabel(name)
    ax.set_ylabel(f"SHAP value for\n{name}")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    dtype_note(ax, column)
    finish(ax.figure, show)
    return ax
