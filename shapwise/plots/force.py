"""Force plot (static): one row's features pushing the output up (red) or down (blue); many rows
give the stacked force plot (see :mod:`shapwise.plots.stacked_force`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explanation import ROW, Explanation
from shapwise.plots._common import (
    BLUE,
    RED,
    dtype_note,
    finish,
    format_data,
    format_number,
    local,
    matrix,
    new_axes,
    scalar,
)
from shapwise.plots._common import feature_names as names_of
from shapwise.plots.stacked_force import force_rows


def force(
    explanation: Explanation | Any,
    shap_values: Any = None,
    features: Any = None,
    feature_names: Any = None,
    min_label_share: float = 0.05,
    show: bool = True,
    ax: Any = None,
    link: str = "identity",
    **legacy: Any,
) -> Any:
    """A single bar from the base value to f(x): red segments push the output up from the left,
    blue segments push it down from the right, and they meet at f(x).

    Args:
        explanation: one row with one output, e.g. ``exp[0]``; or, as shap's ``plots.force``
            also takes them, a base value with ``shap_values``, ``features`` and
            ``feature_names`` (and ``force_plot``'s other keywords, see there). Many rows
            (``exp``, or a matrix of values) give the stacked force plot of
            :func:`~shapwise.plots.stacked_force.force_rows`: self-contained HTML whose rows can
            be reordered, or with ``matplotlib=True`` a static chart.
        min_label_share: segments narrower than this share of the total width are left unlabelled.
        link: 'logit' labels the base value, f(x) and the axis as probabilities (the sigmoid of
            the log-odds the values add up in); 'identity' labels them as they are.

    Returns:
        The matplotlib Axes; for many rows a :class:`~shapwise.plots.stacked_force.StackedForcePlot`
        (or the Axes of its chart with ``matplotlib=True``).
    """
    if not isinstance(explanation, Explanation) or shap_values is not None:
        from shapwise.plots.legacy import force_plot

        legacy.setdefault("contribution_threshold", min_label_share)
        return force_plot(
            explanation, shap_values, features, feature_names, link=link, show=show, **legacy
        )
    if explanation.values.ndim == 2 and explanation.axis_kinds[0] == ROW:
        rows = matrix(explanation, "force")
        return force_rows(
            rows.values,
            rows.base_values,
            rows.data,
            names_of(rows),
            link=link,
            show=show,
            **legacy,
        )
    explanation = local(explanation, "force")
    if link not in ("identity", "logit"):
        raise ValueError(f"link must be 'identity' or 'logit'; got {link!r}")
    shown = _identity if link == "identity" else _sigmoid
    values = explanation.values.astype(np.float64).reshape(-1)
    base = scalar(explanation.base_values) or 0.0
    output = base + values.sum()
    names = names_of(explanation)
    data = explanation.data

    ax = new_axes(ax, (12, 2.6))
    total = max(np.abs(values).sum(), 1e-12)
    positive = [f for f in np.argsort(-values, kind="stable") if values[f] > 0]
    negative = [f for f in np.argsort(values, kind="stable") if values[f] < 0]
    # Red segments end at f(x), the largest nearest to it; blue ones start at f(x). Their labels sit
    # at two heights so that neighbouring red and blue labels do not overlap.
    for features, color, direction, label_y in (
        (positive, RED, -1, -0.4),
        (negative, BLUE, 1, -0.75),
    ):
        edge = output
        for feature in features:
            width = abs(values[feature])
            end = edge + direction * width
            start = min(edge, end)
            ax.barh(0, width, left=start, height=0.5, color=color, edgecolor="white", linewidth=1)
            if width / total >= min_label_share:
                ax.text(
                    start + width / 2,
                    label_y,
                    _label(names, data, feature),
                    ha="center",
                    va="top",
                    fontsize=8,
                    color=color,
                )
            edge = end
    ax.axvline(base, color="#888888", linestyle="--", linewidth=0.8)
    ax.text(
        base,
        0.62,
        f"base value\n{format_number(shown(base), 4)}",
        ha="center",
        va="bottom",
        fontsize=8,
        color="#555555",
    )
    ax.text(
        output,
        0.62,
        f"f(x) = {format_number(shown(output), 4)}",
        ha="center",
        va="bottom",
        fontsize=11,
        fontweight="bold",
    )
    low = min(output - values[values > 0].sum(), base, output)
    high = max(output - values[values < 0].sum(), base, output)
    pad = 0.05 * max(high - low, 1e-12)
    ax.set_xlim(low - pad, high + pad)
    if link == "logit":  # ticks where the probability is round, labelled with it
        probabilities = np.array(
            [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
        )
        ticks = np.log(probabilities / (1 - probabilities))
        inside = (ticks >= low - pad) & (ticks <= high + pad)
        ax.set_xticks(ticks[inside], [format_number(p, 2) for p in probabilities[inside]])
    ax.set_ylim(-1.2, 1.2)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.text(0.0, 1.0, "higher", color=RED, transform=ax.transAxes, fontsize=9)
    ax.text(1.0, 1.0, "lower", color=BLUE, transform=ax.transAxes, fontsize=9, ha="right")
    dtype_note(ax, explanation)
    finish(ax.figure, show)
    return ax


def _identity(value: float) -> float:
    return value


def _sigmoid(value: float) -> float:
    return float(1.0 / (1.0 + np.exp(-value)))


def _label(names: list[str], data: Any, feature: int) -> str:
    return names[feature] if data is None else f"{names[feature]} = {format_data(data[feature])}"
