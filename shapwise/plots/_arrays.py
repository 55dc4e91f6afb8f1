"""shap-style plot inputs (arrays of values, a features matrix or DataFrame, names) as one
Explanation of rows x features, for the plots and legacy functions that take them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapwise.explanation import Explanation
from shapwise.numeric import feature_names_of


def feature_data(features: Any) -> np.ndarray | None:
    """The features as an array; a DataFrame keeps its cells (strings stay strings)."""
    if features is None:
        return None
    if hasattr(features, "to_numpy"):
        return features.to_numpy()
    return np.asarray(features)


def rows_explanation(
    shap_values: Any,
    features: Any = None,
    feature_names: Sequence[str] | None = None,
    plot: str = "plot",
) -> Explanation:
    """An explanation of rows x features from shap's arrays, or ``shap_values`` itself."""
    if isinstance(shap_values, Explanation):
        return shap_values
    values = np.asarray(shap_values, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise ValueError(
            f"{plot} draws values of shape (rows, features); got {values.shape}. For several "
            "outputs pass one of them, e.g. shap_values[..., 1]"
        )
    names = list(feature_names) if feature_names is not None else feature_names_of(features)
    data = feature_data(features)
    if data is not None:
        data = data.reshape(values.shape) if data.size == values.size else data
        if data.shape != values.shape:
            raise ValueError(
                f"features has shape {data.shape} but shap_values has shape {values.shape}; "
                "pass the rows that were explained"
            )
    return Explanation(values, data=data, feature_names=names, axis_kinds=("row", "feature"))


def feature_position(ind: Any, names: Sequence[str] | None, values: np.ndarray) -> int:
    """A feature's position from its position, its name or ``"rank(k)"``."""
    from shapwise.utils.general import convert_name

    position = convert_name(ind, values, names or [])
    if not isinstance(position, (int, np.integer)):
        raise ValueError(f"{ind!r} does not name one feature")
    return int(position)
