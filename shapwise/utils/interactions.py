"""Which other feature seems to interact most with a given one (the colour of a dependence plot).

A cheap heuristic, as shap's: sort the rows by the feature's value, cut them into runs of up to
50, and add up, over the runs, how strongly each other feature correlates with the feature's
values inside the run. Exact interaction values come from explainers (``interactions=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.utils.general import convert_name

MAX_ROWS = 10_000


def _as_numbers(column: np.ndarray) -> np.ndarray:
    """A column as floats; strings and other labels become their rank among the labels."""
    try:
        return column.astype(np.float64)
    except (TypeError, ValueError):
        _, codes = np.unique(column.astype(str), return_inverse=True)
        return codes.astype(np.float64)


def _run_correlation(reference: np.ndarray, other: np.ndarray, step: int) -> float:
    total = 0.0
    for start in range(0, len(reference), step):
        a, b = reference[start : start + step], other[start : start + step]
        if np.std(a) > 0 and np.std(b) > 0:
            total += abs(np.corrcoef(a, b)[0, 1])
    return total


def _interaction_order(
    reference_values: np.ndarray, reference_data: np.ndarray, data: np.ndarray, skip: set[int]
) -> np.ndarray:
    rows = np.arange(len(data))
    if len(rows) > MAX_ROWS:
        rows = np.random.default_rng(0).choice(len(rows), MAX_ROWS, replace=False)
    order = np.argsort(_as_numbers(reference_data[rows]), kind="stable")
    reference = np.asarray(reference_values, dtype=np.float64)[rows][order]
    step = max(min(len(rows) // 10, 50), 1)
    scores = []
    for i in range(data.shape[1]):
        other = _as_numbers(data[rows, i])[order]
        if i in skip:
            scores.append(0.0)
            continue
        finite = np.nan_to_num(other)
        by_value = _run_correlation(reference, finite, step) if np.abs(finite).sum() > 1e-8 else 0
        missing = np.isnan(other).astype(np.float64)
        by_missing = _run_correlation(reference, missing, step) if missing.any() else 0.0
        scores.append(max(by_value, by_missing))
    return np.argsort(-np.abs(np.array(scores)), kind="stable")


def approximate_interactions(
    index: int | str, shap_values: Any, X: Any, feature_names: Any = None
) -> np.ndarray:
    """Other features ordered by how much they seem to interact with feature ``index``
    (a position, a name, or ``"rank(k)"``), most first; the feature itself comes last."""
    if hasattr(X, "iloc"):
        feature_names = list(X.columns) if feature_names is None else feature_names
        X = X.to_numpy()
    data = np.asarray(X)
    values = np.asarray(shap_values, dtype=np.float64)
    if values.shape != data.shape:
        raise ValueError(
            f"shap_values of shape {values.shape} do not match X of shape {data.shape}; pass "
            "the values of the rows in X"
        )
    position = convert_name(index, values, feature_names)
    return _interaction_order(values[:, position], data[:, position], data, {position})


def potential_interactions(shap_values_column: Any, shap_values_matrix: Any) -> np.ndarray:
    """:func:`approximate_interactions` for Explanations: a column ``exp[:, i]`` and the whole
    ``exp``; features whose values are the column's own rank last."""
    column_values = np.asarray(shap_values_column.values, dtype=np.float64)
    matrix_values = np.asarray(shap_values_matrix.values, dtype=np.float64)
    same = np.flatnonzero((matrix_values - column_values[:, None]).std(0) < 1e-8)
    data = np.asarray(shap_values_matrix.data)
    return _interaction_order(
        column_values, np.asarray(shap_values_column.data), data, set(same.tolist())
    )
