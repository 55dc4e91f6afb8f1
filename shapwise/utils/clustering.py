"""Hierarchical clusterings: of features (``hclust``, for Owen values and bar plots) and of rows
(``hclust_ordering``, for heatmaps)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from shapwise.errors import DimensionError

LINKAGES = ("single", "complete", "average")


def _matrix(X: Any, what: str = "X") -> np.ndarray:
    array = np.asarray(X.values if hasattr(X, "iloc") else X)
    if array.ndim != 2:
        raise DimensionError(f"{what} needs to be a 2-dimensional array (rows, features)")
    return array.astype(np.float64)


def hclust(
    X: Any,
    y: Any = None,
    linkage: str = "single",
    metric: str = "auto",
    random_state: int = 0,
) -> np.ndarray:
    """A scipy linkage matrix over the features (columns) of ``X``.

    Args:
        X: rows (array or DataFrame).
        y: a target; with it (``metric="auto"``) features are joined when one predicts as much of
            ``y`` as the other (redundancy distances, see :func:`redundancy_distances`).
        linkage: 'single', 'complete' or 'average'.
        metric: a scipy distance metric between feature columns, 'xgboost_distances_r2' (shap's
            name for redundancy distances), or 'auto' (redundancy with ``y``, else 'cosine').
        random_state: seed of the train/test split of the redundancy distances.
    """
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import pdist

    data = _matrix(X)
    if linkage not in LINKAGES:
        raise ValueError(f"Unknown linkage type: {linkage} (use one of {LINKAGES})")
    if metric == "auto":
        metric = "xgboost_distances_r2" if y is not None else "cosine"
    if metric == "xgboost_distances_r2":
        if y is None:
            raise ValueError("redundancy distances need the target: hclust(X, y)")
        full = redundancy_distances(data, np.asarray(y, dtype=np.float64), random_state)
        join = {"single": np.minimum, "complete": np.maximum}.get(linkage)
        pairs = list(combinations(range(data.shape[1]), 2))
        condensed = np.array(
            [
                join(full[i, j], full[j, i]) if join else (full[i, j] + full[j, i]) / 2
                for i, j in pairs
            ]
        )
    else:
        # NaN becomes its column's mean; columns are compared as given (no random jitter)
        filled = np.where(np.isnan(data), np.nanmean(data, axis=0), data)
        condensed = np.nan_to_num(pdist(filled.T, metric=metric), nan=1.0)
    return hierarchy.linkage(condensed, method=linkage)


def _univariate_fit(x_train: np.ndarray, target: np.ndarray, x_test: np.ndarray) -> tuple:
    """Predictions of ``target`` from one feature: the target's mean in each of up to 32
    quantile bins of the feature (a piecewise-constant fit), on the train and test rows."""
    edges = np.unique(np.quantile(x_train, np.linspace(0, 1, 33)[1:-1]))
    train_bins = np.searchsorted(edges, x_train)
    test_bins = np.searchsorted(edges, x_test)
    sums = np.bincount(train_bins, weights=target, minlength=len(edges) + 1)
    counts = np.bincount(train_bins, minlength=len(edges) + 1)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), target.mean())
    return means[train_bins], means[test_bins]


def redundancy_distances(X: np.ndarray, y: np.ndarray, random_state: int = 0) -> np.ndarray:
    """Distances (features, features) in [0, 1]: entry (i, j) is 1 - R² of predicting, from
    feature j alone, what feature i alone predicts of ``y`` (0: j makes i redundant).

    shap fits these univariate models with depth-1 XGBoost; shapwise fits binned means, which
    is what such a boosted model of one feature converges to.
    """
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(X))
    cut = max(1, int(0.75 * len(X)))
    train, test = order[:cut], order[cut:] if cut < len(X) else order[:cut]
    n_features = X.shape[1]
    train_preds, test_preds = [], []
    for i in range(n_features):
        fitted = _univariate_fit(X[train, i], y[train], X[test, i])
        train_preds.append(fitted[0])
        test_preds.append(fitted[1])
    distances = np.ones((n_features, n_features))
    for i in range(n_features):
        spread = np.var(test_preds[i])
        if spread < 1e-12:
            continue  # a feature without signal is redundant with nothing
        for j in range(n_features):
            predicted = _univariate_fit(X[train, j], train_preds[i], X[test, j])[1]
            r2 = max(0.0, 1.0 - np.mean((test_preds[i] - predicted) ** 2) / spread)
            distances[i, j] = 1.0 - r2
    return distances


def hclust_ordering(X: Any, metric: str = "sqeuclidean", anchor_first: bool = False) -> np.ndarray:
    """An order of the rows of ``X`` that keeps similar rows next to each other (the leaves of a
    complete-linkage clustering in optimal leaf order)."""
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import pdist

    data = _matrix(X)
    if len(data) < 2:
        return np.arange(len(data))
    distances = pdist(data, metric)
    tree = hierarchy.optimal_leaf_ordering(hierarchy.complete(distances), distances)
    order = hierarchy.leaves_list(tree)
    if anchor_first and order[0] != 0 and order[-1] == 0:
        order = order[::-1]
    return order
