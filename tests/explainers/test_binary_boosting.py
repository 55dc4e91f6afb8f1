"""Boosted trees on coalition masks against scikit-learn's GradientBoostingRegressor."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from shapwise.explainers import _binary_boosting
from shapwise.explainers._binary_boosting import BinaryBoosting


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def trees(request, monkeypatch):
    """Every test with the compiled trees and again with the numpy ones."""
    if request.param == "compiled" and _binary_boosting._binary_trees is None:
        pytest.skip("the compiled trees are not built here (no C compiler at install)")
    monkeypatch.setattr(_binary_boosting, "COMPILED", request.param == "compiled")
    return request.param


@pytest.mark.parametrize(("n_rows", "n_features", "depth"), [(300, 12, 5), (120, 8, 3), (60, 5, 2)])
def test_fits_the_training_coalitions_as_scikit_learn_does(n_rows, n_features, depth):
    # Both grow least-squares trees (friedman_mse equals the squared-error gain), so they cut the
    # training coalitions into the same leaves; only ties between splits that part the sample
    # alike may differ, and those change predictions at unseen coalitions only.
    rng = np.random.default_rng(n_rows)
    masks = rng.random((n_rows, n_features)) < 0.5
    targets = np.sin(masks @ rng.normal(size=n_features)) + masks[:, 0] * masks[:, 1] * masks[:, 2]
    targets += 0.01 * rng.normal(size=n_rows)
    reference = GradientBoostingRegressor(n_estimators=50, max_depth=depth, random_state=0)
    reference.fit(masks, targets)
    ours = BinaryBoosting(n_trees=50, depth=depth).fit(masks, targets)
    np.testing.assert_allclose(ours.predict(masks), reference.predict(masks), rtol=0, atol=1e-10)


def test_a_constant_game_is_predicted_exactly_everywhere():
    rng = np.random.default_rng(0)
    masks = rng.random((40, 6)) < 0.5
    ours = BinaryBoosting(n_trees=20, depth=4).fit(masks, np.full(40, 2.5))
    unseen = rng.random((100, 6)) < 0.5
    np.testing.assert_allclose(ours.predict(unseen), 2.5, rtol=0, atol=1e-12)


def test_a_single_feature_step_is_found_at_the_first_split():
    masks = np.random.default_rng(1).random((64, 7)) < 0.5
    targets = np.where(masks[:, 4], 3.0, -1.0)
    ours = BinaryBoosting(n_trees=1, depth=1, learning_rate=1.0).fit(masks, targets)
    assert ours.splits.tolist() == [[4]]
    np.testing.assert_allclose(ours.predict(masks), targets, rtol=0, atol=1e-12)


def test_a_second_fit_forgets_the_first():
    rng = np.random.default_rng(2)
    masks = rng.random((80, 6)) < 0.5
    first, second = rng.normal(size=80), rng.normal(size=80)
    refitted = BinaryBoosting(n_trees=10, depth=3).fit(masks, first).fit(masks, second)
    fresh = BinaryBoosting(n_trees=10, depth=3).fit(masks, second)
    np.testing.assert_array_equal(refitted.predict(masks), fresh.predict(masks))


def test_the_compiled_and_numpy_trees_are_the_same_trees(monkeypatch):
    """Random targets leave no ties: the same splits, and the same predictions at unseen
    coalitions up to the order of their sums."""
    rng = np.random.default_rng(3)
    masks, unseen = rng.random((200, 10)) < 0.5, rng.random((500, 10)) < 0.5
    targets = rng.normal(size=200) + masks[:, 3] * masks[:, 7]
    fitted = {}
    for compiled in (True, False):
        monkeypatch.setattr(_binary_boosting, "COMPILED", compiled)
        fitted[compiled] = BinaryBoosting(n_trees=30, depth=4).fit(masks, targets)
    np.testing.assert_array_equal(fitted[True].splits, fitted[False].splits)
    np.testing.assert_allclose(fitted[True].leaves, fitted[False].leaves, rtol=1e-12, atol=1e-15)
    for compiled in (True, False):
        monkeypatch.setattr(_binary_boosting, "COMPILED", compiled)
        np.testing.assert_allclose(
            fitted[True].predict(unseen), fitted[False].predict(unseen), rtol=1e-12, atol=1e-12
        )


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build it")
def test_the_compiled_trees_are_built_where_a_compiler_is_present():
    assert _binary_boosting._binary_trees is not None


@pytest.mark.parametrize(("n_features", "depth", "n_rows"), [(6, 3, 40), (12, 5, 300), (4, 5, 16)])
def test_shapley_values_in_closed_form_are_those_of_every_coalition(n_features, depth, n_rows):
    """With 4 features and depth 5 the paths repeat features and meet nodes without a split,
    so unreachable leaves are among them."""
    from shapwise.explainers._coalitions import all_coalitions, shapley_from_table

    rng = np.random.default_rng(n_features)
    masks = rng.random((n_rows, n_features)) < 0.5
    targets = rng.normal(size=n_rows) + 3.0 * masks[:, 0] * masks[:, 1] - masks[:, 2]
    trees = BinaryBoosting(40, depth, 0.3).fit(masks, targets)
    every = all_coalitions(n_features)
    brute = shapley_from_table(trees.predict(every)[:, None], n_features)[:, 0]
    np.testing.assert_allclose(trees.shapley_values(n_features), brute, rtol=0, atol=1e-12)
    assert np.abs(brute).max() > 0.1
