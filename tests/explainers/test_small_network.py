"""The surrogates' network against scikit-learn's MLPRegressor: the numpy path reproduces its fit,
the compiled one reaches fits of the same quality by its own L-BFGS."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from shapwise.explainers import _small_network
from shapwise.explainers._small_network import fit_network


@pytest.fixture(params=["compiled", "numpy"])
def objective_kind(request, monkeypatch):
    """Each test runs with the compiled fit (where built) and with scipy on the numpy objective."""
    if request.param == "compiled" and _small_network._network is None:
        pytest.skip("the compiled objective was not built (no C compiler at install)")
    monkeypatch.setattr(_small_network, "COMPILED", request.param == "compiled")
    return request.param


@pytest.mark.parametrize(
    ("n_rows", "n_features", "hidden", "iterations"),
    [(300, 12, 32, 100), (80, 6, 8, 30), (40, 16, 32, 200)],
)
def test_fits_the_network_scikit_learn_fits(n_rows, n_features, hidden, iterations, objective_kind):
    """numpy: the same start, objective and L-BFGS-B run, so the two agree to rounding, at
    unseen inputs too. Compiled: its own L-BFGS from the same start, to a training loss within
    a third of scikit-learn's (measured 0.79-1.21x on 12 surrogate-like problems)."""
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
    if objective_kind == "numpy":
        np.testing.assert_allclose(ours(unseen), reference.predict(unseen), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ours(inputs), reference.predict(inputs), rtol=1e-9, atol=1e-9)
        return
    ours_loss = _penalised_loss(ours(inputs), targets, reference, 3.0)
    reference_loss = _penalised_loss(reference.predict(inputs), targets, reference, 3.0)
    assert ours_loss <= 1.33 * reference_loss, (ours_loss, reference_loss)


def _penalised_loss(predicted, targets, fitted: MLPRegressor, penalty: float) -> float:
    """scikit-learn's objective at predictions of a fit, with the penalty of ``fitted``'s
    weights (comparable where the weights are of one size, as fits from one start are)."""
    squares = float(((predicted - targets) ** 2).mean()) / 2
    return squares + penalty / (2 * len(targets)) * sum(float((w**2).sum()) for w in fitted.coefs_)


def test_the_compiled_fit_runs_to_scipys_end_and_reports_its_loss():
    if _small_network._network is None:
        pytest.skip("the compiled objective was not built (no C compiler at install)")
    rng = np.random.default_rng(5)
    n_rows, n_inputs, hidden, penalty = 120, 6, 8, 1.0
    inputs = 2.0 * (rng.random((n_rows, n_inputs)) < 0.5) - 1.0
    targets = np.tanh(inputs @ rng.normal(size=n_inputs)) * inputs[:, 0]
    packed = _small_network._glorot_start(n_inputs, hidden, 0)
    start = packed.copy()
    gradient = np.empty_like(packed)
    at_start = _small_network._network.objective(
        gradient, start, inputs, targets, n_inputs, hidden, penalty
    )
    loss, iterations, calls = _small_network._network.fit(
        packed, inputs, targets, n_inputs, hidden, penalty, 10_000, 1e-6, 100_000
    )
    assert 0 < iterations <= calls and loss < at_start / 10
    found = _small_network._network.objective(
        gradient, packed, inputs, targets, n_inputs, hidden, penalty
    )
    assert found == loss
    # run to the end, both stop where a step gains a relative 2.2e-16 x 1e7 or less (the ReLU's
    # kinks keep the gradient from vanishing): at about the loss scipy's L-BFGS-B reaches
    from scipy.optimize import minimize

    def objective(at):
        out = np.empty_like(at)
        return _small_network._network.objective(
            out, at, inputs, targets, n_inputs, hidden, penalty
        ), out

    reference = minimize(
        objective, start, method="L-BFGS-B", jac=True, options={"maxiter": 10_000, "gtol": 1e-6}
    )
    assert loss <= 1.02 * reference.fun, (loss, reference.fun)
    assert np.abs(gradient).max() < 10 * np.abs(reference.jac).max()
    capped = _small_network._glorot_start(n_inputs, hidden, 0)
    assert (
        _small_network._network.fit(
            capped, inputs, targets, n_inputs, hidden, penalty, 3, 1e-6, 100_000
        )[1]
        == 3
    )  # the iteration cap holds


