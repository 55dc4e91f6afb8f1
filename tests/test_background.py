"""Background summaries: sample keeps rows, kmeans keeps weighted centroids that explainers honour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise.background import WeightedBackground


def test_sample_keeps_type_and_rows():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 3))
    picked = shapwise.sample(data, 10)
    assert picked.shape == (10, 3)
    assert all(any(np.array_equal(row, other) for other in data) for row in picked)
    assert len({tuple(row) for row in picked}) == 10  # without replacement
    np.testing.assert_array_equal(shapwise.sample(data, 10), picked)  # seeded
    frame = pd.DataFrame(data, columns=["a", "b", "c"])
    assert list(shapwise.sample(frame, 5).columns) == ["a", "b", "c"]
    assert shapwise.sample(data, 100) is data
    with pytest.raises(ValueError, match="n >= 1"):
        shapwise.sample(data, 0)


def test_kmeans_weights_are_cluster_shares_and_values_are_data_values():
    rng = np.random.default_rng(1)
    blobs = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (10, 2))])
    frame = pd.DataFrame(np.round(blobs, 1), columns=["x", "y"])
    summary = shapwise.kmeans(frame, 2)
    assert isinstance(summary, WeightedBackground)
    np.testing.assert_allclose(np.sort(summary.weights), [0.25, 0.75])
    assert summary.feature_names == ["x", "y"]
    for column in range(2):  # rounded to values the feature takes in the data
        assert set(summary.data[:, column]) <= set(frame.iloc[:, column])
    # the weighted mean of the centroids is close to the data mean
    np.testing.assert_allclose(summary.weights @ summary.data, blobs.mean(axis=0), atol=0.1)


def test_weighted_background_is_honoured_by_every_explainer():
    rows = np.array([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]])
    weights = np.array([3.0, 1.0])
    model = lambda X: X[:, 0] * X[:, 1] + np.sin(X[:, 2])  # noqa: E731
    x = np.array([[0.5, 0.2, -1.0]])
    repeated = np.repeat(rows, [3, 1], axis=0)
    for name in ("exact", "permutation", "kernel"):
        weighted = shapwise.Explainer(model, WeightedBackground(rows, weights), algorithm=name)
        plain = shapwise.Explainer(model, repeated, algorithm=name)
        np.testing.assert_allclose(weighted(x).values, plain(x).values, atol=1e-12)
        np.testing.assert_allclose(weighted(x).base_values, model(repeated).mean(), atol=1e-12)


def test_bad_weights_and_k_raise():
    with pytest.raises(ValueError, match="one weight per background row: 3 weights for 2 rows"):
        WeightedBackground(np.zeros((2, 2)), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative and not all zero"):
        WeightedBackground(np.zeros((2, 2)), [1.0, -1.0])
    with pytest.raises(ValueError, match="1 <= k <= 4"):
        shapwise.kmeans(np.zeros((4, 2)), 5)


def test_weighted_background_with_the_linearised_logit_link():
    rows = np.array([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]])
    model = lambda X: 1 / (1 + np.exp(-(X[:, 0] * X[:, 1] + np.sin(X[:, 2]))))  # noqa: E731
    x = np.array([[0.5, 0.2, -1.0]])
    repeated = np.repeat(rows, [3, 1], axis=0)
    tree = np.array([[0.0, 1.0, 0.5, 2.0], [2.0, 3.0, 1.0, 3.0]])  # (0, 1) then 2

    def explain(masker):
        masker.clustering = tree
        return shapwise.explainers.Partition(model, masker, link="logit")(x, max_evals=100)

    weighted = explain(WeightedBackground(rows, [3.0, 1.0]))
    plain = explain(shapwise.maskers.Independent(repeated))
    np.testing.assert_allclose(weighted.values, plain.values, atol=1e-12)
    np.testing.assert_allclose(weighted.base_values, plain.base_values, atol=1e-12)
