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
of all 2^M coalitions the values are exact either way. Below the budget of pair terms the values
come from a Gaussian-process fit of the symmetrised game instead (``_kernel_bayes``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.explainers._binary_boosting import BinaryBoosting
from shapwise.explainers._coalitions import all_coalitions, shapley_from_table
from shapwise.explainers._kernel_bayes import gaussian_estimate
from shapwise.explainers._kernel_errors import CoalitionStrata, coalition_strata, sandwich_errors
from shapwise.explainers._regression import constrained_fit
from shapwise.explainers._small_network import fit_network

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
# The surrogate's standard errors refit it once per fold, each time without that fold of the
# pairs. Two folds cost about one more fit (each on half the coalitions); the residuals of a
# half-sample fit overstate the full fit's, so the errors lean to the safe side.
SURROGATE_FOLDS = 2
# The Gaussian-process fit (_kernel_bayes: alone below the pair terms' budget, blended with the
# surrogate above it) takes up to this many coalitions: it factorises a K x K covariance once per
# candidate decay. Measured on the estimator benchmark at 64M (768-896 coalitions), the blend
# lowered the median error ratio from 0.205 to 0.193 at about ten times the surrogate's cost.
GAUSSIAN_MAX_COALITIONS = 512


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


def pair_values_map(n_features: int) -> np.ndarray:
    """The Shapley values of a 2-additive game from its coefficients, (M, M + M(M-1)/2): a_i
    plus half of every a_ij that holds i."""
    first, second = np.triu_indices(n_features, 1)
    mapping = np.zeros((n_features, n_features + len(first)))
    mapping[:, :n_features] = np.eye(n_features)
    columns = n_features + np.arange(len(first))
    mapping[first, columns] = 0.5
    mapping[second, columns] = 0.5
    return mapping


def _pair_ridge(masks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    n = masks.shape[1]
    scale = (weights[:, None] * masks).sum(axis=0).mean()
    return np.concatenate([np.zeros(n), np.full(n * (n - 1) // 2, PAIR_RIDGE * scale)])


def pairwise_fit(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """Coefficients (M + M(M-1)/2, O) of the kernel-weighted best 2-additive game through the
    sampled coalitions, with g(full) = total."""
    design = pair_design(masks)
    ridge = _pair_ridge(masks, weights)
    return constrained_fit(design, weights, targets, total, np.ones(design.shape[1]), ridge)


def pairwise_estimate(
    masks: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    total: np.ndarray,
    strata: CoalitionStrata | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Shapley values of the kernel-weighted best 2-additive game through the sampled coalitions,
    and their standard errors where ``strata`` says how the coalitions were drawn.

    g(S) = sum_{i in S} a_i + sum_{i<j in S} a_ij with g(full) = v(full) - v(empty); its Shapley
    values are a_i + (1/2) sum_j a_ij.
    """
    mapping = pair_values_map(masks.shape[1])
    fitted = pairwise_fit(masks, weights, targets, total)
    if strata is None:
        return mapping @ fitted, None
    design = pair_design(masks)
    residuals = targets - design @ fitted
    errors = sandwich_errors(
        design, weights, residuals, mapping, strata, _pair_ridge(masks, weights)
    )
    return mapping @ fitted, errors


def pairwise_kernel_values(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """Shapley values of the kernel-weighted best 2-additive game through the sampled coalitions
    (:func:`pairwise_estimate` without the errors)."""
    return pairwise_estimate(masks, weights, targets, total)[0]


def tree_surrogate(coalitions: np.ndarray, residuals: np.ndarray) -> BinaryBoosting:
    """A boosted tree ensemble on the coalition masks, fitted to one output's residuals."""
    return BinaryBoosting(SURROGATE_TREES, SURROGATE_DEPTH).fit(coalitions, residuals)


def network_surrogate(coalitions: np.ndarray, residuals: np.ndarray) -> Any | None:
    """A one-hidden-layer network on the coalition masks (coded -1/+1), fitted to one output's
    standardised residuals; returns predict(masks) -> residuals, or None if nothing is left."""
    scale = float(residuals.std())
    if not scale > 0:
        return None
    network = fit_network(
        2.0 * coalitions - 1.0,
        residuals / scale,
        SURROGATE_HIDDEN,
        SURROGATE_PENALTY,
        SURROGATE_ITERATIONS,
    )

    def predict(masks: np.ndarray) -> np.ndarray:
        return scale * network(2.0 * masks - 1.0)

    return predict


class Surrogate:
    """A fitted surrogate game g: the 2-additive fit plus, per output, a network and boosted
    trees on what it leaves. ``g(masks)`` -> (len(masks), O)."""

    def __init__(self, coefficients: np.ndarray, stages: list[tuple[Any, BinaryBoosting]]) -> None:
        self.coefficients = coefficients
        self.stages = stages

    def __call__(self, query: np.ndarray) -> np.ndarray:
        out = pair_design(query) @ self.coefficients
        for output, (network, trees) in enumerate(self.stages):
            if network is not None:
                out[:, output] += network(query)
            out[:, output] += trees.predict(query)
        return out

    def shapley_values(self, n_features: int) -> np.ndarray:
        """g's Shapley values (M, O): the 2-additive part's and the trees' in closed form, the
        network's from all 2^M coalitions."""
        values = pair_values_map(n_features) @ self.coefficients
        every = None
        for output, (network, trees) in enumerate(self.stages):
            if network is not None:
                every = all_coalitions(n_features) if every is None else every
                values[:, output] += shapley_from_table(network(every)[:, None], n_features)[:, 0]
            values[:, output] += trees.shapley_values(n_features)
        return values


def fit_surrogate(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> Surrogate:
    """The surrogate game g fitted to the sampled coalitions (and the empty and full ones):
    the 2-additive fit, plus a small network on its residuals, plus boosted trees on what is
    still left."""
    n = masks.shape[1]
    ends = np.zeros((2, n), dtype=bool)
    ends[1] = True
    seen = np.concatenate([ends, masks])
    observed = np.vstack([np.zeros((1, targets.shape[1])), total[None, :], targets])
    coefficients = pairwise_fit(masks, weights, targets, total)
    fitted = pair_design(seen) @ coefficients
    stages: list[tuple[Any, BinaryBoosting]] = []
    for output in range(targets.shape[1]):
        network = network_surrogate(seen, observed[:, output] - fitted[:, output])
        if network is not None:
            fitted[:, output] += network(seen)
        trees = tree_surrogate(seen, observed[:, output] - fitted[:, output])
        stages.append((network, trees))
    return Surrogate(coefficients, stages)


def _folds(strata: CoalitionStrata, n_rows: int) -> np.ndarray:
    """A fold (0 to SURROGATE_FOLDS - 1) per coalition: pairs dealt out in turn within each size
    group, both coalitions of a pair in the same fold."""
    fold = np.empty(n_rows, dtype=np.int64)
    for group in np.unique(strata.stratum).tolist():
        pairs = np.flatnonzero(strata.stratum == group)
        turn = np.arange(len(pairs)) % SURROGATE_FOLDS
        fold[strata.first[pairs]] = turn
        fold[strata.second[pairs]] = turn
    return fold


def surrogate_estimate(
    masks: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    total: np.ndarray,
    strata: CoalitionStrata | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Regression-adjusted KernelSHAP: exact Shapley values of a surrogate game g, plus the
    pairwise kernel estimate of what g misses; and, where ``strata`` says how the coalitions were
    drawn, the standard errors of that estimate of the residual game v - g.

    g's Shapley values are exact (``Surrogate.shapley_values``); the kernel estimate of v - g
    then has much less to explain. g has seen the sampled coalitions (the trees nearly
    interpolate them), so the residuals it leaves there say nothing of its error elsewhere: the
    standard errors use out-of-fold residuals instead, v - g' at each coalition from a surrogate
    g' fitted without that coalition's fold (SURROGATE_FOLDS folds of whole pairs, dealt out
    within size groups), as the residuals of the sandwich estimate of the pairwise kernel fit
    (they are out-of-sample already: no leave-pair-out step). Each g' sees fewer coalitions
    than g, so the errors lean to overstating.
    """
    n = masks.shape[1]
    surrogate = fit_surrogate(masks, weights, targets, total)
    ends = np.zeros((2, n), dtype=bool)
    ends[1] = True
    at = surrogate(np.concatenate([ends, masks]))  # g at the empty, full and sampled ones
    left = np.vstack([-at[:1], total[None, :] - at[1:2], targets - at[2:]])
    residual_targets, residual_total = left[2:] - left[0], left[1] - left[0]
    correction = pairwise_kernel_values(masks, weights, residual_targets, residual_total)
    values = surrogate.shapley_values(n) + correction
    if strata is None:
        return values, None
    fold = _folds(strata, len(masks))
    honest = np.empty_like(targets)
    for index in range(SURROGATE_FOLDS):
        held = fold == index
        if not held.any():
            continue
        partial = fit_surrogate(masks[~held], weights[~held], targets[~held], total)
        honest[held] = targets[held] - partial(masks[held])
    errors = sandwich_errors(
        pair_design(masks),
        weights,
        honest,
        pair_values_map(n),
        strata,
        _pair_ridge(masks, weights),
        leave_pair_out=False,
    )
    return values, errors


def surrogate_kernel_values(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """Regression-adjusted KernelSHAP values (:func:`surrogate_estimate` without the errors)."""
    return surrogate_estimate(masks, weights, targets, total)[0]


def blended_estimate(
    masks: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    total: np.ndarray,
    strata: CoalitionStrata | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The surrogate's values and the Gaussian-process fit's (``_kernel_bayes``), weighted per
    output by the inverse of their estimated variances (the mean over features).

    Both add up, so the blend does. Its standard errors are the same blend of the two
    estimates' errors: a bound that holds however the two errors are correlated.
    """
    if strata is None:
        try:
            strata = coalition_strata(masks)
        except KeyError:  # some coalition came without its complement
            return surrogate_estimate(masks, weights, targets, total)
    surrogate_values, surrogate_errors = surrogate_estimate(masks, weights, targets, total, strata)
    gaussian = gaussian_estimate(masks, weights, targets, total, strata, True)
    if gaussian is None or gaussian[1] is None or surrogate_errors is None:
        return surrogate_values, surrogate_errors
    gaussian_values, gaussian_errors = gaussian
    surrogate_variance = (surrogate_errors**2).mean(axis=0)
    gaussian_variance = (gaussian_errors**2).mean(axis=0)
    both = surrogate_variance + gaussian_variance
    share = np.where(both > 0, gaussian_variance / np.where(both > 0, both, 1.0), 0.5)
    share = np.where(np.isnan(gaussian_variance), 1.0, share)
    share = np.where(np.isnan(surrogate_variance), 0.0, share)  # the surrogate's weight
    values = share * surrogate_values + (1.0 - share) * gaussian_values
    errors = share * surrogate_errors + (1.0 - share) * gaussian_errors
    return values, errors


def adjusted_estimate(
    masks: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    total: np.ndarray,
    strata: CoalitionStrata | None = None,
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The regression-adjusted values with their standard errors (given ``strata``): the
    surrogate (blended with the Gaussian-process fit of the symmetrised game, ``_kernel_bayes``,
    where that is affordable), else the pairwise fit where pair terms are determined, else the
    Gaussian-process fit; None where none applies (the plain linear fit then)."""
    n, n_samples = masks.shape[1], len(masks)
    if uses_surrogate(n, n_samples):
        if n_samples <= GAUSSIAN_MAX_COALITIONS:
            return blended_estimate(masks, weights, targets, total, strata)
        return surrogate_estimate(masks, weights, targets, total, strata)
    if uses_pairs(n, n_samples):
        return pairwise_estimate(masks, weights, targets, total, strata)
    if n_samples <= GAUSSIAN_MAX_COALITIONS:
        return gaussian_estimate(masks, weights, targets, total, strata, strata is not None)
    return None
