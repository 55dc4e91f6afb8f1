"""The brute-force references themselves: hand-computed closed forms and xgboost's exact TreeSHAP."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from shapwise.explainers.tree._table import Tree, assemble, predict_margin
from shapwise.explainers.tree.parse_xgboost import parse_xgboost
from tests.explainers.tree.truth import (
    interaction_values,
    interventional_game,
    interventional_values,
    path_dependent_game,
    path_dependent_values,
    probability_game,
    shapley_values,
)


def _two_level_tree():
    """x0 <= 0 splits 10 rows into 4 | 6; each side splits on x1 <= 0: covers 1 | 3 and 2 | 4."""
    leaf = -1
    tree = Tree(
        left=np.array([1, 3, 5, leaf, leaf, leaf, leaf]),
        right=np.array([2, 4, 6, leaf, leaf, leaf, leaf]),
        feature=np.array([0, 1, 1, -1, -1, -1, -1]),
        threshold=np.zeros(7),
        decision=np.zeros(7),
        missing=np.zeros(7),
        default_left=np.zeros(7, bool),
        cover=np.array([10.0, 4.0, 6.0, 1.0, 3.0, 2.0, 4.0]),
        value=np.array([0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 7.0])[:, None],
    )
    return assemble([tree], [-1], np.zeros(1), n_features=2)


def test_path_dependent_game_and_values_by_hand():
    ensemble = _two_level_tree()
    x = np.array([-1.0, 1.0])  # left, then right: f(x) = 2
    game = path_dependent_game(ensemble, x)[:, 0]
    # v({}) = (1*1 + 3*2 + 2*4 + 4*7) / 10, v({0}) = (1*1 + 3*2) / 4, v({1}) = (4*2 + 6*7) / 10
    np.testing.assert_allclose(game, [4.3, 1.75, 5.0, 2.0], rtol=1e-15)
    phi = shapley_values(game[:, None])[:, 0]
    np.testing.assert_allclose(phi, [-2.775, 0.475], rtol=1e-14)
    # SII_01 = v(01) - v(0) - v(1) + v({}) = -0.45, split half and half
    matrix = interaction_values(game[:, None])[:, :, 0]
    np.testing.assert_allclose(matrix, [[-2.55, -0.225], [-0.225, 0.7]], rtol=1e-13)
    values, base = path_dependent_values(ensemble, x[None])
    np.testing.assert_allclose(
        values[0, :, 0].sum() + base[0, 0], predict_margin(ensemble, x[None])[0, 0]
    )


def test_interventional_values_of_a_product_by_hand():
    """f = x0 x1 + x2: phi_0 = mean_b (x0 - b0)(x1 + b1) / 2, phi_2 = x2 - mean_b b2."""

    def model(rows):
        return rows[:, 0] * rows[:, 1] + rows[:, 2]

    x = np.array([2.0, 3.0, 5.0])
    background = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]])
    values, base = interventional_values(model, x[None], background)
    b0, b1, b2 = background.T
    expected = [
        np.mean((x[0] - b0) * (x[1] + b1)) / 2,
        np.mean((x[1] - b1) * (x[0] + b0)) / 2,
        x[2] - b2.mean(),
    ]
    np.testing.assert_allclose(values[0, :, 0], expected, rtol=1e-14)
    np.testing.assert_allclose(base[0, 0], model(background).mean(), rtol=1e-15)
    matrix = interaction_values(interventional_game(model, x, background))[:, :, 0]
    half_index = np.mean((x[0] - b0) * (x[1] - b1)) / 2
    np.testing.assert_allclose(matrix[0, 1], half_index, rtol=1e-14)
    np.testing.assert_allclose(matrix[0, 2], 0.0, atol=1e-14)
    np.testing.assert_allclose(matrix[2, 2], expected[2], rtol=1e-14)
    np.testing.assert_allclose(matrix.sum(axis=1), expected, rtol=1e-14)


def test_probability_game_by_hand():
    """One feature: phi = sigmoid(m(x)) - mean_b sigmoid(m(b)); two outputs: softmax."""
    x, background = np.array([1.5]), np.array([[0.0], [-2.0]])

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    game = probability_game(lambda rows: 2.0 * rows[:, 0], x, background)
    phi = shapley_values(game)[0, 0]
    np.testing.assert_allclose(phi, sigmoid(3.0) - (sigmoid(0.0) + sigmoid(-4.0)) / 2, rtol=1e-14)
    two = probability_game(lambda rows: np.column_stack([rows[:, 0], -rows[:, 0]]), x, background)
    np.testing.assert_allclose(two[1], [sigmoid(3.0), sigmoid(-3.0)], rtol=1e-14)  # S = {0}
    np.testing.assert_allclose(two.sum(axis=1), 1.0, rtol=1e-15)


def test_path_dependent_values_match_xgboost_exact_tree_shap(regression_with_missing, rows):
    """xgboost's pred_contribs / pred_interactions are exact path-dependent Tree SHAP (float32)."""
    X, y = regression_with_missing
    model = xgb.XGBRegressor(n_estimators=6, max_depth=3).fit(X, y)
    parsed = parse_xgboost(model)
    matrix = xgb.DMatrix(rows[:6])
    contribs = model.get_booster().predict(matrix, pred_contribs=True)
    interactions = model.get_booster().predict(matrix, pred_interactions=True)
    for r, x in enumerate(rows[:6]):
        game = path_dependent_game(parsed, x)
        np.testing.assert_allclose(shapley_values(game)[:, 0], contribs[r, :-1], atol=2e-6)
        np.testing.assert_allclose(game[0, 0], contribs[r, -1], atol=2e-6)
        np.testing.assert_allclose(
            interaction_values(game)[:, :, 0], interactions[r, :-1, :-1], atol=2e-6
        )
