"""Background summaries: a few rows (weighted, for k-means) that stand for a large data set.

Explainers average the model over the background for every coalition, so their cost grows with its
rows. ``sample`` keeps ``n`` random rows; ``kmeans`` keeps ``k`` centroids, each weighted by the share
of the data in its cluster, and every explainer averages over them with those weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.maskers.tabular import Independent
from shapwise.numeric import Columns, check_finite, read_table, to_numpy


class WeightedBackground(Independent):
    """An :class:`~shapwise.maskers.Independent` masker whose background rows carry weights.

    Args:
        data: the background rows (rows, features): an array, or a DataFrame (of any column
            types, as for ``Independent``).
        weights: one non-negative weight per row; normalised to sum to 1.
        feature_names: names of the columns (of an array; a DataFrame has its own).
    """

    def __init__(self, data: Any, weights: Any, feature_names: list[str] | None = None) -> None:
        super().__init__(data, max_samples=max(len(data), 1))
        if feature_names is not None and self.columns is None:
            self.columns = Columns(tuple(str(name) for name in feature_names))
        weights = to_numpy(weights, name="the background weights").astype(np.float64).ravel()
        if weights.shape != (len(self.data),):
            raise ValueError(
                f"give one weight per background row: {len(weights)} weights for "
                f"{len(self.data)} rows"
            )
        check_finite(weights, "the background weights")
        if np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("background weights must be non-negative and not all zero")
        self.weights = weights / weights.sum()
        self.feature_names = None if self.columns is None else self.columns.names

    def __repr__(self) -> str:
        return f"WeightedBackground({len(self.data)} rows, {self.data.shape[1]} features)"


def _rows_of(data: Any, what: str) -> tuple[np.ndarray, list[str] | None]:
    table = read_table(data, name=what)
    array = table.values
    if array.dtype == object:
        raise TypeError(
            f"{what} has non-numeric columns, and k-means averages numbers; summarise it with "
            "shapwise.sample(data, k) (random rows, any column types) instead"
        )
    if array.ndim != 2 or len(array) == 0:
        raise ValueError(
            f"{what} must be a non-empty 2-D array (rows, features); got {array.shape}"
        )
    check_finite(array, what)
    return array, table.names


def sample(data: Any, n: int = 100, random_state: int | None = 0) -> Any:
    """``n`` rows of ``data`` drawn without replacement, in the type given (array or DataFrame):
    the rows shap's ``sample`` draws for the same ``random_state`` (scikit-learn's shuffle),
    kept in their original order.

    All rows are returned, in order, when ``data`` has no more than ``n``.
    """
    from sklearn.utils import shuffle

    if int(n) < 1:
        raise ValueError(f"sample needs n >= 1 rows; got {n}")
    count = len(data)
    if count <= n:
        return data
    picked = np.sort(shuffle(np.arange(count), n_samples=int(n), random_state=random_state))
    if hasattr(data, "iloc"):
        return data.iloc[picked]
    return np.asarray(data)[picked]


def kmeans(
    data: Any, k: int, round_values: bool = True, random_state: int = 0
) -> WeightedBackground:
    """Summarise ``data`` by ``k`` k-means centroids weighted by the size of their clusters.

    Args:
        data: rows (array or DataFrame).
        k: number of centroids.
        round_values: move each centroid coordinate to the nearest value that feature takes in
            ``data`` (so integer and one-hot features keep valid values), as shap does.
        random_state: seed of the k-means initialisation.

    Returns:
        A :class:`WeightedBackground`; pass it as the background (masker) of any explainer.
    """
    from sklearn.cluster import KMeans

    rows, names = _rows_of(data, "the data to summarise")
    k = int(k)
    if not 1 <= k <= len(rows):
        raise ValueError(f"kmeans needs 1 <= k <= {len(rows)} (the number of rows); got k={k}")
    fit = KMeans(n_clusters=k, random_state=random_state, n_init=10).fit(rows.astype(np.float64))
    centroids = fit.cluster_centers_
    if round_values:
        for j in range(rows.shape[1]):
            nearest = np.abs(rows[:, j][None, :] - centroids[:, j][:, None]).argmin(axis=1)
            centroids[:, j] = rows[nearest, j]
    counts = np.bincount(fit.labels_, minlength=k).astype(np.float64)
    keep = counts > 0
    return WeightedBackground(centroids[keep].astype(rows.dtype), counts[keep], feature_names=names)
