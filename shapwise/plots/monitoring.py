"""Monitoring plot: one feature's SHAP values (of a loss, say) in row order, e.g. over time,
with the split where they change most significantly marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.numeric import feature_names_of
from shapwise.plots._arrays import feature_data, feature_position
from shapwise.plots._common import clean_spines, finish, new_axes

STEP = 50


def change_point(values: np.ndarray, n_tests_for: int) -> int | None:
    """The split (a multiple of 50 rows) whose two-sample t-test of the values before and after
    has the smallest p-value, if that p-value is below 0.05 / ``n_tests_for`` (a Bonferroni
    bound over the features); else None."""
    from scipy.stats import ttest_ind

    splits = list(range(STEP, len(values) - STEP, STEP))
    if not splits:
        return None
    p_values = [ttest_ind(values[:split], values[split:]).pvalue for split in splits]
    best = int(np.nanargmin(p_values))
    return splits[best] if p_values[best] < 0.05 / n_tests_for else None


def monitoring(
    ind: int | str,
    shap_values: Any,
    features: Any,
    feature_names: Sequence[str] | None = None,
    show: bool = True,
    ax: Any = None,
) -> Any:
    """Feature ``ind``'s SHAP value for each row, by row index, coloured by its value; a dashed
    line marks a significant change (see :func:`change_point`).

    Returns:
        The matplotlib Axes.
    """
    names = list(feature_names) if feature_names is not None else feature_names_of(features)
    data = feature_data(features)
    values = np.asarray(getattr(shap_values, "values", shap_values), dtype=np.float64)
    if values.ndim != 2 or data is None or data.shape != values.shape:
        raise ValueError(
            "monitoring needs shap_values and features of the same shape (rows, features); got "
            f"{values.shape} and {None if data is None else data.shape}"
        )
    position = feature_position(ind, names, values)
    name = names[position] if names else f"Feature {position}"
    column = values[:, position]
    from shapwise.plots.colors import red_blue

    ax = new_axes(ax, (10, 3))
    split = change_point(column, values.shape[1])
    if split is not None:
        ax.axvline(split, linestyle="dashed", color="#666666", alpha=0.5)
    points = ax.scatter(
        np.arange(len(column)), column, s=10, c=data[:, position].astype(np.float64), cmap=red_blue
    )
    bar = ax.figure.colorbar(points, ax=ax, aspect=20, pad=0.02)
    bar.set_label(name)
    bar.outline.set_visible(False)
    ax.set_xlabel("Sample index")
    ax.set_ylabel(f"{name}\nSHAP value")
    clean_spines(ax)
    ax.spines["left"].set_visible(True)
    finish(ax.figure, show)
    return ax
