"""Shared data and checks for the tree tests: small real models train on these in well under a second."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers.tree._table import (
    LEFT_IF_IN_CATEGORIES,
    TreeEnsemble,
    margin_tolerance,
    predict_margin,
)

N_FEATURES = 5


def regression_data(n_rows: int = 400, seed: int = 0, missing: float = 0.0):
    """X (n_rows, 5) with interactions in y; a share ``missing`` of X set to NaN."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_FEATURES))
    y = (
        X[:, 0]
        + 2.0 * X[:, 1] * (X[:, 2] > 0)
        + np.sin(3.0 * X[:, 3])
        + 0.1 * rng.normal(size=n_rows)
    )
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    return X, y


def classes_of(y: np.ndarray, n_classes: int) -> np.ndarray:
    """y cut at its quantiles into ``n_classes`` integer classes."""
    return np.digitize(y, np.quantile(y, np.linspace(0, 1, n_classes + 1)[1:-1]))


def predict_rows(n_rows: int = 200, seed: int = 1, missing: float = 0.1) -> np.ndarray:
    """Rows to predict: wider than the training data, with NaN and exact zeros."""
    rng = np.random.default_rng(seed)
    X = 1.5 * rng.normal(size=(n_rows, N_FEATURES))
    X[rng.random(X.shape) < 0.05] = 0.0
    X[rng.random(X.shape) < missing] = np.nan
    return X


def boundary_rows(ensemble: TreeEnsemble, base_row: np.ndarray, limit: int = 400) -> np.ndarray:
    """Rows that sit on, and one float32 / float64 step either side of, the model's thresholds.

    The table's thresholds are the library's moved for float64 inputs, so the library's own
    thresholds are recovered as the float32 values next to them; these rows are where a table that
    rounds differently from its library takes the other branch.
    """
    numeric = (ensemble.decision != LEFT_IF_IN_CATEGORIES) & np.isfinite(ensemble.threshold)
    internal = np.flatnonzero((ensemble.left >= 0) & numeric)
    internal = internal[: max(1, limit // 8)]
    rows = []
    for node in internal:
        t = ensemble.threshold[node]
        with np.errstate(over="ignore"):
            t32 = np.float32(t)
            candidates = {
                t,
                np.nextafter(t, np.inf),
                np.nextafter(t, -np.inf),
                float(t32),
                float(np.nextafter(t32, np.float32(np.inf))),
                float(np.nextafter(t32, np.float32(-np.inf))),
                float(np.nextafter(float(t32), np.inf)),
                float(np.nextafter(float(t32), -np.inf)),
            }
        for value in candidates:
            row = base_row.copy()
            row[ensemble.feature[node]] = value
            rows.append(row)
    return np.asarray(rows)


def assert_same_margin(
    ensemble: TreeEnsemble, X: np.ndarray, expected: np.ndarray, dtype: type = np.float64
) -> None:
    """The table's margin equals the library's own raw output.

    For a library summing in float64 the bound is 1e-12 relative to the largest margin; for one
    summing in float32 it is the float32 rounding bound of the sum (``margin_tolerance``), far
    below any leaf value, so a wrong branch still fails.
    """
    expected = np.asarray(expected, dtype=np.float64).reshape(len(X), -1)
    table = predict_margin(ensemble, X)
    assert table.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    tolerance = 1e-12 * scale if dtype == np.float64 else margin_tolerance(ensemble, dtype)
    np.testing.assert_array_less(np.abs(table - expected), tolerance + 1e-300)


@pytest.fixture(scope="session")
def regression() -> tuple[np.ndarray, np.ndarray]:
    return regression_data()


@pytest.fixture(scope="session")
def regression_with_missing() -> tuple[np.ndarray, np.ndarray]:
    return regression_data(missing=0.1)


@pytest.fixture(scope="session")
def rows() -> np.ndarray:
    return predict_rows()
