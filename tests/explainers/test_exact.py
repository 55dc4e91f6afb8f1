"""Exact Shapley values equal the brute-force definition."""

from __future__ import annotations

import numpy as np
import pytest

import shapwise
from shapwise.explainers import Exact
from tests.explainers.models import interaction_model
from tests.reference import masked_game, shapley_values


@pytest.mark.parametrize("n_features", [2, 3, 5, 7, 10])
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("link", ["identity", "logit"])
def test_exact_matches_brute_force(n_features, n_outputs, link):
    rng = np.random.default_rng(n_features)
    background = rng.normal(size=(7, n_features))
    X = rng.normal(size=(2, n_features))
    model = interaction_model(n_features, n_outputs)
    explanation = Exact(model, background, link=link)(X)
    link_fn = shapwise.links.get_link(link)
    for row, x in enumerate(X):
        game = masked_game(model, x, background, link=link_fn)
        expected = shapley_values(game, n_features)
        got = explanation.values[row]
        np.testing.assert_allclose(got, expected.reshape(got.shape), atol=1e-10, rtol=0)
        np.testing.assert_allclose(
            explanation.base_values[row], np.ravel(game(frozenset())).squeeze(), atol=1e-12
        )
    expected_shape = (2, n_features) if n_outputs == 1 else (2, n_features, n_outputs)
    assert explanation.shape == expected_shape
    total = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(total, link_fn(model(X)), atol=1e-10)


def test_each_coalition_evaluated_once_in_few_calls():
    background = np.random.default_rng(0).normal(size=(20, 6))
    explainer = Exact(interaction_model(6), background)
    explainer(background[:3] + 0.5)  # rows that share no value with a background row
    model = explainer.model
    # every background row once (the empty coalition, a call of its own: it tells the outputs
    # per row), each row once (the full one), and the 62 other coalitions of each row over
    # each background row, those in one model call
    assert model.n_evaluations == 20 + 3 + 3 * 62 * 20
    assert model.n_calls == 2


def test_rows_batched_together_equal_rows_alone_for_any_batch_size():
    rng = np.random.default_rng(1)
    background, X = rng.normal(size=(9, 5)), rng.normal(size=(4, 5))
    model = interaction_model(5, n_outputs=2)
    together = Exact(model, background)(X, batch_size=7)  # model calls split rows anywhere
    for row in range(len(X)):
        alone = Exact(model, background)(X[row : row + 1])
        np.testing.assert_allclose(together.values[row], alone.values[0], atol=1e-12)
        np.testing.assert_allclose(together.base_values[row], alone.base_values[0], atol=1e-12)


def test_too_many_features_for_exact():
    background = np.zeros((2, 21))
    with pytest.raises(ValueError, match="2\\^21 coalitions; use explainers.Permutation"):
        Exact(lambda X: X.sum(1), background)(background[:1])
