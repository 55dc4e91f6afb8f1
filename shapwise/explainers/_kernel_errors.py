"""Standard errors of KernelSHAP's values, from the sampled coalitions themselves.

KernelSHAP's values are a constrained weighted least-squares fit b = argmin sum_k w_k (y_k -
x_k b)^2 subject to sum(b) = v(full) - v(empty), where the coalitions are sampled in complement
pairs, stratified by size group (s, M - s), without replacement, and each group keeps its exact
kernel weight. The standard errors are a sandwich (delta-method) estimate for that design:

- linearised, b_hat - b = C sum_k w_k x_k e_k + o(1/sqrt(K)), with C the constrained inverse of
  the weighted Gram matrix (C 1 = 0, so the constraint's multiplier drops out) and e_k the
  residuals of the fit over all coalitions; a complement pair is one draw, so its two terms
  together make one summand u_p;
- the variance of a stratified sample of such summands is the sum over size groups of the
  within-group spread of u_p, times the finite-population factor (1 - n_h / N_h): groups
  enumerated in full add nothing, so a full budget gives zeros;
- in-sample residuals understate e (the fit has seen them); each pair's residuals are replaced by
  the residuals the fit would leave without that pair, (I - H_pp)^-1 e_p from the pair's block
  of the hat matrix (exact for least squares; the pair-clustered HC3 correction), or, where a
  pair alone determines a coefficient, scaled by the degrees of freedom;
- a group sampled with a single pair has no spread of its own: it is pooled with its neighbour
  (the collapsed-strata estimate, which can only overstate the variance).

A sandwich rather than a bootstrap: it is closed form, costs one more solve of the fit's own
system, and sees the design (strata, pairs, finite population) exactly, where a bootstrap of
a without-replacement stratified sample needs its own corrections and many refits.
"""

from __future__ import annotations

from math import comb
from typing import NamedTuple

import numpy as np

from shapwise.explainers._coalitions import coalition_keys


class CoalitionStrata(NamedTuple):
    """How the sampled coalitions were drawn: complement pairs within size groups.

    first, second: row indices of each pair's two coalitions (K/2,).
    stratum: the size group of each pair, min(s, M - s) (K/2,).
    population: the number of complement pairs in each pair's size group (K/2,).
    sampled: how many of them were sampled (K/2,).
    """

    first: np.ndarray
    second: np.ndarray
    stratum: np.ndarray
    population: np.ndarray
    sampled: np.ndarray


def coalition_strata(masks: np.ndarray) -> CoalitionStrata:
    """The pairs and strata of a plan's coalitions; every coalition must come with its
    complement (as ``kernel.plan_coalitions`` draws them)."""
    n = masks.shape[1]
    keys = coalition_keys(masks)
    row_of = {key: row for row, key in enumerate(keys.tolist())}
    partner = np.array([row_of[key] for key in coalition_keys(~masks).tolist()], dtype=np.int64)
    first = np.flatnonzero(np.arange(len(masks)) < partner)
    second = partner[first]
    sizes = masks[first].sum(axis=1)
    stratum = np.minimum(sizes, n - sizes)
    pairs_in_group = {
        size: (comb(n, size) + (comb(n, n - size) if 2 * size != n else 0)) // 2
        for size in np.unique(stratum).tolist()
    }
    population = np.array([pairs_in_group[s] for s in stratum.tolist()], dtype=np.int64)
    counts = np.bincount(stratum, minlength=n + 1)
    return CoalitionStrata(first, second, stratum, population, counts[stratum])


def _pooled_strata(strata: CoalitionStrata) -> tuple[np.ndarray, np.ndarray]:
    """Variance strata (one label per pair, -1 for enumerated groups) and their finite-population
    factors: the sampled size groups in order, a group of a single pair pooled with the next
    (the last with the one before)."""
    sampled = strata.sampled < strata.population
    pools: list[list[int]] = []
    drawn = 0
    for group in np.unique(strata.stratum[sampled]).tolist():
        if not pools or drawn >= 2:
            pools.append([])
            drawn = 0
        pools[-1].append(group)
        drawn += int(np.count_nonzero(strata.stratum == group))
    if len(pools) > 1 and drawn < 2:
        pools[-2].extend(pools.pop())
    label = np.full(len(strata.stratum), -1, dtype=np.int64)
    factor = np.zeros(len(strata.stratum))
    for index, pool in enumerate(pools):
        members = np.isin(strata.stratum, pool)
        population = sum(int(strata.population[strata.stratum == g][0]) for g in pool)
        label[members] = index
        factor[members] = 1.0 - np.count_nonzero(members) / population
    return label, factor


