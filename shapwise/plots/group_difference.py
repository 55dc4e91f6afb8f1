"""Group difference plot: how much each feature's mean SHAP value differs between two groups
of rows, with bootstrap intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.plots._common import BLUE, clean_spines, finish, new_axes

BOOTSTRAP_ROUNDS = 200


def group_differences(values: np.ndarray, group_mask: np.ndarray, seed: int = 0) -> tuple:
    """(mean of the group - mean of the rest, per feature) and its 5th / 95th bootstrap
    percentiles (rows resampled within each group)."""
    first, second = values[group_mask], values[~group_mask]
    difference = first.mean(axis=0) - second.mean(axis=0)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            first[rng.integers(0, len(first), len(first))].mean(axis=0)
            - second[rng.integers(0, len(second), len(second))].mean(axis=0)
            for _ in range(BOOTSTRAP_ROUNDS)
        ]
    )
    return difference, np.percentile(draws, 5, axis=0), np.percentile(draws, 95, axis=0)


def group_difference(
    shap_values: Any,
    group_mask: Any,
    feature_names: Sequence[str] | None = None,
    xlabel: str | None = None,
    xmin: float | None = None,
    xmax: float | None = None,
    max_display: int | None = None,
    sort: bool = True,
    show: bool = True,
    ax: Any = None,
) -> Any:
    """One bar per feature: mean SHAP value of the rows in ``group_mask`` minus that of the rest.

    Args:
        shap_values: rows x features (array or Explanation), or one value per row (e.g. model
            outputs), drawn as a single bar.
        group_mask: one boolean per row; True is the first group.
        sort: largest |difference| at the top (else the features' own order).

    Returns:
        The matplotlib Axes.
    """
    if isinstance(shap_values, Explanation):
        feature_names = feature_names or shap_values.feature_names
        shap_values = shap_values.values
    values = np.asarray(shap_values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
        feature_names = feature_names or [""]
    mask = np.asarray(group_mask, dtype=bool)
    if mask.shape != (len(values),) or mask.all() or not mask.any():
        raise ValueError(
            f"group_mask needs one boolean per row ({len(values)}) with rows in both groups; "
            f"got shape {mask.shape} with {int(mask.sum())} True"
        )
    names = (
        list(feature_names)
        if feature_names is not None
        else [f"Feature {i}" for i in range(values.shape[1])]
    )
    difference, low, high = group_differences(values, mask)
    order = np.argsort(-np.abs(difference), kind="stable") if sort else np.arange(len(difference))
    if max_display is not None:
        order = order[:max_display]

    ax = new_axes(ax, (6.4, 0.2 + 0.9 * len(order)))
    positions = np.arange(len(order))[::-1]
    errors = np.abs(np.vstack([difference[order] - low[order], high[order] - difference[order]]))
    ax.barh(positions, difference[order], color=BLUE, xerr=errors, capsize=3)
    ax.axvline(0, color="#999999", linewidth=0.5)
    ax.set_yticks(positions, [names[i] for i in order])
    ax.set_xlabel(xlabel or "Group SHAP value difference")
    ax.set_xlim(xmin, xmax)
    clean_spines(ax)
    finish(ax.figure, show)
    return ax
