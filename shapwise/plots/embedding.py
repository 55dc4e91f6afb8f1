"""Embedding plot: rows placed by a 2-D projection of their SHAP values, coloured by one
feature's SHAP value (rows the model explains alike lie together)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.plots._arrays import feature_position, rows_explanation
from shapwise.plots._common import clean_spines, finish, new_axes, one_output
from shapwise.plots._common import feature_names as names_of


def embedding(
    ind: int | str,
    shap_values: Any,
    feature_names: Sequence[str] | None = None,
    method: Any = "pca",
    alpha: float = 1.0,
    show: bool = True,
    ax: Any = None,
) -> Any:
    """Scatter of the rows in 2-D.

    Args:
        ind: the feature whose SHAP values colour the points (position, name, "rank(k)").
        shap_values: rows x features (array or Explanation).
        method: 'pca' (the first two principal components of the SHAP values) or the (rows, 2)
            coordinates themselves.

    Returns:
        The matplotlib Axes (its first collection holds the points, in row order).
    """
    explanation = one_output(
        rows_explanation(shap_values, None, feature_names, "embedding"), "embedding"
    )
    values = np.asarray(explanation.values, dtype=np.float64)
    names = names_of(explanation)
    position = feature_position(ind, names, values)
    if isinstance(method, str):
        if method != "pca":
            raise ValueError(f"method must be 'pca' or (rows, 2) coordinates; got {method!r}")
        from sklearn.decomposition import PCA

        coordinates = PCA(2).fit_transform(values)
    else:
        coordinates = np.asarray(method, dtype=np.float64)
        if coordinates.shape != (len(values), 2):
            raise ValueError(
                f"coordinates must have shape ({len(values)}, 2), one point per row; got "
                f"{coordinates.shape}"
            )
    from shapwise.plots.colors import red_blue

    column = values[:, position]
    limit = max(np.nanpercentile(np.abs(column), 99), 1e-12)
    ax = new_axes(ax, (7, 5))
    points = ax.scatter(
        coordinates[:, 0],
        coordinates[:, 1],
        c=column,
        cmap=red_blue,
        vmin=-limit,
        vmax=limit,
        alpha=alpha,
        s=14,
        linewidths=0,
    )
    bar = ax.figure.colorbar(points, ax=ax, aspect=40, pad=0.02)
    bar.set_label(f"SHAP value for\n{names[position]}")
    bar.outline.set_visible(False)
    ax.set_xticks([])
    ax.set_yticks([])
    clean_spines(ax)
    ax.spines["bottom"].set_visible(False)
    finish(ax.figure, show)
    return ax
