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
    pyplot,
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
    if _is_matrix(explanation) and explanation.values.shape[1] == 1:  # exp[:, [i]]: its column
        explanation = explanation[:, 0]
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


def _axis_limit(spec: Any, column: np.ndarray) -> float | None:
    """shap's axis limit: None, a number, or ``"percentile(p)"`` of the column."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if not (spec.startswith("percentile(") and spec.endswith(")")):
            raise ValueError(f"axis limits are numbers or 'percentile(p)'; got {spec!r}")
        return float(np.nanpercentile(column, float(spec[11:-1])))
    return float(getattr(spec, "values", spec))


def scatter(
    explanation: Explanation,
    color: Explanation | str | None = None,
    show: bool = True,
    ax: Any = None,
    hist: bool = True,
    axis_color: str = "#333333",
    cmap: Any = None,
    dot_size: float = 14,
    x_jitter: Any = "auto",
    alpha: float = 1.0,
    title: str | None = None,
    xmin: Any = None,
    xmax: Any = None,
    ymin: Any = None,
    ymax: Any = None,
    overlay: Any = None,
    ylabel: str | None = None,
) -> Any:
    """The feature's value (x) against its attribution (y).

    Args:
        explanation: one feature over many rows, e.g. ``exp[:, "bmi"]``.
        color: another column (``exp[:, "age"]``) to colour the dots by, or the whole explanation
            (``exp``) to pick the feature that interacts most strongly (see
            :func:`interaction_strengths`), or one colour for every dot (shap's ``"#1E88E5"``).
        cmap, dot_size, alpha: the colormap of the colouring feature, the dots' size and opacity.
        x_jitter: spread the dots of each x value by up to this share of the x step (seeded);
            'auto' spreads none.
        title, ylabel, xmin, xmax, ymin, ymax: the title, the y label and the axis limits (a
            number or ``"percentile(p)"``).
        hist: draw the histogram of the feature's values behind the dots, light grey, on a twin
            axis (labelled "histogram") whose full height is all the rows.
        overlay: up to three extra curves, as shap's: a dict of name -> a list of one (xs, ys)
            pair per plotted feature (one pair alone for one feature), drawn as black lines
            (solid, dotted, dashed) with a legend.
        axis_color: shap's styling keyword, accepted.

    Several columns (``exp[:, ["age", "bmi"]]``) are drawn side by side, one panel each on a shared
    y axis, as shap's.

    Returns:
        The matplotlib Axes (an array of them for several columns); the figure holds a colorbar
        named after the colouring feature.
    """
    if (
        isinstance(explanation, Explanation)
        and _is_matrix(explanation)
        and explanation.shape[1] > 1
    ):
        if ax is not None:
            raise ValueError(
                "scatter draws several columns in panels of its own figure; leave ax=None, or "
                "draw one column at a time (exp[:, 'age'])"
            )
        return _panels(
            explanation,
            color,
            show,
            overlay,
            ylabel,
            ymin,
            ymax,
            dict(
                hist=hist,
                cmap=cmap,
                dot_size=dot_size,
                x_jitter=x_jitter,
                alpha=alpha,
                xmin=xmin,
                xmax=xmax,
            ),
        )
    column = _column(explanation)
    name = _column_name(column)
    color_name, color_values, color_categories = None, None, None
    solid = color if isinstance(color, (str, tuple, list, np.ndarray)) else None  # one colour
    if solid is not None:
        color = None
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
    if isinstance(x_jitter, (int, float)) and x_jitter > 0:
        distinct = np.unique(x[np.isfinite(x)])
        step = np.min(np.diff(distinct)) if len(distinct) > 1 else 1.0
        spread = np.random.default_rng(0).uniform(-0.5, 0.5, len(x))
        x = x + spread * x_jitter * step
    if color_values is None:
        ax.scatter(
            x,
            y,
            s=dot_size,
            color=BLUE if solid is None else solid,
            alpha=0.8 * alpha,
            linewidths=0,
        )
    else:
        low, high = np.nanpercentile(color_values, [5, 95])
        if high <= low:
            low, high = np.nanmin(color_values), np.nanmax(color_values) + 1e-12
        points = ax.scatter(
            x,
            y,
            s=dot_size,
            c=color_values,
            cmap=red_blue_solid() if cmap is None else cmap,
            vmin=low,
            vmax=high,
            alpha=0.9 * alpha,
            linewidths=0,
        )
        colorbar = ax.figure.colorbar(points, ax=ax, aspect=40, pad=0.02)
        colorbar.set_label(color_name)
        if color_categories is not None:
            colorbar.set_ticks(range(len(color_categories)), labels=color_categories)
        colorbar.outline.set_visible(False)
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.set_xlabel(name)
    ax.set_ylabel(f"SHAP value for\n{name}" if ylabel is None else ylabel)
    if title:
        ax.set_title(title)
    x_limits = (_axis_limit(xmin, x), _axis_limit(xmax, x))
    if x_limits != (None, None):
        ax.set_xlim(*x_limits)
    y_limits = (_axis_limit(ymin, y), _axis_limit(ymax, y))
    if y_limits != (None, None):
        ax.set_ylim(*y_limits)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if overlay is not None:
        _draw_overlay(ax, overlay, 0, 1)
    if hist:
        draw_histogram(ax, as_plot_numbers(column.data)[0])
    dtype_note(ax, column)
    finish(ax.figure, show)
    return ax


HISTOGRAM_LABEL = "histogram"
OVERLAY_STYLES = ("solid", "dotted", "dashed")


def histogram_bins(x: np.ndarray) -> np.ndarray | int:
    """One bin per integer for few distinct non-negative integers (counts, categories), else a
    number of bins that grows with the rows (5 up to 50)."""
    distinct = np.unique(x)
    if (
        len(distinct) <= 75
        and len(distinct) < 0.2 * len(x)
        and np.all(distinct == np.round(distinct))
        and distinct.min() >= 0
    ):
        return np.arange(distinct.min(), distinct.max() + 2) - 0.5
    return 50 if len(x) >= 500 else 20 if len(x) >= 200 else 10 if len(x) >= 100 else 5


def draw_histogram(ax: Any, x: np.ndarray) -> Any:
    """The histogram of ``x`` in light grey behind the dots, on a twin axis whose height is all
    the rows (a bin holding every row fills it); returns the twin axis."""
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return None
    limits = ax.get_xlim()
    bins = histogram_bins(finite)
    if not isinstance(bins, int):  # whole bins around each integer stay in view
        limits = (min(limits[0], bins[0]), max(limits[1], bins[-1]))
    twin = ax.twinx()
    twin.set_label(HISTOGRAM_LABEL)
    hist_range = None if not isinstance(bins, int) else (min(limits), max(limits))
    twin.hist(finite, bins, range=hist_range, color="#000000", alpha=0.1, zorder=-1)
    twin.set_ylim(0, len(x))
    twin.set_yticks([])
    for spine in twin.spines.values():
        spine.set_visible(False)
    ax.set_zorder(twin.get_zorder() + 1)  # the dots in front of the bars
    ax.patch.set_visible(False)
    ax.set_xlim(limits)
    return twin


def _overlay_curves(overlay: Any, panel: int, n_panels: int) -> list[tuple[str, Any, Any]]:
    """(name, xs, ys) of each overlay curve of one panel."""
    if not isinstance(overlay, dict):
        raise TypeError(
            "overlay must be a dict of curve name -> a list of (xs, ys) pairs, one per plotted "
            f"feature; got {type(overlay).__name__}"
        )
    if len(overlay) > len(OVERLAY_STYLES):
        raise ValueError(f"overlay takes up to {len(OVERLAY_STYLES)} curves; got {len(overlay)}")
    curves = []
    for name, pairs in overlay.items():
        if n_panels == 1 and len(pairs) == 2 and np.ndim(pairs[0]) == 1:
            pairs = [pairs]  # one (xs, ys) pair for the one feature
        if len(pairs) != n_panels:
            raise ValueError(
                f"overlay {name!r} must give one (xs, ys) pair per plotted feature ({n_panels}); "
                f"got {len(pairs)}"
            )
        xs, ys = pairs[panel]
        if np.shape(xs) != np.shape(ys) or np.ndim(xs) != 1:
            raise ValueError(
                f"overlay {name!r}: xs and ys must be two sequences of the same length; got "
                f"shapes {np.shape(xs)} and {np.shape(ys)}"
            )
        curves.append((str(name), np.asarray(xs, dtype=np.float64), np.asarray(ys, np.float64)))
    return curves


def _draw_overlay(ax: Any, overlay: Any, panel: int, n_panels: int) -> None:
    curves = _overlay_curves(overlay, panel, n_panels)
    for (name, xs, ys), style in zip(curves, OVERLAY_STYLES, strict=False):
        ax.plot(xs, ys, color="#000000", linestyle=style, label=name)
    if curves:
        ax.legend(fontsize=8, frameon=False)


def _panels(
    explanation: Explanation,
    color: Any,
    show: bool,
    overlay: Any,
    ylabel: str | None,
    ymin: Any,
    ymax: Any,
    keywords: dict[str, Any],
) -> np.ndarray:
    """One panel per column, side by side on a shared y axis (shap's multi-column scatter)."""
    plt = pyplot()
    n = explanation.shape[1]
    values = np.asarray(explanation.values, dtype=np.float64)
    low = _axis_limit(ymin, values.reshape(-1))
    high = _axis_limit(ymax, values.reshape(-1))
    pad = (np.nanmax(values) - np.nanmin(values)) / 20
    low = np.nanmin(values) - pad if low is None else low
    high = np.nanmax(values) + pad if high is None else high
    figure, axes = plt.subplots(1, n, figsize=(min(6 * n, 15), 5), squeeze=False)
    for i, ax in enumerate(axes[0]):
        scatter(explanation[:, i], color=color, show=False, ax=ax, ymin=low, ymax=high, **keywords)
        if overlay is not None:
            _draw_overlay(ax, overlay, i, n)
        if i == 0:
            ax.set_ylabel("SHAP value" if ylabel is None else ylabel)
        else:
            ax.set_ylabel("")
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
    finish(figure, show)
    return axes[0]
