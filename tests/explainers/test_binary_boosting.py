"""Boosted trees on coalition masks against scikit-learn's GradientBoostingRegressor."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from shapwise.explainers._binary_boosting import BinaryBoosting


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
    assert ours.splits[0][0].tolist() == [4]
    np.testing.assert_allclose(ours.predict(masks), targets, rtol=0, atol=1e-12)


def test_a_second_fit_forgets_the_first():
    rng = np.random.default_rng(2)
    masks = rng.random((80, 6)) < 0.5
    first, second = rng.normal(size=80), rng.normal(size=80)
    refitted = BinaryBoosting(n_trees=10, depth=3).fit(masks, first).fit(masks, second)
    fresh = BinaryBoosting(n_trees=10, depth=3).fit(masks, second)
    np.testing.assert_array_equal(refitted.predict(masks), fresh.predict(masks))
