"""The surrogates' network against scikit-learn's MLPRegressor, which it reproduces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from shapwise.explainers._small_network import fit_network


@pytest.mark.parametrize(
    ("n_rows", "n_features", "hidden", "iterations"),
    [(300, 12, 32, 100), (80, 6, 8, 30), (40, 16, 32, 200)],
)
def test_fits_the_network_scikit_learn_fits(n_rows, n_features, hidden, iterations):
    # the same start, objective and L-BFGS-B run: the two agree to rounding, at unseen inputs too
    rng = np.random.default_rng(n_rows)
    inputs = 2.0 * (rng.random((n_rows, n_features)) < 0.5) - 1.0
    targets = np.sin(inputs @ rng.normal(size=n_features)) + inputs[:, 0] * inputs[:, 1]
    unseen = 2.0 * (rng.random((500, n_features)) < 0.5) - 1.0
    reference = MLPRegressor(
        hidden_layer_sizes=(hidden,),
        alpha=3.0,
        solver="lbfgs",
        max_iter=iterations,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(inputs, targets)
    ours = fit_network(inputs, targets, hidden, 3.0, iterations)
    np.testing.assert_allclose(ours(unseen), reference.predict(unseen), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours(inputs), reference.predict(inputs), rtol=1e-9, atol=1e-9)


def test_a_constant_target_is_fitted_by_the_bias():
    inputs = 2.0 * (np.random.default_rng(0).random((50, 5)) < 0.5) - 1.0
    predicted = fit_network(inputs, np.full(50, 0.7), 8, 3.0, 100)(inputs)
    np.testing.assert_allclose(predicted, 0.7, atol=1e-3)
