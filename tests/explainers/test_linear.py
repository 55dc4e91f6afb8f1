"""Linear explainer: closed forms, brute-force conditional Shapley values, and shap's values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge

import shapwise
from shapwise.background import WeightedBackground
from shapwise.explainers import Linear
from tests.reference import shapley_values


def _data(n_rows=80, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_features, n_features))
    X = rng.normal(size=(n_rows, n_features)) @ mixing  # correlated features
    return X


def _models(X):
    y = X[:, 0] * 2.0 - X[:, 3] + 0.5
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    classes = np.digitize(X[:, 2], np.quantile(X[:, 2], [0.33, 0.66]))
    return [
        LinearRegression().fit(X, y),
        Ridge(alpha=1.0).fit(X, y),
        Lasso(alpha=0.1).fit(X, y),
        LogisticRegression().fit(X, labels),
        LogisticRegression(max_iter=2000).fit(X, classes),
    ]


def _margin(model, X):
    return model.decision_function(X) if hasattr(model, "decision_function") else model.predict(X)


@pytest.mark.parametrize("index", range(5))
def test_interventional_closed_form_and_shap(index):
    import shap

    X = _data()
    model = _models(X)[index]
    explanation = Linear(model, X)(X[:6])
    coef = np.atleast_2d(model.coef_)
    expected = (X[:6] - X.mean(axis=0))[:, :, None] * coef.T[None]
    np.testing.assert_allclose(explanation.values, expected.reshape(explanation.shape), atol=1e-12)
    total = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(total, _margin(model, X[:6]), atol=1e-10)
    theirs = shap.LinearExplainer(model, X)  # 80 rows: shap's masker keeps all of them
    reference = theirs.shap_values(X[:6])
    np.testing.assert_allclose(  # shap's values add up too: compare only then
        reference.sum(axis=1) + theirs.expected_value, _margin(model, X[:6]), atol=1e-10
    )
    np.testing.assert_allclose(Linear(model, X).shap_values(X[:6]), reference, atol=1e-12)
    np.testing.assert_allclose(Linear(model, X).expected_value, theirs.expected_value, atol=1e-12)


def _gaussian_game(coef, intercept, mean, cov, x):
    """v(S) = f(E[X | X_S = x_S]) for a Gaussian background, straight from the formula."""
    n = len(mean)

    def game(coalition):
        shown = sorted(coalition)
        hidden = [i for i in range(n) if i not in shown]
        z = mean.copy()
        if shown:
            z[shown] = x[shown]
            gain = cov[np.ix_(hidden, shown)] @ np.linalg.solve(
                cov[np.ix_(shown, shown)], x[shown] - mean[shown]
            )
            z[hidden] = mean[hidden] + gain
        return coef @ z + intercept

    return game


def test_correlation_dependent_equals_brute_force_conditional_shapley():
    rng = np.random.default_rng(1)
    n = 5
    coef, intercept = rng.normal(size=n), 0.3
    root = rng.normal(size=(n, n))
    cov, mean = root @ root.T, rng.normal(size=n)
    x = rng.normal(size=n)
    truth = shapley_values(_gaussian_game(coef, intercept, mean, cov, x), n)
    explainer = Linear((coef, intercept), (mean, cov), feature_perturbation="correlation_dependent")
    np.testing.assert_allclose(explainer.shap_values(x), truth, atol=1e-10)
    assert explainer.shap_values(x).shape == (n,)


def test_correlation_dependent_sampled_transform_converges(monkeypatch):
    import shapwise.explainers.linear as linear

    rng = np.random.default_rng(2)
    n = 6
    coef, root = rng.normal(size=n), rng.normal(size=(n, n))
    cov, mean, x = root @ root.T, rng.normal(size=n), rng.normal(size=n)
    truth = shapley_values(_gaussian_game(coef, 0.0, mean, cov, x), n)
    monkeypatch.setattr(linear, "EXACT_MAX_FEATURES", 3)  # force the permutation estimate
    errors = []
    for nsamples in (50, 2000):
        explainer = Linear(
            (coef, 0.0),
            (mean, cov),
            feature_perturbation="correlation_dependent",
            nsamples=nsamples,
        )
        values = explainer.shap_values(x)
        np.testing.assert_allclose(values.sum(), coef @ (x - mean), atol=1e-10)
        errors.append(np.abs(values - truth).mean())
    assert errors[1] < errors[0]
    assert errors[1] < 0.06 * np.abs(truth).mean()  # measured 3.7% with 2000 permutations


@pytest.mark.parametrize("index", [0, 3])
def test_correlation_dependent_agrees_with_shap_sampling(index):
    import shap

    X = _data()
    model = _models(X)[index]
    ours = Linear(model, X, feature_perturbation="correlation_dependent")
    explanation = ours(X[:5])
    total = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(total, _margin(model, X[:5]), atol=1e-10)
    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = shap.LinearExplainer(
            model, X, feature_perturbation="correlation_dependent", nsamples=4000
        )
    reference = theirs.shap_values(X[:5])
    # shap estimates the same transform from 4000 random permutations: agreement to its noise
    scale = np.abs(reference).mean()
    assert np.abs(explanation.values - reference).mean() < 0.03 * scale


def test_weighted_background_uses_weighted_mean():
    rng = np.random.default_rng(3)
    rows, weights = rng.normal(size=(3, 4)), np.array([0.6, 0.3, 0.1])
    coef = rng.normal(size=4)
    explainer = Linear((coef, 1.0), WeightedBackground(rows, weights))
    np.testing.assert_allclose(explainer.expected_value, coef @ (weights @ rows) + 1.0)
    independent = Linear((coef, 1.0), shapwise.maskers.Independent(rows))
    np.testing.assert_allclose(independent.expected_value, coef @ rows.mean(axis=0) + 1.0)


def test_factory_routes_sklearn_linear_models_and_dataframes():
    import pandas as pd

    X = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    model = LogisticRegression().fit(frame, (X[:, 0] > 0).astype(int))
    explainer = shapwise.Explainer(model, frame)
    assert isinstance(explainer, Linear)
    explanation = explainer(frame.iloc[:3])
    assert explanation.shape == (3, 5)
    assert explanation.feature_names == list(frame.columns)
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values,
        model.decision_function(frame.iloc[:3]),
        atol=1e-10,
    )


def test_bad_inputs_raise_clear_errors():
    X = _data()
    model = Ridge().fit(X, X[:, 0])
    with pytest.raises(TypeError, match="LinearExplainer explains linear models"):
        Linear(object(), X)
    with pytest.raises(ValueError, match="feature_perturbation must be"):
        Linear(model, X, feature_perturbation="tree_path_dependent")
    with pytest.raises(ValueError, match="use link='identity'"):
        Linear(model, X, link="logit")
    with pytest.raises(ValueError, match="model with 5 coefficients; got shape \\(80, 4\\)"):
        Linear(model, X[:, :4])
    with pytest.raises(ValueError, match="must have shape \\(rows, 5\\); got \\(2, 3\\)"):
        Linear(model, X)(X[:2, :3])
    with pytest.raises(ValueError, match="needs background data"):
        Linear(model, None)
    with pytest.raises(ValueError, match="NaN or infinite"):
        Linear(model, X)(np.full((1, 5), np.nan))
