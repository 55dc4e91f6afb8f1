"""Regression-adjusted KernelSHAP: a cheap surrogate of the game takes over what it can explain.

Plain KernelSHAP fits a linear model to the sampled coalitions; whatever of v that model misses
stays in the values as sampling noise. This estimator, KernelExplainer's default, does two things
on top (``KernelExplainer(..., regression_adjustment=False)`` gives plain KernelSHAP):

- with enough samples it fits a pairwise (2-additive) game instead of a linear one. Over all
  coalitions the kernel-weighted 2-additive fit gives exactly the Shapley values, as the linear fit
  does, but on a sample it explains more of v (its Shapley values are the main effects plus half of
  each pair term);
- for 4 to 16 features the values are regression-adjusted: a small neural network and then boosted
  trees, fitted on the coalition masks, model what the pairwise game misses (the network the smooth,
  saturating part of networks and probabilities, the trees the sharp high-order interactions of
  tree models). The surrogate's Shapley values are computed exactly over all 2^M coalitions, and
  the kernel regression only estimates the residual game v - surrogate.

Both parts are additive, so the values still add up to v(full) - v(empty) exactly; with a budget
of all 2^M coalitions the values are exact either way.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from shapwise.explainers._coalitions import all_coalitions, shapley_from_table
from shapwise.explainers._regression import constrained_fit

# Pairwise terms are fitted when the sampled coalitions number at least this many per parameter,
# and the features are few enough that the (M + M(M-1)/2)-column regression stays cheap.
PAIR_SAMPLES_PER_PARAMETER = 1.25
PAIR_MAX_FEATURES = 32
# Ridge on the pair terms, relative to the mean kernel weight of a feature: a numerical guard
# only. Any shrinkage keeps the fit from reproducing a 2-additive game, and the surrogate's
# network and trees then fit what the shrinkage left (measured on the estimator benchmark's
# games: 1e-4 gave 2e-5 relative error on a 2-additive game, 1e-10 gives 1e-16, with errors
# on the other games within a few percent either way).
PAIR_RIDGE = 1e-10
# With pairwise terms and at most this many features (2^M surrogate evaluations), the values are
# regression-adjusted by a surrogate of the game; fewer features leave little to adjust.
SURROGATE_MIN_FEATURES = 4
SURROGATE_MAX_FEATURES = 16
SURROGATE_TREES = 100
SURROGATE_DEPTH = 5
# The network stage: one hidden layer, a strong weight penalty (it sees a few hundred coalitions),
# and a short L-BFGS run; measured on saved games of boosted trees, random forests, MLPs and
# saturated sigmoids, it lowers the error at every budget tried (100, 300, 1000 of 4096).
SURROGATE_HIDDEN = 32
SURROGATE_PENALTY = 3.0
SURROGATE_ITERATIONS = 100


def uses_pairs(n_features: int, n_samples: int) -> bool:
    """Whether ``n_samples`` coalitions are enough to fit the pairwise game of ``n_features``."""
    n_params = n_features + n_features * (n_features - 1) // 2
    return n_features <= PAIR_MAX_FEATURES and n_samples >= PAIR_SAMPLES_PER_PARAMETER * n_params


def uses_surrogate(n_features: int, n_samples: int) -> bool:
    """Whether the values of ``n_features`` are regression-adjusted by a surrogate."""
    return SURROGATE_MIN_FEATURES <= n_features <= SURROGATE_MAX_FEATURES and uses_pairs(
        n_features, n_samples
    )


def pair_design(masks: np.ndarray) -> np.ndarray:
    """Columns of a 2-additive game: the masks, then the products of every pair of them."""
    first, second = np.triu_indices(masks.shape[1], 1)
    return np.hstack([masks, masks[:, first] & masks[:, second]]).astype(np.float64)


def pairwise_fit(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """Coefficients (M + M(M-1)/2, O) of the kernel-weighted best 2-additive game through the
    sampled coalitions, with g(full) = total."""
    n = masks.shape[1]
    design = pair_design(masks)
    scale = (weights[:, None] * masks).sum(axis=0).mean()
    ridge = np.concatenate([np.zeros(n), np.full(design.shape[1] - n, PAIR_RIDGE * scale)])
    return constrained_fit(design, weights, targets, total, np.ones(design.shape[1]), ridge)


def pairwise_kernel_values(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """Shapley values of the kernel-weighted best 2-additive game through the sampled coalitions.

    g(S) = sum_{i in S} a_i + sum_{i<j in S} a_ij with g(full) = v(full) - v(empty); its Shapley
    values are a_i + (1/2) sum_j a_ij.
    """
    n = masks.shape[1]
    first, second = np.triu_indices(n, 1)
    fitted = pairwise_fit(masks, weights, targets, total)
    values = fitted[:n].copy()
    np.add.at(values, first, fitted[n:] / 2)
    np.add.at(values, second, fitted[n:] / 2)
    return values


def tree_surrogate(coalitions: np.ndarray, residuals: np.ndarray) -> Any:
    """A boosted tree ensemble on the coalition masks, fitted to one output's residuals."""
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(
        n_estimators=SURROGATE_TREES, max_depth=SURROGATE_DEPTH, random_state=0
    )
    return model.fit(coalitions, residuals)


