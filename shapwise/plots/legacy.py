"""shap's older plotting functions, for code that still calls them, drawn by the Explanation plots.

``summary_plot``, ``dependence_plot``, ``force_plot`` and ``image_plot`` take arrays as shap's did and
hand an :class:`~shapwise.Explanation` to ``beeswarm`` / ``bar``, ``scatter``, ``force`` and ``image``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.numeric import feature_names_of, to_numpy
from shapwise.plots.bar import bar
from shapwise.plots.beeswarm import beeswarm
from shapwise.plots.force import force
from shapwise.plots.image import image
from shapwise.plots.scatter import scatter


def _rows_explanation(
    shap_values: Any, features: Any, feature_names: Sequence[str] | None, plot: str
) -> Explanation:
    """An explanation of rows x features from shap-style arrays (values, optional data)."""
    if isinstance(shap_values, Explanation):
        return shap_values
    if isinstance(shap_values, list):
        raise ValueError(
            f"{plot} draws one output; this is a list of {len(shap_values)} outputs' values. "
            "Pass one of them, e.g. shap_values[1]"
        )
    values = to_numpy(shap_values, name="shap_values")
    if values.ndim != 2:
        raise ValueError(
            f"{plot} draws values of shape (rows, features); got {values.shape}. For several "
            "outputs pass one of them, e.g. shap_values[..., 1]"
        )
    names = list(feature_names) if feature_names is not None else feature_names_of(features)
    data = None if features is None else to_numpy(features, name="features")
    if data is not None and data.shape != values.shape:
        raise ValueError(
            f"features has shape {data.shape} but shap_values has shape {values.shape}; "
            "pass the rows that were explained"
        )
    return Explanation(values, data=data, feature_names=names, axis_kinds=("row", "feature"))


def summary_plot(
    shap_values: Any,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    max_display: int = 20,
    plot_type: str | None = None,
    show: bool = True,
) -> Any:
    """shap's summary plot: a beeswarm ('dot', the default) or global bars ('bar')."""
    explanation = _rows_explanation(shap_values, features, feature_names, "summary_plot")
    if plot_type in (None, "dot"):
        return beeswarm(explanation, max_display=max_display, show=show)
    if plot_type == "bar":
        return bar(explanation, max_display=max_display, show=show)
    raise ValueError(f"plot_type must be 'dot' or 'bar'; got {plot_type!r}")


def dependence_plot(
    ind: int | str,
    shap_values: Any,
    features: Any,
    feature_names: Sequence[str] | None = None,
    interaction_index: int | str | None = "auto",
    show: bool = True,
    ax: Any = None,
) -> Any:
    """shap's dependence plot: one feature's value against its attribution, coloured by another."""
    explanation = _rows_explanation(shap_values, features, feature_names, "dependence_plot")
    column = explanation[:, ind]
    if interaction_index == "auto":
        color: Explanation | None = explanation
    elif interaction_index is None:
        color = None
    else:
        color = explanation[:, interaction_index]
    return scatter(column, color=color, show=show, ax=ax)


def force_plot(
    base_value: Any,
    shap_values: Any,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    matplotlib: bool = True,
    show: bool = True,
) -> Any:
    """shap's force plot for one row, drawn statically (the ``matplotlib=True`` form)."""
    values = to_numpy(shap_values, name="shap_values")
    if values.ndim != 1:
        raise ValueError(
            f"force_plot draws one row; got values of shape {values.shape}. Pass shap_values[i]"
        )
    names = list(feature_names) if feature_names is not None else feature_names_of(features)
    data = None if features is None else to_numpy(features, name="features").reshape(-1)
    base = float(np.asarray(to_numpy(base_value, name="base_value")).reshape(-1)[0])
    explanation = Explanation(values, base_values=base, data=data, feature_names=names)
    return force(explanation, show=show)


def image_plot(
    shap_values: Any,
    pixel_values: Any = None,
    labels: Sequence[str] | None = None,
    show: bool = True,
) -> Any:
    """shap's image plot: values as a list with one (N, H, W, C) array per output, or one array."""
    if isinstance(shap_values, Explanation):
        return image(shap_values, labels=labels, show=show)
    if isinstance(shap_values, list):
        values = np.stack([to_numpy(v, name="shap_values") for v in shap_values], axis=-1)
    else:
        values = to_numpy(shap_values, name="shap_values")[..., None]
    data = None if pixel_values is None else to_numpy(pixel_values, name="pixel_values")
    explanation = Explanation(
        values, data=data, axis_kinds=("row",) + ("feature",) * (values.ndim - 2) + ("output",)
    )
    return image(explanation, labels=labels, show=show)
