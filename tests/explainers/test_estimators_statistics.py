"""Sampling estimators as statistics: exact at full budget, unbiased, repeatable by seed, and
with standard errors that say how far off they are.

The games are sums of unanimity games (SOUM): v(S) = sum over T of a_T [T subset of S], whose
Shapley values are phi_i = sum over T holding i of a_T / |T| (closed form). A SOUM is a model of
binary inputs, f(z) = sum_T a_T prod_{i in T} [z_i != 0], explained at a row of non-zero values
against one background row of zeros, so v(S) = f(1_S) whatever those values are.
"""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import explainers


def soum(n_features: int, n_terms: int, seed: int):
    """A random SOUM of orders 1-5: the model and its closed-form Shapley values."""
    rng = np.random.default_rng(seed)
    members = [
        rng.choice(n_features, size=rng.integers(1, 6), replace=False) for _ in range(n_terms)
    ]
    weights = rng.normal(size=n_terms)

    def model(Z: np.ndarray) -> np.ndarray:
        Z = (np.asarray(Z) != 0).astype(np.float64)
        return sum(w * Z[:, t].prod(axis=1) for w, t in zip(weights, members, strict=True))

    truth = np.zeros(n_features)
    for w, t in zip(weights, members, strict=True):
        truth[t] += w / len(t)
    return model, truth


def _permutation(model, n_features, n_rows, max_evals, seed, **options):
    background = np.zeros((1, n_features))
    explainer = explainers.Permutation(model, background, seed=seed)
    # a row's orders are drawn from its content: distinct rows of one game (each row's own
    # non-zero value in every feature) are independent estimates of the same values
    rows = np.ones((n_rows, n_features)) + np.arange(n_rows)[:, None]
    return explainer(rows, max_evals=max_evals, silent=True, **options)


def test_soum_closed_form_is_the_brute_force_value():
    """The closed form the other tests rely on, against the definition (exact enumeration)."""
    from tests.reference import shapley_values

    model, truth = soum(6, 12, seed=0)

    def game(coalition):
        z = np.zeros((1, 6))
        z[0, list(coalition)] = 1.0
        return model(z)[0]

    np.testing.assert_allclose(shapley_values(game, 6), truth, atol=1e-12)


def test_permutation_is_exact_with_zero_error_at_full_budget():
    model, truth = soum(8, 20, seed=1)
    explanation = _permutation(model, 8, 2, 2**8, seed=0)
    np.testing.assert_allclose(explanation.values, np.broadcast_to(truth, (2, 8)), atol=1e-12)
    np.testing.assert_array_equal(explanation.error_std, 0.0)


def test_permutation_seeds_repeat():
    model, _ = soum(10, 30, seed=2)
    first = _permutation(model, 10, 3, 150, seed=7)
    again = _permutation(model, 10, 3, 150, seed=7)
    other = _permutation(model, 10, 3, 150, seed=8)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.error_std, again.error_std)
    assert not np.array_equal(first.values, other.values)


# (features, budget, cross-fitted): Permutation's estimators: the plain one (beyond 16 features),
# the cross-fitted one with the Gaussian-process surrogate (12 features at 48, one pair of orders
# a fold, and at 100) and with the pairwise fit and network (the others)
PERMUTATION_CASES = [
    (8, 200, True),
    (18, 200, False),
    (12, 48, True),
    (12, 100, True),
    (12, 600, True),
]


@pytest.mark.parametrize(("n_features", "max_evals", "cross_fitted"), PERMUTATION_CASES)
def test_permutation_is_unbiased_on_soum_games(n_features, max_evals, cross_fitted):
    """The mean of many independent estimates converges to the closed form: each value's mean
    error is within 4.5 of its standard error (the reported errors over the number of draws;
    a bias larger than the sampling noise would fail)."""
    from shapwise.explainers.permutation import cross_fit_plan

    assert (cross_fit_plan(n_features, max_evals) is not None) == cross_fitted
    model, truth = soum(n_features, 3 * n_features, seed=n_features)
    explanations = [
        _permutation(model, n_features, 200, max_evals, seed, control_variate=True)
        for seed in range(2)
    ]
    draws = np.concatenate([explanation.values for explanation in explanations])
    errors = np.concatenate([explanation.error_std for explanation in explanations])
    standard_error_of_mean = np.sqrt((errors**2).mean(axis=0) / len(draws))
    z = (draws.mean(axis=0) - truth) / standard_error_of_mean
    assert np.abs(z).max() < 4.5, z


@pytest.mark.parametrize(
    ("n_features", "max_evals", "cross_fitted"),
    [
        (8, 150, True),
        (10, 300, True),
        (12, 48, True),
        (12, 100, True),
        (12, 200, True),
        (10, 300, False),
    ],
)
def test_permutation_standard_errors_are_calibrated(n_features, max_evals, cross_fitted):
    """Over many draws, the error of at least 95% of the values is within 3 reported standard
    errors, and the errors are not vastly overstated (the root mean square error is at least
    a third of the root mean square reported one); with and without the control variate."""
    for seed in range(2):
        model, truth = soum(n_features, 3 * n_features, seed=100 + seed)
        explanation = _permutation(
            model, n_features, 250, max_evals, seed, control_variate=cross_fitted
        )
        error = np.abs(explanation.values - truth)
        within = error <= 3 * explanation.error_std
        assert within.mean() >= 0.95, within.mean()
        assert np.sqrt((error**2).mean()) >= np.sqrt((explanation.error_std**2).mean()) / 3


