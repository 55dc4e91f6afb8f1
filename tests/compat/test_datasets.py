"""``shap.datasets`` with ``import shapwise as shap``: the offline data sets are shap's (the same
frames as shap 0.51 returns), the synthetic ones have their stated structure, and the others say
that they need a download."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import shapwise as shap
from shapwise.datasets import DatasetUnavailableError

real_shap = pytest.importorskip("shap")


@pytest.mark.parametrize("name", ["diabetes", "iris", "linnerud"])
def test_bundled_data_sets_are_shaps(name):
    X, y = getattr(shap.datasets, name)()
    X_shap, y_shap = getattr(real_shap.datasets, name)()
    pd.testing.assert_frame_equal(X, X_shap)
    if isinstance(y_shap, pd.DataFrame):
        pd.testing.assert_frame_equal(y, y_shap)
    else:
        np.testing.assert_array_equal(y, y_shap)


def test_iris_labels_by_name_and_subsamples_keep_rows_and_targets_paired():
    X, labels = shap.datasets.iris(display=True)
    assert set(labels) == {"setosa", "versicolor", "virginica"} and len(labels) == 150
    _, full_y = shap.datasets.diabetes()
    X, y = shap.datasets.diabetes(n_points=30)
    assert X.shape == (30, 10) and y.shape == (30,)
    np.testing.assert_array_equal(full_y[X.index.to_numpy()], y)  # each row keeps its target


def test_corrgroups60_has_groups_of_three_correlated_099():
    X, y = shap.datasets.corrgroups60(n_points=500)
    assert X.shape == (500, 60)
    correlation = np.corrcoef(X.to_numpy().T)
    expected = np.eye(60)
    for start in range(0, 30, 3):
        expected[start : start + 3, start : start + 3] = 0.99
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(correlation, expected, atol=1e-10)
    beta = np.zeros(60)
    beta[0:30:3] = 1.0
    noise = y - X.to_numpy() @ beta
    assert 0.005 < noise.std() < 0.02
    again, _ = shap.datasets.corrgroups60(n_points=500)
    pd.testing.assert_frame_equal(X, again)


def test_independentlinear60_is_centred_and_linear():
    X, y = shap.datasets.independentlinear60(n_points=400)
    np.testing.assert_allclose(X.to_numpy().mean(0), 0.0, atol=1e-12)
    beta = np.zeros(60)
    beta[0:30:3] = 1.0
    assert np.abs(y - X.to_numpy() @ beta).max() < 0.06


@pytest.mark.parametrize("name", ["adult", "nhanesi", "imdb", "communitiesandcrime", "a1a"])
def test_data_sets_that_need_a_download_say_so(name):
    with pytest.raises(DatasetUnavailableError, match="downloads .* offline"):
        getattr(shap.datasets, name)()


def test_california_is_served_only_from_a_local_copy():
    try:
        X, y = shap.datasets.california(n_points=10)
    except DatasetUnavailableError as error:
        assert "not bundled" in str(error) and "fetch_california_housing" in str(error)
    else:
        assert X.shape == (10, 8) and y.shape == (10,)