def network_surrogate(coalitions: np.ndarray, residuals: np.ndarray) -> Any | None:
    """A one-hidden-layer network on the coalition masks (coded -1/+1), fitted to one output's
    standardised residuals; returns predict(masks) -> residuals, or None if nothing is left."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    from threadpoolctl import threadpool_limits

    scale = float(residuals.std())
    if not scale > 0:
        return None
    network = MLPRegressor(
        hidden_layer_sizes=(SURROGATE_HIDDEN,),
        alpha=SURROGATE_PENALTY,
        solver="lbfgs",
        max_iter=SURROGATE_ITERATIONS,
        random_state=0,
    )
    # One BLAS thread: the matrices are small, and threads fighting over them made a fit on 2,000
    # coalitions 10x slower on 2 cores.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a short run is intended
        network.fit(2.0 * coalitions - 1.0, residuals / scale)

    def predict(masks: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=1):
            return scale * network.predict(2.0 * masks - 1.0)

    return predict


def surrogate_kernel_values(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """Regression-adjusted KernelSHAP: exact Shapley values of a surrogate game g, plus the
    pairwise kernel estimate of what g misses.

    g is the 2-additive fit, plus a small network on its residuals, plus boosted trees on what is
    still left. g is cheap, so its Shapley values come from all 2^M coalitions; the kernel
    estimate of the residual game v - g then has much less to explain.
    """
    n = masks.shape[1]
    ends = np.zeros((2, n), dtype=bool)
    ends[1] = True
    seen = np.concatenate([ends, masks])
    observed = np.vstack([np.zeros((1, targets.shape[1])), total[None, :], targets])
    every = all_coalitions(n)
    pair_game = pair_design(every) @ pairwise_fit(masks, weights, targets, total)
    codes = seen @ (1 << np.arange(n))
    residual = observed - pair_game[codes]
    surrogate = pair_game.copy()
    for output in range(targets.shape[1]):
        network = network_surrogate(seen, residual[:, output])
        if network is not None:
            surrogate[:, output] += network(every)
        left = observed[:, output] - surrogate[codes, output]
        surrogate[:, output] += tree_surrogate(seen, left).predict(every)
    left = observed - surrogate[codes]
    correction = pairwise_kernel_values(masks, weights, left[2:] - left[0], left[1] - left[0])
    return shapley_from_table(surrogate, n) + correction


def adjusted_kernel_values(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray | None:
    """The regression-adjusted values where the sample allows them (surrogate, else pairwise
    fit), or None where only the plain linear fit is determined."""
    n, n_samples = masks.shape[1], len(masks)
    if uses_surrogate(n, n_samples):
        return surrogate_kernel_values(masks, weights, targets, total)
    if uses_pairs(n, n_samples):
        return pairwise_kernel_values(masks, weights, targets, total)
    return None
