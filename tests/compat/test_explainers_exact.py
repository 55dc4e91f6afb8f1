"""shap-style programs for ``ExactExplainer``, run with ``import shapwise as shap``: interaction
values checked against the order-2 Shapley-Taylor index computed from its definition, and against
shap 0.51 itself (exact too)."""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest

import shapwise as shap
from tests.reference import masked_game, subsets


def shapley_taylor_matrix(game, n: int) -> np.ndarray:
    """shap's interaction matrix from the definition: main effects v(i) - v(empty) on the diagonal,
    each pair's (2/n) sum_T D_jk(T) / C(n-1, |T|) split in half over [j, k] and [k, j]."""
    empty = np.asarray(game(frozenset()), dtype=np.float64)
    out = np.zeros((n, n, *empty.shape))
    for i in range(n):
        out[i, i] = game(frozenset({i})) - empty
    for j, k in combinations(range(n), 2):
        total = 0.0
        for rest in subsets([f for f in range(n) if f not in (j, k)]):
            t = frozenset(rest)
            delta = game(t | {j, k}) - game(t | {j}) - game(t | {k}) + game(t)
            total = total + delta / comb(n - 1, len(t))
        out[j, k] = out[k, j] = total / n  # half of 2/n
    return out


def model(X: np.ndarray) -> np.ndarray:
    return X[:, 0] * X[:, 1] + np.sin(X[:, 2]) * X[:, 3] + X[:, 0] * X[:, 2] * X[:, 3] - X[:, 4]


def two_outputs(X: np.ndarray) -> np.ndarray:
    return np.stack([model(X), X[:, 1] * X[:, 4] ** 2], axis=1)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(6, 5)), rng.normal(size=(3, 5))


def test_interaction_values_are_the_shapley_taylor_index(data):
    background, X = data
    explainer = shap.explainers.Exact(model, background)
    explanation = explainer(X, interactions=True)
    assert explanation.values.shape == (3, 5, 5)
    for row, x in enumerate(X):
        expected = shapley_taylor_matrix(masked_game(model, x, background), 5)
        np.testing.assert_allclose(explanation.values[row], expected, atol=1e-12)
    # the matrix adds up to the model output
    totals = explanation.values.sum(axis=(1, 2)) + explanation.base_values
    np.testing.assert_allclose(totals, model(X), atol=1e-12)
    np.testing.assert_allclose(explanation.base_values, model(background).mean(), atol=1e-12)


def test_interactions_of_several_outputs_and_shaps_own_values(data):
    real_shap = pytest.importorskip("shap")
    background, X = data
    ours = shap.ExactExplainer(two_outputs, background)(X, interactions=True)
    assert ours.values.shape == (3, 5, 5, 2)
    theirs = real_shap.ExactExplainer(two_outputs, background)(X, interactions=True)
    # shap 0.51 returns these as (rows, M, M * outputs); the same numbers, outputs kept apart here
    assert theirs.values.shape == (3, 5, 10)
    np.testing.assert_allclose(ours.values, theirs.values.reshape(3, 5, 5, 2), atol=1e-10)
    np.testing.assert_allclose(ours.base_values, theirs.base_values, atol=1e-12)
    for row, x in enumerate(X):
        expected = shapley_taylor_matrix(masked_game(two_outputs, x, background), 5)
        np.testing.assert_allclose(ours.values[row], expected, atol=1e-12)


def test_interactions_two_and_one_are_shaps_spellings(data):
    background, X = data
    explainer = shap.explainers.Exact(model, background)
    np.testing.assert_array_equal(
        explainer(X, interactions=2).values, explainer(X, interactions=True).values
    )
    plain = explainer(X, interactions=1)
    assert plain.values.shape == (3, 5)
    np.testing.assert_allclose(
        plain.values[0], [shap_value for shap_value in _brute_shapley(X[0], background)]
    )
    with pytest.raises(NotImplementedError, match="higher orders"):
        explainer(X, interactions=3)


def test_interactions_of_a_dataframe_keep_the_feature_names(data):
    pd = pytest.importorskip("pandas")
    background, X = data
    columns = list("abcde")
    frame_model = lambda frame: model(np.asarray(frame, dtype=float))  # noqa: E731
    explainer = shap.Explainer(frame_model, pd.DataFrame(background, columns=columns))
    explanation = explainer(pd.DataFrame(X, columns=columns), interactions=True)
    assert explanation.feature_names == columns
    assert explanation.values.shape == (3, 5, 5)


def _brute_shapley(x, background):
    from tests.reference import shapley_values

    return shapley_values(masked_game(model, x, background), 5)