def _constrained_inverse(gram: np.ndarray) -> np.ndarray:
    """C = A^-1 - A^-1 1 1' A^-1 / (1' A^-1 1), the upper-left block of the inverse of the fit's
    KKT matrix [[A, 1], [1', 0]] (a pseudo-inverse where A is singular: some feature never
    varies among the samples)."""
    n_params = len(gram)
    system = np.zeros((n_params + 1, n_params + 1))
    system[:n_params, :n_params] = gram
    system[:n_params, n_params] = system[n_params, :n_params] = 1.0
    try:
        return np.linalg.solve(system, np.eye(n_params + 1)[:, :n_params])[:n_params]
    except np.linalg.LinAlgError:
        inverse = np.linalg.pinv(gram, hermitian=True)
        through = inverse.sum(axis=1)
        return inverse - np.outer(through, through) / through.sum()


def sandwich_errors(
    design: np.ndarray,
    weights: np.ndarray,
    residuals: np.ndarray,
    to_values: np.ndarray,
    strata: CoalitionStrata,
    ridge: np.ndarray | None = None,
    leave_pair_out: bool = True,
) -> np.ndarray:
    """Standard errors (M, O) of the values ``to_values @ b`` of a constrained kernel fit b.

    Args:
        design: the fit's columns at the sampled coalitions (K, P).
        weights: their regression weights (K,).
        residuals: y - design @ b at the sampled coalitions (K, O).
        to_values: the linear map from coefficients to Shapley values (M, P).
        strata: how the coalitions were drawn (:func:`coalition_strata`).
        ridge: the fit's ridge penalty per coefficient, if any.
        leave_pair_out: replace each pair's residuals by those of the fit without it (False for
            residuals that are out-of-sample already). Where some pair alone determines a
            coefficient (its left-out residual is undefined), the in-sample residuals are
            scaled by the degrees of freedom instead, K / (K - P + 1).

    NaN where fewer than two pairs are sampled or no degree of freedom is left.
    """
    n_samples, n_params = design.shape
    n_values, n_outputs = to_values.shape[0], residuals.shape[1]
    label, factor = _pooled_strata(strata)
    if np.count_nonzero(label >= 0) == 0:  # every coalition was enumerated: no sampling error
        return np.zeros((n_values, n_outputs))
    if np.count_nonzero(label >= 0) < 2:
        return np.full((n_values, n_outputs), np.nan)
    gram = design.T @ (design * weights[:, None])
    if ridge is not None:
        gram = gram + np.diag(ridge)
    constrained = _constrained_inverse(gram)
    leverage_rows = design @ constrained  # (K, P): x_k' C
    scaled = np.sqrt(weights)
    weighted = residuals * scaled[:, None]
    a, b = strata.first, strata.second
    left_a, left_b = weighted[a], weighted[b]
    inflation = 1.0
    if leave_pair_out:
        h_aa = scaled[a] ** 2 * np.einsum("kp,kp->k", leverage_rows[a], design[a])
        h_bb = scaled[b] ** 2 * np.einsum("kp,kp->k", leverage_rows[b], design[b])
        h_ab = scaled[a] * scaled[b] * np.einsum("kp,kp->k", leverage_rows[a], design[b])
        determinant = (1.0 - h_aa) * (1.0 - h_bb) - h_ab**2
        # a pair of leverage 1 to rounding: only the degrees-of-freedom scaling is defined
        if (determinant > np.sqrt(np.finfo(float).eps)).all():
            left_a = ((1.0 - h_bb)[:, None] * weighted[a] + h_ab[:, None] * weighted[b]) / (
                determinant[:, None]
            )
            left_b = (h_ab[:, None] * weighted[a] + (1.0 - h_aa)[:, None] * weighted[b]) / (
                determinant[:, None]
            )
        elif n_samples > n_params - 1:
            inflation = n_samples / (n_samples - n_params + 1)
        else:
            return np.full((n_values, n_outputs), np.nan)
    mapped = leverage_rows @ to_values.T  # (K, M): x_k' C G'
    summands = (scaled[a, None] * mapped[a])[:, :, None] * left_a[:, None, :] + (
        scaled[b, None] * mapped[b]
    )[:, :, None] * left_b[:, None, :]  # (pairs, M, O)
    variance = np.zeros((n_values, n_outputs))
    for target in np.unique(label[label >= 0]).tolist():
        members = label == target
        drawn = np.count_nonzero(members)
        spread = summands[members] - summands[members].mean(axis=0)
        variance += factor[members][0] * drawn / (drawn - 1) * (spread**2).sum(axis=0)
    return np.sqrt(inflation * variance)
