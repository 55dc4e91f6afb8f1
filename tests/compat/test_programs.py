"""shap-style programs, written as shap's documentation writes them, run with
``import shapwise as shap``; each asserts its results (closed forms, or shap 0.51 itself where
both are exact)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import shapwise as shap

matplotlib.use("Agg")
real_shap = pytest.importorskip("shap")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_a_linear_model_on_diabetes_as_in_shaps_introduction():
    from sklearn.linear_model import LinearRegression

    X, y = shap.datasets.diabetes()
    model = LinearRegression().fit(X, y)
    background = shap.utils.sample(X, 100)
    explainer = shap.Explainer(model.predict, background)
    shap_values = explainer(X.iloc[:20])
    # interventional SHAP values of a linear model: w_i (x_i - E[x_i]) over the background
    expected = model.coef_ * (X.iloc[:20].to_numpy() - background.to_numpy().mean(0))
    np.testing.assert_allclose(shap_values.values, expected, atol=1e-8)
    np.testing.assert_allclose(
        shap_values.base_values, model.predict(background).mean(), rtol=1e-10
    )
    assert shap_values.feature_names == list(X.columns)
    assert repr(shap_values).startswith(".values =\narray(")
    shap.plots.bar(shap_values, show=False)
    shap.plots.beeswarm(shap_values, color=shap.plots.colors.red_blue, show=False)
    shap.plots.scatter(shap_values[:, "bmi"], color=shap_values, show=False)
    shap.plots.waterfall(shap_values[0], show=False)
    assert shap.initjs() is None


def test_the_mean_and_covariance_background_of_a_linear_model():
    from sklearn.linear_model import LinearRegression

    X, y = shap.datasets.diabetes()
    model = LinearRegression().fit(X, y)
    moments = {"mean": X.to_numpy().mean(0), "cov": np.cov(X.to_numpy(), rowvar=False)}
    masker = shap.maskers.Independent(moments)
    explainer = shap.explainers.Exact(model.predict, masker)
    values = explainer(X.to_numpy()[:5]).values
    np.testing.assert_allclose(
        values, model.coef_ * (X.to_numpy()[:5] - moments["mean"]), atol=1e-8
    )


def test_impute_gives_correlation_aware_values_of_a_linear_model():
    """Exact Shapley values of the game v(S) = f(E[x | x_S]) equal brute force over the closed
    form conditional means (Gaussian, through the precision matrix)."""
    from itertools import combinations
    from math import factorial

    rng = np.random.default_rng(0)
    root = rng.normal(size=(3, 3))
    cov = root @ root.T + 0.3 * np.eye(3)
    mean = np.array([0.5, -1.0, 2.0])
    weights = np.array([1.0, -2.0, 0.5])
    x = np.array([1.5, 0.0, 1.0])
    precision = np.linalg.inv(cov)

    def value(coalition):
        hidden = [i for i in range(3) if i not in coalition]
        filled = x.copy()
        if hidden:
            visible = list(coalition)
            shift = np.linalg.solve(
                precision[np.ix_(hidden, hidden)],
                precision[np.ix_(hidden, visible)] @ (x - mean)[visible],
            )
            filled[hidden] = mean[hidden] - shift
        return weights @ filled

    truth = np.zeros(3)
    for i in range(3):
        others = [j for j in range(3) if j != i]
        for size in range(3):
            for coalition in combinations(others, size):
                weight = factorial(size) * factorial(2 - size) / factorial(3)
                truth[i] += weight * (value(set(coalition) | {i}) - value(set(coalition)))
    masker = shap.maskers.Impute({"mean": mean, "cov": cov})
    explained = shap.explainers.Exact(lambda rows: rows @ weights, masker)(x[None])
    np.testing.assert_allclose(explained.values[0], truth, atol=1e-10)
    np.testing.assert_allclose(explained.base_values[0], weights @ mean, atol=1e-10)


def test_explanation_operations_match_shaps():
    rng = np.random.default_rng(1)
    values, base, data = rng.normal(size=(8, 4)), rng.normal(size=8), rng.normal(size=(8, 4))
    names = ["a", "b", "c", "d"]
    ours = shap.Explanation(values, base_values=base, data=data, feature_names=names)
    theirs = real_shap.Explanation(values, base_values=base, data=data, feature_names=names)
    np.testing.assert_allclose(ours.abs.mean(0).values, theirs.abs.mean(0).values)
    np.testing.assert_array_equal(
        ours.abs.mean(0).argsort.flip.values, theirs.abs.mean(0).argsort.flip.values
    )
    np.testing.assert_allclose(ours[:, "c"].values, theirs[:, "c"].values)
    np.testing.assert_allclose(ours[2:5].data, theirs[2:5].data)
    np.testing.assert_allclose(ours.sum(1).values, theirs.sum(1).values)
    np.testing.assert_allclose(ours.hstack(ours).values, theirs.hstack(theirs).values)
    assert repr(ours) == repr(theirs)
    labels = np.array(["x", "y"] * 4)
    ours_groups = ours.cohorts(labels).abs.mean(0)
    theirs_groups = theirs.cohorts(labels).abs.mean(0)
    for name in ("x", "y"):
        np.testing.assert_allclose(
            ours_groups.cohorts[name].values, theirs_groups.cohorts[name].values
        )
    grouped = shap.Cohorts(first=ours[:4], second=ours[4:])
    shap.plots.bar(grouped.abs.mean(0), show=False)


def test_partition_masker_and_owen_values_of_an_additive_model():
    """For an additive model Owen values equal the Shapley values w_i (x_i - E[x_i]) whatever the
    hierarchy."""
    X, _ = shap.datasets.diabetes()
    weights = np.arange(1.0, 11.0)
    masker = shap.maskers.Partition(X.iloc[:50], clustering="correlation")
    explainer = shap.explainers.Partition(lambda rows: np.asarray(rows) @ weights, masker)
    explained = explainer(X.iloc[:3], max_evals=500)
    expected = weights * (X.iloc[:3].to_numpy() - X.iloc[:50].to_numpy().mean(0))
    np.testing.assert_allclose(explained.values, expected, atol=1e-8)
    assert explained.feature_names == list(X.columns)
