"""shap-style programs for the explainers shap 0.51 has beside the main ones, run with
``import shapwise as shap``: Additive (brute force on additive models), Sampling (brute force in
the limit, exact on additive games, additive always), Coalition (brute-force Owen values over the
named hierarchy) and the benchmark baselines of ``explainers.other``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

import shapwise as shap
from shapwise.errors import AdditivityError
from tests.reference import masked_game, owen_values, shapley_values


def additive_model(X: np.ndarray) -> np.ndarray:
    return np.sin(X[:, 0]) + X[:, 1] ** 2 - 3 * X[:, 2] + np.exp(X[:, 3] / 4)


def interacting_model(X: np.ndarray) -> np.ndarray:
    return X[:, 0] * X[:, 1] + np.tanh(X[:, 2] + X[:, 3]) * X[:, 4] - X[:, 0] ** 2


@pytest.fixture
def data():
    rng = np.random.default_rng(11)
    return rng.normal(size=(12, 5)), rng.normal(size=(4, 5))


def truth(model, X, background, link=None):
    return np.array(
        [shapley_values(masked_game(model, x, background, link), X.shape[1]) for x in X]
    )


# ---------------------------------------------------------------- Additive
def test_additive_explainer_is_exact_for_additive_models(data):
    background, X = data
    background, X = background[:, :4], X[:, :4]
    explainer = shap.explainers.Additive(additive_model, background)
    explanation = explainer(X)
    np.testing.assert_allclose(explanation.values, truth(additive_model, X, background), atol=1e-12)
    np.testing.assert_allclose(explanation.base_values, additive_model(background).mean())
    assert shap.AdditiveExplainer is shap.explainers.AdditiveExplainer


def test_additive_explainer_refuses_models_with_interactions(data):
    background, X = data
    explainer = shap.explainers.Additive(interacting_model, background)
    with pytest.raises(AdditivityError, match="exact only for an additive model"):
        explainer(X)


# ---------------------------------------------------------------- Sampling
def test_sampling_explainer_estimates_shapley_values(data):
    background, X = data
    explainer = shap.SamplingExplainer(interacting_model, background, random_state=0)
    values = explainer.shap_values(X, nsamples=20000)
    reference = truth(interacting_model, X, background)
    assert values.shape == X.shape
    # always additive, whatever the samples
    np.testing.assert_allclose(
        values.sum(1) + explainer.expected_value, interacting_model(X), atol=1e-10
    )
    # converges: with 2,500 antithetic pairs the error is a few hundredths of the values
    assert np.abs(values - reference).max() < 0.05 * np.abs(reference).max()
    few = explainer.shap_values(X, nsamples=200)
    assert np.abs(few - reference).mean() > np.abs(values - reference).mean()


def test_sampling_is_exact_on_additive_games_and_repeats_with_a_seed(data):
    background, X = data
    background, X = background[:, :4], X[:, :4]
    explainer = shap.explainers.Sampling(additive_model, background, random_state=3)
    np.testing.assert_allclose(
        explainer(X, nsamples=50).values, truth(additive_model, X, background), atol=1e-12
    )
    again = shap.explainers.Sampling(interacting_model, data[0], random_state=3)
    first = again.shap_values(data[1], nsamples=300)
    np.testing.assert_array_equal(first, again.shap_values(data[1], nsamples=300))


def test_sampling_with_the_logit_link_and_several_outputs(data):
    background, X = data

    def probabilities(X):
        p = 1 / (1 + np.exp(-interacting_model(X)))
        return np.stack([p, 1 - p], axis=1)

    explainer = shap.SamplingExplainer(probabilities, background, link="logit")
    explanation = explainer(X, nsamples=400)
    assert explanation.values.shape == (4, 5, 2)
    logits = np.log(probabilities(X) / (1 - probabilities(X)))
    totals = explanation.values.sum(1) + explanation.base_values
    np.testing.assert_allclose(totals, logits, atol=1e-8)


# ---------------------------------------------------------------- Coalition
def test_coalition_explainer_gives_owen_values_of_the_named_groups(data):
    background, X = data
    names = ["age", "income", "debt", "rate", "term"]
    tree = {"person": ["age", "income"], "loan": {"cost": ["debt", "rate"], "length": ["term"]}}
    masker = shap.maskers.Partition(pd.DataFrame(background, columns=names))
    explainer = shap.CoalitionExplainer(interacting_model, masker, partition_tree=tree)
    explanation = explainer(pd.DataFrame(X, columns=names))
    nested = [[0, 1], [[2, 3], 4]]
    for row, x in enumerate(X):
        expected = owen_values(masked_game(interacting_model, x, background), nested)
        np.testing.assert_allclose(explanation.values[row], expected.astype(float), atol=1e-12)
    assert explanation.feature_names == names
    # one group per feature is the plain Shapley game
    flat = shap.explainers.Coalition(
        interacting_model, background, partition_tree={str(i): [i] for i in range(5)}
    )
    np.testing.assert_allclose(flat(X).values, truth(interacting_model, X, background), atol=1e-12)


def test_coalition_explainer_messages(data):
    background, _ = data
    with pytest.raises(ValueError, match="A `partition_tree` must be provided"):
        shap.CoalitionExplainer(interacting_model, background)
    with pytest.raises(ValueError, match=r"missing: \[4\]"):
        shap.CoalitionExplainer(interacting_model, background, partition_tree={"a": [0, 1, 2, 3]})
    with pytest.raises(ValueError, match="not a feature"):
        shap.CoalitionExplainer(interacting_model, background, partition_tree={"a": ["x"]})


# ---------------------------------------------------------------- explainers.other
def test_random_baseline(data):
    background, X = data
    explainer = shap.explainers.other.Random(interacting_model, background)
    explanation = explainer(X)
    assert explanation.values.shape == X.shape
    assert np.abs(explanation.values).max() < 0.01  # normal with standard deviation 0.001
    np.testing.assert_allclose(explanation.base_values, interacting_model(background).mean())
    assert explanation.notes == ("random attributions (a benchmark baseline)",)
    constant = shap.explainers.other.Random(interacting_model, background, constant=True)
    values = constant(X).values
    np.testing.assert_array_equal(values, np.broadcast_to(values[0], values.shape))


def test_coefficient_and_tree_gain_baselines():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([2.0, -1.0, 0.0])
    linear = LinearRegression().fit(X, y)
    coefficient = shap.explainers.other.Coefficient(linear)
    np.testing.assert_allclose(coefficient.attributions(X[:4]), np.tile(linear.coef_, (4, 1)))
    np.testing.assert_allclose(coefficient(X[:4]).values, np.tile(linear.coef_, (4, 1)))
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    gain = shap.explainers.other.TreeGain(forest)
    np.testing.assert_allclose(gain(X[:2]).values, np.tile(forest.feature_importances_, (2, 1)))
    with pytest.raises(TypeError, match="feature_importances_"):
        shap.explainers.other.TreeGain(linear)


def test_gpu_tree_explainer_gives_xgboosts_exact_values_on_the_cpu():
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 4))
    model = xgboost.XGBRegressor(n_estimators=8, max_depth=3).fit(X, X[:, 0] * X[:, 1] - X[:, 3])
    values = shap.GPUTreeExplainer(model).shap_values(X[:5])
    contributions = model.get_booster().predict(xgboost.DMatrix(X[:5]), pred_contribs=True)
    np.testing.assert_allclose(values, contributions[:, :-1], atol=1e-5)
    assert shap.explainers.GPUTree is shap.GPUTreeExplainer
    assert shap.other.Random is shap.explainers.other.Random


def test_lime_tabular_wraps_limes_surrogate():
    pytest.importorskip("lime")
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 3))

    def regression(rows):
        return 3.0 * rows[:, 0] - 2.0 * rows[:, 1]

    explainer = shap.explainers.other.LimeTabular(regression, X, mode="regression")
    row = np.array([[2.0, 2.0, 0.0]])  # feature 0 raises the output, feature 1 lowers it
    weights = explainer.attributions(row, nsamples=2000)
    assert weights.shape == (1, 3)
    assert weights[0, 0] > 1.0 and weights[0, 1] < -1.0 and abs(weights[0, 2]) < 0.2
    again = shap.explainers.other.LimeTabular(regression, X, mode="regression")
    explanation = again(row, nsamples=2000)
    np.testing.assert_allclose(explanation.values, weights)  # the same seed, the same surrogate

    def probabilities(rows):
        p = 1 / (1 + np.exp(-regression(rows)))
        return np.stack([1 - p, p], axis=1)

    classifier = shap.explainers.other.LimeTabular(probabilities, X)
    per_class = classifier.attributions(row, nsamples=2000)
    assert len(per_class) == 2
    np.testing.assert_allclose(per_class[0], -per_class[1], atol=1e-8)  # p and 1 - p
    assert per_class[1][0, 0] > 0 and per_class[1][0, 1] < 0
    with pytest.raises(ValueError, match="Invalid mode"):
        shap.explainers.other.LimeTabular(regression, X, mode="ranking")


def test_maple_recovers_a_linear_models_coefficients():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(150, 3))
    weights = np.array([2.0, -1.0, 0.5])

    def linear(rows):
        return rows @ weights + 1.0

    explainer = shap.explainers.other.Maple(linear, X)
    coefficients = explainer.attributions(X[:4])
    assert coefficients.shape == (4, 3)
    # exact outputs of a linear model: every weighted local regression finds its coefficients
    np.testing.assert_allclose(coefficients, np.tile(weights, (4, 1)), atol=1e-2)
    scaled = explainer.attributions(X[:4], multiply_by_input=True)
    np.testing.assert_allclose(scaled, weights * (X[:4] - X.mean(0)), atol=2e-2)
    np.testing.assert_allclose(explainer(X[:4]).values, scaled)


def test_tree_maple_uses_the_models_own_trees():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(200, 3))
    forest = RandomForestRegressor(n_estimators=20, min_samples_leaf=5, random_state=0)
    forest.fit(X, 2.0 * X[:, 0] - X[:, 2])
    explainer = shap.explainers.other.TreeMaple(forest, X)
    coefficients = explainer.attributions(X[:5])
    assert coefficients.shape == (5, 3)
    # the forest's local slopes follow the function it learnt: + for feature 0, none for the
    # feature it ignores (feature 2 enters only if the held-out error asks for it)
    assert (coefficients[:, 0] > 0.5).all() and (np.abs(coefficients[:, 1]) < 0.2).all()
    assert (coefficients[:, 2] <= 0.05).all()
    with pytest.raises(TypeError, match="TreeMaple uses the trees"):
        shap.explainers.other.TreeMaple(LinearRegression().fit(X, X[:, 0]), X)
