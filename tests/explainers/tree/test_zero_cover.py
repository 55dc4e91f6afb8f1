"""Nodes no training row reached (cover 0): each child takes half in the path-dependent game.

Truths: the path-dependent game by hand and by brute force (``truth.path_dependent_game``, which
splits such a node half and half); a tree whose leaves are all equal is a constant model, so every
feature's value is 0 and the base value is that constant, whatever the covers.
"""

from __future__ import annotations

import numpy as np

from shapwise.explainers.tree import TreeExplainer
from shapwise.explainers.tree._table import Tree, assemble
from tests.explainers.tree.truth import path_dependent_game, shapley_values

LEAF = -1


def _tree_with_an_empty_branch(leaf_values):
    """x0 <= 0 sends all 10 training rows left (cover 10 | 0); the empty right side splits on x1,
    the left on x2; leaves of the right side have cover 0."""
    return Tree(
        left=np.array([1, 3, 5, LEAF, LEAF, LEAF, LEAF]),
        right=np.array([2, 4, 6, LEAF, LEAF, LEAF, LEAF]),
        feature=np.array([0, 2, 1, -1, -1, -1, -1]),
        threshold=np.zeros(7),
        decision=np.zeros(7),
        missing=np.zeros(7),
        default_left=np.zeros(7, bool),
        cover=np.array([10.0, 10.0, 0.0, 4.0, 6.0, 0.0, 0.0]),
        value=np.asarray(leaf_values, dtype=np.float64)[:, None],
    )


def _ensemble(leaf_values, root_cover_zero=False):
    tree = _tree_with_an_empty_branch(leaf_values)
    if root_cover_zero:  # a tree no row reached at all
        tree.cover = np.zeros(7)
    return assemble([tree], [-1], np.array([0.5]), n_features=3)


def test_a_row_in_the_empty_branch_gets_half_and_half():
    ensemble = _ensemble([0, 0, 0, 1.0, 2.0, 4.0, 8.0])
    x = np.array([1.0, 1.0, -1.0])  # right at the root (cover 0), then right on x1: f = 8.5
    game = path_dependent_game(ensemble, x)
    # v({x0}) = 0.5 + (4 + 8) / 2; v({x0, x1}) = 8.5; v({}) = 0.5 + 0.4 * 1 + 0.6 * 2
    np.testing.assert_allclose(game[0b001, 0], 6.5)
    np.testing.assert_allclose(game[0b011, 0], 8.5)
    np.testing.assert_allclose(game[0b000, 0], 2.1)
    explainer = TreeExplainer(ensemble)
    values = explainer.shap_values(x[None])
    np.testing.assert_allclose(values[0], shapley_values(game)[:, 0], atol=1e-12)
    np.testing.assert_allclose(explainer.expected_value, 2.1, atol=1e-12)
    interactions = explainer.shap_interaction_values(x[None])
    np.testing.assert_allclose(interactions.sum(-1), values, atol=1e-12)


def test_a_constant_tree_gives_zero_values_whatever_its_covers():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(20, 3))
    for root_cover_zero in (False, True):
        explainer = TreeExplainer(_ensemble([0, 0, 0, 3.0, 3.0, 3.0, 3.0], root_cover_zero))
        np.testing.assert_allclose(explainer.shap_values(rows), 0.0, atol=1e-12)
        np.testing.assert_allclose(explainer.shap_interaction_values(rows), 0.0, atol=1e-12)
        np.testing.assert_allclose(explainer.expected_value, 3.5, atol=1e-12)


def test_values_under_a_tree_no_row_reached_are_brute_force():
    ensemble = _ensemble([0, 0, 0, 1.0, 2.0, 4.0, 8.0], root_cover_zero=True)
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(6, 3))
    explainer = TreeExplainer(ensemble)
    values = explainer.shap_values(rows)
    for row, x in enumerate(rows):
        game = path_dependent_game(ensemble, x)
        np.testing.assert_allclose(values[row], shapley_values(game)[:, 0], atol=1e-12)
        np.testing.assert_allclose(explainer.expected_value, game[0, 0], atol=1e-12)
