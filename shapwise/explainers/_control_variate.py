"""Permutation sampling with a cross-fitted surrogate of the game as control variate.

phi(v) = phi(g) + phi(v - g) for any game g. When g is a cheap surrogate of v whose Shapley values
are computed exactly (from all 2^M coalitions of g), the orders only have to estimate phi(v - g),
which varies less from order to order the better g fits v. To stay unbiased, g must not see the
orders that estimate the residual: the antithetic pairs of orders, each relabelled on its own,
come in two folds; g is fitted on one fold (and the exact strata) and the residual estimated on
the other, and the two ways round are averaged.

Where a fold holds twice as many coalitions as a 2-additive game has terms, the surrogate is the
least-squares 2-additive game through the fold's coalitions plus a small network fitted to what
that misses, and boosted coalition trees on what is left. Antithetic pairs already estimate the
2-additive part of any game exactly, so what the surrogate takes over is the higher-order part;
the 2-additive fit first keeps the estimates exact on 2-additive games. Below that, it is the
Gaussian-process fit of the symmetrised game that KernelSHAP uses at small budgets
(``_kernel_bayes``): a pair of orders sees v only through v(S) - v(N \\ S), which that game
keeps, and on a 2-additive game the fit is additive and exact, so the estimates stay exact there
too.
"""

from __future__ import annotations

import numpy as np

from shapwise.explainers._coalitions import all_coalitions, coalition_keys, shapley_from_table
from shapwise.explainers._kernel_bayes import fit_gaussians, gaussian_predict, gaussian_values
from shapwise.explainers._kernel_surrogate import network_surrogate, pair_design, tree_surrogate

# A surrogate's Shapley values come from all 2^M of its coalitions; below this many features the
# exact strata leave too few positions to sample for a surrogate to help.
CONTROL_MIN_FEATURES = 4
CONTROL_MAX_FEATURES = 16
# A fold of fewer pairs than this gives too noisy a spread alone (measured on SOUM games: 88% and
# 95% of the errors within 3 standard errors with two and three pairs a fold); the folds' spreads
# are pooled.
FEW_PAIRS = 4


def fold_fits_surrogate(n_features: int, n_coalitions: int) -> bool:
    """Whether a fold of ``n_coalitions`` (with the exact strata) supports the surrogate: the
    2-additive fit is determined and leaves at least as many coalitions as it has parameters
    for the network to fit what it misses."""
    n_parameters = 1 + n_features + n_features * (n_features - 1) // 2
    return n_coalitions >= 2 * n_parameters


