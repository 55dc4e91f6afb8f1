"""shap-style programs for ``LinearExplainer``, run with ``import shapwise as shap``: closed forms
(interventional values coef * (x - mean)) and brute-force Shapley values of the Gaussian
conditional game (hidden features at E[X_hidden | X_shown = x_shown])."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import LinearRegression, LogisticRegression

import shapwise as shap
from tests.reference import shapley_values


def conditional_game(coef, intercept, mean, cov, x):
    """v(S) = f(E[X | X_S = x_S]) for a Gaussian background, by least squares (minimum norm)."""

    def game(coalition):
        shown = sorted(coalition)
        point = mean.copy()
        if shown:
            hidden = [i for i in range(len(x)) if i not in coalition]
            solved = np.linalg.lstsq(cov[np.ix_(shown, shown)], x[shown] - mean[shown], rcond=None)
            point[hidden] = mean[hidden] + cov[np.ix_(hidden, shown)] @ solved[0]
            point[shown] = x[shown]
        return float(coef @ point + intercept)

    return game


@pytest.fixture
def regression():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(scale=0.1, size=200)
    return X, LinearRegression().fit(X, y)


def test_the_default_is_interventional_with_an_independent_masker(regression):
    X, model = regression
    explainer = shap.LinearExplainer(model, X)
    assert explainer.feature_perturbation == "interventional"
    assert isinstance(explainer.masker, shap.maskers.Independent)
    values = explainer.shap_values(X[:5])
    np.testing.assert_allclose(values, model.coef_ * (X[:5] - X.mean(0)), atol=1e-10)
    assert explainer.expected_value == pytest.approx(model.predict(X).mean())


def test_an_impute_masker_gives_conditional_values(regression):
    X, model = regression
    explainer = shap.LinearExplainer(model, shap.maskers.Impute(X))
    assert explainer.feature_perturbation == "correlation_dependent"
    assert isinstance(explainer.masker, shap.maskers.Impute)
    values = explainer(X[:3]).values
    mean, cov = X.mean(0), np.cov(X, rowvar=False)
    for row, x in enumerate(X[:3]):
        truth = shapley_values(conditional_game(model.coef_, model.intercept_, mean, cov, x), 4)
        np.testing.assert_allclose(values[row], truth, atol=1e-9)
    # the same through the deprecated keyword, as shap still takes it
    old = shap.LinearExplainer(model, X, feature_perturbation="correlation_dependent")
    assert isinstance(old.masker, shap.maskers.Impute)
    np.testing.assert_allclose(old(X[:3]).values, values, atol=1e-10)


def test_mean_and_covariance_dicts(regression):
    X, model = regression
    moments = {"mean": X.mean(0), "cov": np.cov(X, rowvar=False)}
    independent = shap.LinearExplainer(model, moments)
    assert isinstance(independent.masker, shap.maskers.Independent)
    np.testing.assert_allclose(
        independent.shap_values(X[:4]), model.coef_ * (X[:4] - moments["mean"]), atol=1e-10
    )
    conditional = shap.LinearExplainer(model, moments, feature_perturbation="correlation_dependent")
    assert isinstance(conditional.masker, shap.maskers.Impute)
    reference = shap.LinearExplainer(model, shap.maskers.Impute(X))
    np.testing.assert_allclose(conditional.shap_values(X[:4]), reference.shap_values(X[:4]))
    through_masker = shap.LinearExplainer(model, shap.maskers.Impute(moments))
    np.testing.assert_allclose(through_masker.shap_values(X[:4]), reference.shap_values(X[:4]))


def test_sparse_backgrounds_and_rows(regression):
    X, model = regression
    X = np.where(np.abs(X) < 1.0, 0.0, X)  # mostly zeros, as sparse data is
    model = LinearRegression().fit(X, X @ np.array([1.0, 0.0, -1.0, 2.0]))
    dense = shap.LinearExplainer(model, X).shap_values(X[:6])
    for kind in (scipy.sparse.csr_matrix, scipy.sparse.csc_matrix):
        explainer = shap.LinearExplainer(model, kind(X))
        np.testing.assert_allclose(explainer.shap_values(kind(X[:6])), dense, atol=1e-12)
        np.testing.assert_allclose(explainer(kind(X[:6])).values, dense, atol=1e-12)


def test_tied_and_collinear_features_under_the_conditional_game():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(300, 3))
    # feature 3 repeats feature 0; feature 4 is the sum of features 1 and 2
    X = np.column_stack([base, base[:, 0], base[:, 1] + base[:, 2]])
    coef, intercept = np.array([1.0, -1.0, 2.0, 0.5, 1.5]), 0.25
    explainer = shap.LinearExplainer((coef, intercept), shap.maskers.Impute(X))
    values = explainer(X[:4]).values
    assert np.isfinite(values).all()
    mean, cov = X.mean(0), np.cov(X, rowvar=False)
    for row, x in enumerate(X[:4]):
        truth = shapley_values(conditional_game(coef, intercept, mean, cov, x), 5)
        np.testing.assert_allclose(values[row], truth, atol=1e-8)
    # two copies of one variable play the same part in the game: equal values (symmetry)
    np.testing.assert_allclose(values[:, 0], values[:, 3], atol=1e-8)
    np.testing.assert_allclose(values.sum(1) + explainer.expected_value, X[:4] @ coef + intercept)


def test_a_logistic_model_explained_in_log_odds():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(150, 3))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    explainer = shap.LinearExplainer(model, X)
    values = explainer.shap_values(X[:5])
    np.testing.assert_allclose(values, model.coef_[0] * (X[:5] - X.mean(0)), atol=1e-10)
    margin = model.decision_function(X[:5])
    np.testing.assert_allclose(values.sum(1) + explainer.expected_value, margin, atol=1e-10)


def test_shaps_messages(regression):
    from shapwise.utils._exceptions import InvalidFeaturePerturbationError

    X, model = regression
    with pytest.raises(InvalidFeaturePerturbationError, match="feature_perturbation must be one"):
        shap.LinearExplainer(model, X, feature_perturbation="tree_path_dependent")
    with pytest.raises(ValueError, match="feature_dependence has been renamed"):
        shap.LinearExplainer(model, X, feature_dependence="independent")
    with pytest.raises(InvalidFeaturePerturbationError, match="contradicts the masker"):
        shap.LinearExplainer(
            model, shap.maskers.Independent(X), feature_perturbation="correlation_dependent"
        )