@pytest.mark.parametrize(
    ("n_features", "max_evals"),
    [
        (12, 100),  # 4 pairs, part of one cyclic block: the Cauchy-Schwarz bound
        (18, 600),  # 37 pairs in 3 blocks: still the bound
        (10, 300),  # 4 whole blocks: the blocks' spread
    ],
)
def test_plain_permutation_standard_errors_account_for_cyclic_blocks(n_features, max_evals):
    """The pairs of a cyclic block are correlated; taken as independent draws they understated
    the error (79% and 88% within 3 errors at the first two settings). Over several games and
    seeds, at least 95% of the values are within 3 reported errors, and the errors are not
    overstated by more than 4x (root mean square error over root mean square reported)."""
    for seed in range(3):  # the default call: the plain estimator, no control variate
        model, truth = soum(n_features, 3 * n_features, seed=500 + seed)
        explanation = _permutation(model, n_features, 120, max_evals, seed)
        _assert_calibrated(explanation, truth)


# ------------------------------------------------------------------------------------ Kernel
def _kernel(model, n_features, n_rows, max_evals, seed, **options):
    """Kernel's values of ``n_rows`` independent estimates of one SOUM game.

    A row's coalitions are drawn from its content, so the rows differ (values in (0.5, 1]) and
    the model reads them as ones (z > 0.5): the same game v(S) = f(1_S) for every row.
    """
    explainer = explainers.Kernel(
        lambda X: model(np.asarray(X) > 0.5), np.zeros((1, n_features)), seed=seed, **options
    )
    rows = np.random.default_rng(seed).uniform(0.51, 1.0, size=(n_rows, n_features))
    return explainer(rows, max_evals=max_evals, silent=True)


def _assert_calibrated(explanation, truth):
    """At least 95% of the errors within 3 reported standard errors, and the errors not vastly
    overstated (the root mean square error at least a quarter of the reported one)."""
    error = np.abs(explanation.values - truth)
    within = error <= 3 * explanation.error_std
    assert within.mean() >= 0.95, within.mean()
    assert np.sqrt((error**2).mean()) >= np.sqrt((explanation.error_std**2).mean()) / 4


@pytest.mark.parametrize(
    ("n_features", "max_evals", "adjustment"),
    [
        (10, 42, False),  # plain KernelSHAP at 4M
        (10, 62, True),  # too few coalitions for pair terms: the Gaussian-process fit
        (12, 200, False),
        (18, 300, True),  # the pairwise fit (no surrogate beyond 16 features)
    ],
)
def test_kernel_standard_errors_are_calibrated(n_features, max_evals, adjustment):
    for seed in range(3):
        model, truth = soum(n_features, 3 * n_features, seed=200 + seed)
        explanation = _kernel(
            model, n_features, 100, max_evals, seed, regression_adjustment=adjustment
        )
        _assert_calibrated(explanation, truth)


@pytest.mark.slow
def test_kernel_surrogate_standard_errors_are_calibrated():
    """The regression-adjusted estimate (pairwise fit, network and trees as the surrogate): its
    errors come from out-of-fold residuals, since the trees nearly interpolate the coalitions
    they were fitted on."""
    for seed in range(2):
        model, truth = soum(10, 30, seed=300 + seed)
        _assert_calibrated(_kernel(model, 10, 15, 150, seed), truth)


def test_kernel_is_exact_with_zero_error_at_full_budget():
    model, truth = soum(8, 20, seed=1)
    for adjustment in (True, False):
        explanation = _kernel(model, 8, 2, 2**8, 0, regression_adjustment=adjustment)
        np.testing.assert_allclose(explanation.values, np.broadcast_to(truth, (2, 8)), atol=1e-12)
        np.testing.assert_array_equal(explanation.error_std, 0.0)


def test_kernel_standard_errors_per_output():
    """Three SOUMs as three outputs of one model: the errors have the values' shape, are zero at
    full budget and calibrated per output below it."""
    games = [soum(10, 30, seed=400 + k) for k in range(3)]

    def model(Z):
        return np.stack([game(Z) for game, _ in games], axis=1)

    truth = np.stack([t for _, t in games], axis=1)  # (features, outputs)
    sampled = _kernel(model, 10, 100, 60, 0)
    assert sampled.error_std.shape == sampled.values.shape == (100, 10, 3)
    for output in range(3):
        _assert_calibrated(sampled[:, :, output], truth[:, output])
    exact = _kernel(model, 10, 2, 2**10, 0)
    assert exact.error_std.shape == (2, 10, 3)
    np.testing.assert_array_equal(exact.error_std, 0.0)