def surrogate_values(
    train_masks: np.ndarray, train_values: np.ndarray, query_masks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fit the surrogate g to v on ``train_masks``; returns phi(g) (M, O) and g at
    ``query_masks`` (Q, O).

    Below ``fold_fits_surrogate``, the Gaussian-process fit (``gaussian_surrogate_values``);
    otherwise, or where that fit fails, g = c + the least-squares 2-additive game (where the
    training coalitions determine it) + a small network on its residuals + boosted coalition
    trees on what is left (KernelSHAP's surrogate), one output at a time.
    """
    n = train_masks.shape[1]
    n_outputs = train_values.shape[1]
    every = all_coalitions(n)
    first, second = np.triu_indices(n, 1)
    phi = np.zeros((n, n_outputs))
    at_query = np.zeros((len(query_masks), n_outputs))
    if not fold_fits_surrogate(n, len(train_masks)):
        found = gaussian_surrogate_values(train_masks, train_values, query_masks)
        if found is not None:
            return found
    pairs = len(train_masks) > n * (n + 1) // 2  # the 2-additive fit is determined
    if pairs:
        design = np.hstack([np.ones((len(train_masks), 1)), pair_design(train_masks)])
        query_design = np.hstack([np.ones((len(query_masks), 1)), pair_design(query_masks)])
    for output in range(n_outputs):
        targets = train_values[:, output]
        if pairs:
            coefficients = np.linalg.lstsq(design, targets, rcond=None)[0]
            fitted = design @ coefficients
            at_query[:, output] = query_design @ coefficients
            # a 2-additive game's values: main effects plus half of each pair term
            phi[:, output] = coefficients[1 : n + 1]
            np.add.at(phi[:, output], first, coefficients[n + 1 :] / 2)
            np.add.at(phi[:, output], second, coefficients[n + 1 :] / 2)
        else:
            fitted = np.full(len(targets), targets.mean())
            at_query[:, output] = targets.mean()
        network = network_surrogate(train_masks, targets - fitted)
        if network is not None:
            table = network(every)
            phi[:, output] += shapley_from_table(table[:, None], n)[:, 0]
            at_query[:, output] += table[query_masks @ (1 << np.arange(n))]
            fitted = fitted + network(train_masks)
        trees = tree_surrogate(train_masks, targets - fitted)
        phi[:, output] += trees.shapley_values(n)
        at_query[:, output] += trees.predict(query_masks)
    return phi, at_query


def gaussian_surrogate_values(
    train_masks: np.ndarray, train_values: np.ndarray, query_masks: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The surrogate below the 2-additive fit's budget: g = v(empty) + the Gaussian-process
    posterior mean of the symmetrised game h (``_kernel_bayes``) through the training
    coalitions. Returns phi(g) (M, O) and g at ``query_masks`` (Q, O); None where some training
    coalition lacks its complement, the empty or full one is missing, or no fit is usable.

    Antithetic pairs see only v(S) - v(N \\ S), which h keeps: the residual v - g is then the
    part of the game the pairs estimate that the fit has missed.
    """
    n = train_masks.shape[1]
    keys, first = np.unique(coalition_keys(train_masks), return_index=True)
    masks, values = train_masks[first], train_values[first]
    complements = coalition_keys(~masks)
    partner = np.minimum(np.searchsorted(keys, complements), len(keys) - 1)
    sizes = masks.sum(axis=1)
    if not ((keys[partner] == complements).all() and sizes.min() == 0):
        return None
    empty, full = int(np.argmin(sizes)), int(np.argmax(sizes))
    base, total = values[empty], values[full] - values[empty]
    h = (values - values[partner] + total) / 2
    observed = sizes > 0  # h(empty) = 0 is the prior's own, not an observation
    phi = np.empty((n, values.shape[1]))
    at_query = np.empty((len(query_masks), values.shape[1]))
    fits = fit_gaussians(masks[observed], h[observed])
    if fits is None:
        return None
    for output, fit in enumerate(fits):
        phi[:, output] = gaussian_values(fit, masks[observed])
        at_query[:, output] = base[output] + gaussian_predict(fit, masks[observed], query_masks)
    return phi, at_query


def fold_weights(who: np.ndarray, positions: np.ndarray, n_features: int) -> np.ndarray:
    """The weight (orders, P) of each sampled contribution in the fold's estimates.

    A feature's estimate is the mean over the P sampled positions of its mean contribution at
    each (positions it never takes get the mean over those it does), divided by M.
    """
    counts = np.zeros((n_features, n_features))
    np.add.at(counts, (who, np.broadcast_to(positions, who.shape)), 1.0)
    covered = (counts[:, positions] > 0).sum(axis=1)
    share = np.where(covered > 0, len(positions) / np.maximum(covered, 1), 0.0) / n_features
    return share[who] / counts[who, positions]


def pair_contributions(
    values: np.ndarray, chains: np.ndarray, who: np.ndarray, weights: np.ndarray, n_features: int
) -> np.ndarray:
    """Each antithetic pair's part (pairs, M, O) of the sampled estimates of the game ``values``
    (K, O); ``chains`` (orders, P + 1) index the prefixes at the sampled positions and the one
    after the last, orders coming as (forward, reverse) pairs."""
    steps = values[chains[:, 1:]] - values[chains[:, :-1]]  # (orders, P, O)
    n_orders = len(chains)
    out = np.zeros((n_orders // 2, n_features, values.shape[1]))
    pair = np.broadcast_to((np.arange(n_orders) // 2)[:, None], who.shape)
    np.add.at(out, (pair, who), weights[..., None] * steps)
    return out


def cross_fitted_estimate(
    masks: np.ndarray,
    values: np.ndarray,
    strata: int,
    strata_contributions: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    positions: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The estimates (M, O) of one row, made additive, and their standard errors (M, O).

    Args:
        masks: the row's evaluated coalitions (K, M); the first ``strata`` are the exact strata,
            the empty coalition first and the full one last among them.
        values: v of them (K, O).
        strata_contributions: (M, strata) the exact strata's part of the estimates.
        folds: for each of the two folds, its orders' prefix indices into ``masks``
            (orders, P + 1) and the feature at each sampled position (orders, P).
        positions: the sampled positions (P,).

    Each way round (g fitted on one fold, the residual estimated on the other) is unbiased given
    the fitting fold; the two are weighted by the number of pairs that estimate the residual.
    The standard error of each is the spread of its estimating fold's pairs (as independent
    draws) through the projection onto sum = v(full) - v(empty); the two are independent given
    the data they were fitted on, so their variances add. Where a fold holds fewer than
    FEW_PAIRS pairs, the pairs of both folds give one spread instead, each value's shrunk
    half-way toward the mean over features (from so few pairs, one value's spread alone is too
    noisy).
    """
    n = masks.shape[1]
    total = values[strata - 1] - values[0]
    weights = [fold_weights(who, positions, n) for _, who in folds]
    n_pairs = np.array([len(chains) // 2 for chains, _ in folds], dtype=np.float64)
    estimate = np.zeros((n, values.shape[1]))
    variance = np.zeros_like(estimate)
    shared_parts = []
    for fitted, estimating in ((0, 1), (1, 0)):
        train = np.unique(np.concatenate([np.arange(strata), folds[fitted][0].reshape(-1)]))
        phi, surrogate = surrogate_values(masks[train], values[train], masks)
        residual = values - surrogate
        chains, who = folds[estimating]
        parts = pair_contributions(residual, chains, who, weights[estimating], n)
        one_way = phi + strata_contributions @ residual[:strata] + parts.sum(axis=0)
        share = n_pairs[estimating] / n_pairs.sum()
        estimate += share * one_way
        variance += share**2 * _spread(parts)
        shared_parts.append(share * parts)
    if n_pairs.min() < FEW_PAIRS:  # too few for a fold's spread: pool the two folds
        pooled = _spread(np.concatenate(shared_parts))
        variance = (pooled + pooled.mean(axis=0)) / 2  # shrunk toward the features' mean
    estimate -= (estimate.sum(axis=0) - total) / n
    return estimate, np.sqrt(variance)


def _spread(parts: np.ndarray) -> np.ndarray:
    """The variance (M, O) of a sum over independent pairs of their parts (pairs, M, O), through
    the projection onto a fixed sum over features."""
    deviations = parts - parts.mean(axis=0)
    projected = deviations - deviations.mean(axis=1, keepdims=True)
    return (projected**2).sum(axis=0) * len(parts) / max(len(parts) - 1, 1)
