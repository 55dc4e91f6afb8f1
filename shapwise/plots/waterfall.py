"""Waterfall plot: how one row's features move the output from the base value to the model output."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.plots._common import (
    BLUE,
    RED,
    clean_spines,
    displayed_features,
    dtype_note,
    feature_names,
    finish,
    format_number,
    format_signed,
    labelled_with_data,
    local,
    new_axes,
    scalar,
)


def waterfall(
    explanation: Explanation, max_display: int = 10, show: bool = True, ax: Any = None
) -> Any:
    """Bars that start at the base value E[f(X)] and end at the model output f(x).

    Args:
        explanation: one row with one output, e.g. ``exp[0]`` or ``exp[0, :, 1]``.
        max_display: the most bars; the smallest features are folded into "Sum of N other features".

    Returns:
        The matplotlib Axes.
    """
    explanation = local(explanation, "waterfall")
    values = explanation.values.astype(np.float64)
    base = scalar(explanation.base_values)
    base = 0.0 if base is None else base
    names = labelled_with_data(feature_names(explanation), explanation.data)
    _, labels, entries = displayed_features(values, names, values, max_display)
    # Smallest (and the summed rest) at the bottom, so the last step lands on f(x) at the top.
    labels, steps = labels[::-1], [float(step) for step in entries[::-1]]

    ax = new_axes(ax, (8, 0.45 * len(steps) + 1.8))
    starts = base + np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    output = base + float(np.sum(steps))
    positions = np.arange(len(steps))
    colors = [RED if step >= 0 else BLUE for step in steps]
    ax.barh(positions, steps, left=starts, color=colors, height=0.6)
    span = max(np.ptp(np.concatenate([starts, starts + steps])), 1e-12)
    for position, start, step in zip(positions, starts, steps, strict=True):
        end = start + step
        ax.text(
            max(start, end) + 0.01 * span,
            position,
            format_signed(step),
            va="center",
            ha="left",
            fontsize=9,
            color=RED if step >= 0 else BLUE,
        )
    ax.set_yticks(positions, labels)
    ax.axvline(base, color="#888888", linestyle="--", linewidth=0.8)
    ax.axvline(output, color="#888888", linestyle="--", linewidth=0.8)
    ax.set_ylim(-0.7, len(steps) - 0.3)
    ax.set_xlabel(f"E[f(X)] = {format_number(base, 4)}")
    top = ax.secondary_xaxis("top")
    top.set_xticks([output], [f"f(x) = {format_number(output, 4)}"])
    clean_spines(ax)
    dtype_note(ax, explanation)
    finish(ax.figure, show)
    return ax
