"""Decision plot: each row's path from the base value (bottom) to its output (top)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.plots._common import (
    displayed_features,
    dtype_note,
    feature_importance,
    feature_names,
    finish,
    new_axes,
    one_output,
    red_blue_solid,
)


def decision(
    explanation: Explanation,
    max_display: int = 20,
    show: bool = True,
    ax: Any = None,
    order: Any = None,
) -> Any:
    """One line per row, adding features from the least important (bottom) to the most (top).

    Every line starts at the base value and ends at the row's model output; lines are coloured by
    that output. Features beyond ``max_display`` are added first, as "Sum of N other features".
    ``order`` ranks the features as in ``beeswarm`` (default: mean |value|).

    Returns:
        The matplotlib Axes.
    """
    explanation = one_output(explanation, "decision")
    if explanation.values.ndim == 1:
        explanation = _as_rows(explanation)
    values = explanation.values.astype(np.float64)
    if values.ndim != 2:
        raise ValueError(f"decision shows rows x features; got shape {values.shape}")
    base = np.zeros(len(values))
    if explanation.base_values is not None:
        base = np.broadcast_to(
            np.asarray(explanation.base_values, dtype=np.float64).reshape(-1), (len(values),)
        )
    names = feature_names(explanation)
    importance = feature_importance(order, explanation, np.abs(values).mean(axis=0))
    _, labels, steps = displayed_features(values, names, importance, max_display)
    # The most important feature last, so the paths end at the top with the model outputs.
    labels, steps = labels[::-1], steps[::-1]
    paths = base[:, None] + np.cumsum(np.stack(steps, axis=1), axis=1)
    paths = np.concatenate([base[:, None], paths], axis=1)

    ax = new_axes(ax, (8, 0.4 * len(labels) + 2))
    heights = np.arange(len(labels) + 1) - 0.5
    outputs = paths[:, -1]
    spread = np.ptp(outputs)
    shades = (outputs - outputs.min()) / spread if spread > 0 else np.full(len(outputs), 0.5)
    colormap = red_blue_solid()
    for path, shade in zip(paths, shades, strict=True):
        ax.plot(path, heights, color=colormap(shade), linewidth=1, alpha=0.8)
    ax.set_yticks(np.arange(len(labels)), labels)
    ax.set_ylim(-0.5, len(labels) - 0.5)
    ax.axvline(float(np.mean(base)), color="#888888", linestyle="--", linewidth=0.8)
    ax.set_xlabel("Model output value")
    ax.grid(axis="y", color="#eeeeee")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    dtype_note(ax, explanation)
    finish(ax.figure, show)
    return ax


def _as_rows(explanation: Explanation) -> Explanation:
    """A one-row explanation (values (1, n_features)) from a local one."""
    base = explanation.base_values
    return Explanation(
        explanation.values[None],
        base_values=None if base is None else np.reshape(base, (1,)),
        data=None if explanation.data is None else explanation.data[None],
        feature_names=explanation.feature_names,
        model_dtype=explanation.model_dtype,
    )
