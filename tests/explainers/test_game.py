"""The coalition game: v(S) of masks, the empty coalition evaluated once, the linearised link."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers._game import CoalitionGame
from shapwise.links import logit
from shapwise.maskers import Independent
from shapwise.models import as_model
from tests.explainers.models import discrete_labels, discrete_table


def _probabilities(X):
    return 1.0 / (1.0 + np.exp(-X.sum(axis=1)))


def test_values_of_masks_that_are_all_empty():
    rng = np.random.default_rng(0)
    background, x = rng.normal(size=(7, 3)), rng.normal(size=3)
    mean = _probabilities(background).mean()
    empty = np.zeros((2, 3), dtype=bool)
    for linearize in (False, True):
        model = as_model(_probabilities)
        game = CoalitionGame(
            model, Independent(background), x[None], logit, linearize_link=linearize
        )
        np.testing.assert_allclose(game.values(empty)[:, 0], np.log(mean / (1 - mean)), rtol=1e-12)
        # asked again in the same explanation: no new model call
        evaluations = model.n_evaluations
        np.testing.assert_allclose(game.values(empty[:1]), game.values(empty)[:1], rtol=0)
        assert model.n_evaluations == evaluations


# ------------------------------------------------------------------ each distinct masked row once
def _row_wise_model(X):
    """Elementwise arithmetic only, so a row's output does not depend on the rows beside it."""
    X = np.asarray(X, dtype=np.float64)
    return (
        X[:, 0] * X[:, 1]
        + np.where(X[:, 2] > 1, X[:, 3], -X[:, 4])
        + X[:, 5] * X[:, 6] * X[:, 7]
        + np.maximum(X[:, 8], X[:, 9])
        + X[:, 10] * np.abs(X[:, 11])
    )


def _explain(kind, model, background, rows, dedup):
    from shapwise import explainers, maskers

    masker = (maskers.Partition if kind == "partition" else Independent)(background)
    masker.fills_from_background = dedup  # off: every (coalition, background row) evaluated
    if kind == "exact":
        explainer = explainers.Exact(model, masker)
        explanation = explainer(rows, silent=True)
    elif kind == "permutation":
        explainer = explainers.Permutation(model, masker, seed=3)
        explanation = explainer(rows, max_evals=300, silent=True)
    elif kind == "partition":
        explainer = explainers.Partition(model, masker)
        explanation = explainer(rows, max_evals=200, silent=True)
    else:
        explainer = explainers.KernelExplainer(model, masker, seed=3)
        explanation = explainer(rows, max_evals=300, silent=True)
    return explanation.values, explainer.model.n_evaluations


@pytest.mark.parametrize("kind", ["exact", "permutation", "partition", "kernel"])
def test_distinct_masked_rows_evaluated_once_give_the_same_values_bit_for_bit(kind):
    table = discrete_table(60, seed=1)
    background, rows = table[:20], table[20:24]
    values, evaluated = _explain(kind, _row_wise_model, background, rows, dedup=True)
    every_pair, all_evaluated = _explain(kind, _row_wise_model, background, rows, dedup=False)
    np.testing.assert_array_equal(values, every_pair)
    # discrete features: many masked rows repeat (Partition's rounds are small, and a row
    # repeats only within one round)
    assert evaluated < (0.8 if kind == "partition" else 0.6) * all_evaluated
    # continuous data: no value is shared, nothing to leave out, and the same values
    continuous = np.random.default_rng(2).normal(size=(24, 12))
    values, evaluated = _explain(kind, _row_wise_model, continuous[:20], continuous[20:], True)
    every_pair, all_evaluated = _explain(
        kind, _row_wise_model, continuous[:20], continuous[20:], False
    )
    np.testing.assert_array_equal(values, every_pair)
    assert evaluated == all_evaluated


def test_exact_evaluates_each_distinct_masked_row_once():
    """The count from the definition: for row r and background row b differing in d features,
    the coalitions give 2^d distinct masked rows (the empty coalition once per explanation)."""
    from shapwise import explainers

    table = discrete_table(40, seed=4)[:, :8]
    background, rows = table[:15], table[15:18]
    explainer = explainers.Exact(lambda X: X.sum(axis=1) ** 2, background)
    explainer(rows, silent=True, batch_size=10**5)  # one model call: rows repeat within one
    differing = (rows[:, None, :] != background[None, :, :]).sum(axis=2)  # (rows, background)
    expected = (2 ** differing[0]).sum()  # the first row: every coalition, the empty one too
    for d in differing[1:]:  # later rows: the empty coalition is known; a nonempty coalition
        # of features all equal to b's gives b's own row unless every feature differs
        expected += np.where(d == 8, 2**8 - 1, 2**d).sum()
    assert explainer.model.n_evaluations == expected
    assert expected < 0.25 * (2**8 + 2 * (2**8 - 1)) * 15


def test_exact_xgboost_classifier_on_a_census_like_table():
    """shap's own case (Exact, xgboost classifier, 12 mostly discrete features, 100 background
    rows): the same values as with every pair evaluated, from far fewer model rows, and
    additive."""
    xgboost = pytest.importorskip("xgboost")
    table = discrete_table(600, seed=5)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1)
    model.fit(table[200:], discrete_labels(table[200:]))

    def predict(X):
        return model.predict_proba(X)[:, 1]

    background, rows = table[:100], table[100:103]
    values, evaluated = _explain("exact", predict, background, rows, dedup=True)
    every_pair, all_evaluated = _explain("exact", predict, background, rows, dedup=False)
    np.testing.assert_array_equal(values, every_pair)
    assert evaluated < all_evaluated / 5
    mean = predict(background).mean()
    np.testing.assert_allclose(values.sum(axis=1) + mean, predict(rows), atol=1e-6)