def test_a_constant_target_is_fitted_by_the_bias(objective_kind):
    inputs = 2.0 * (np.random.default_rng(0).random((50, 5)) < 0.5) - 1.0
    predicted = fit_network(inputs, np.full(50, 0.7), 8, 3.0, 100)(inputs)
    np.testing.assert_allclose(predicted, 0.7, atol=1e-3)


def test_compiled_objective_matches_the_numpy_one_and_a_finite_difference():
    if _small_network._network is None:
        pytest.skip("the compiled objective was not built (no C compiler at install)")
    rng = np.random.default_rng(3)
    n_rows, n_inputs, hidden, penalty = 70, 5, 6, 3.0
    inputs = rng.normal(size=(n_rows, n_inputs))
    targets = rng.normal(size=n_rows)
    packed = rng.normal(size=n_inputs * hidden + 2 * hidden + 1)

    def loss(at: np.ndarray) -> float:
        w1 = at[: n_inputs * hidden].reshape(n_inputs, hidden)
        w2 = at[n_inputs * hidden : n_inputs * hidden + hidden]
        b1, b2 = at[n_inputs * hidden + hidden : -1], at[-1]
        error = np.maximum(inputs @ w1 + b1, 0.0) @ w2 + b2 - targets
        return float(error @ error / (2 * n_rows) + penalty / (2 * n_rows) * (w1**2).sum()) + float(
            penalty / (2 * n_rows) * (w2**2).sum()
        )

    gradient = np.empty_like(packed)
    found = _small_network._network.objective(
        gradient, packed, inputs, targets, n_inputs, hidden, penalty
    )
    assert found == pytest.approx(loss(packed), rel=1e-12)
    step = 1e-6
    numeric = [
        (loss(packed + step * unit) - loss(packed - step * unit)) / (2 * step)
        for unit in np.eye(len(packed))
    ]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("n_rows", "n_inputs", "hidden"), [(1, 3, 1), (3, 2, 4), (5, 7, 9), (9, 4, 8), (13, 3, 5)]
)
def test_compiled_objective_agrees_in_every_block_and_lane_tail(n_rows, n_inputs, hidden):
    """Rows go through in blocks of four and hidden units four at a time: row counts and widths
    around those sizes give the loss and gradient of the plain formulas."""
    if _small_network._network is None:
        pytest.skip("the compiled objective was not built (no C compiler at install)")
    rng = np.random.default_rng(n_rows * 100 + hidden)
    inputs = np.where(rng.random((n_rows, n_inputs)) < 0.5, -1.0, 1.0)
    targets = rng.normal(size=n_rows)
    packed = rng.normal(size=n_inputs * hidden + 2 * hidden + 1)
    w1 = packed[: n_inputs * hidden].reshape(n_inputs, hidden)
    w2 = packed[n_inputs * hidden : n_inputs * hidden + hidden]
    b1, b2 = packed[n_inputs * hidden + hidden : -1], packed[-1]
    active = np.maximum(inputs @ w1 + b1, 0.0)
    error = active @ w2 + b2 - targets
    delta = np.where(active > 0, error[:, None] * w2, 0.0)
    expected_loss = (error @ error + 2.0 * ((w1**2).sum() + (w2**2).sum())) / (2 * n_rows)
    parts = [(inputs.T @ delta + 2.0 * w1).ravel(), active.T @ error + 2.0 * w2]
    expected = np.concatenate([*parts, delta.sum(axis=0), [error.sum()]]) / n_rows
    gradient = np.empty_like(packed)
    found = _small_network._network.objective(
        gradient, packed, inputs, targets, n_inputs, hidden, 2.0
    )
    assert found == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(gradient, expected, rtol=1e-11, atol=1e-13)


def test_compiled_objective_refuses_buffers_of_the_wrong_size():
    if _small_network._network is None:
        pytest.skip("the compiled objective was not built (no C compiler at install)")
    inputs, targets = np.zeros((10, 3)), np.zeros(10)
    with pytest.raises(ValueError, match="packed holds"):
        _small_network._network.objective(np.empty(17), np.empty(16), inputs, targets, 3, 4, 1.0)
    with pytest.raises(ValueError, match="inputs holds"):
        _small_network._network.objective(np.empty(21), np.empty(21), inputs, targets, 4, 4, 1.0)
    with pytest.raises(ValueError, match="packed holds"):
        _small_network._network.fit(np.empty(16), inputs, targets, 3, 4, 1.0, 10, 1e-4, 100)
    with pytest.raises(ValueError, match="objective call"):
        _small_network._network.fit(np.empty(17), inputs, targets, 3, 4, 1.0, 10, 1e-4, 0)
