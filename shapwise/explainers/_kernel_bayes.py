"""KernelSHAP at small budgets: a Gaussian-process fit of the symmetrised game.

Below the budget where pair terms can be fitted (``_kernel_surrogate.uses_pairs``), the default
(regression-adjusted) KernelExplainer estimates the values this way instead of by the linear fit:

- the Shapley values of v (with v(empty) = 0) are those of its symmetrised game
  h(S) = (v(S) - v(N \\ S) + v(N)) / 2, the mean of v and its dual game, which share their Shapley
  values; a complement pair observes h at both of its coalitions. Where v is 2-additive, h is
  additive;
- the prior: h(S) = sum_{i in S} b_i + f(S), with unknown main effects b (a flat prior: estimated
  by generalised least squares) and f a Gaussian process whose Möbius coefficients of every order
  d >= 2 are independent with variance s^2 theta^d, so that cov(f(S), f(T)) = s^2 ((1 + theta)^m -
  1 - theta m) with m = |S and T|. theta is chosen by restricted maximum likelihood over a grid,
  s^2 in closed form;
- the values are the Shapley values of the posterior mean, in closed form: b_i plus
  sum_k alpha_k [i in S_k] c(|S_k|) with c(s) = ((1 + theta)^s - 1) / s - theta, since a
  coalition's weight alpha_k spreads over the Möbius terms inside it.

The posterior mean goes through every observed coalition, v(full) included, so the values add up
(up to rounding, which is spread evenly). Where h is additive on the sample the residuals
vanish and the values are exact, as the paired linear fit's are. The standard errors are the
sandwich estimate of the kernel-weighted linear fit on the residuals the GP leaves at each
pair when fitted without it (theta kept; closed form), as the surrogate's use out-of-fold
residuals: residuals at coalitions the fit has seen say nothing of its error.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from shapwise.explainers._kernel_errors import CoalitionStrata, coalition_strata, sandwich_errors
from shapwise.explainers._regression import SINGULAR_CONDITION, linear_kernel_values

# theta, the prior's decay of the Möbius coefficients per order, is chosen among these.
THETA_GRID = np.logspace(-2.0, 1.5, 15)
# Added to the covariance's diagonal, relative to its mean: a numerical guard only (the games
# are deterministic, the posterior mean interpolates them).
NUGGET = 1e-10


class GaussianFit(NamedTuple):
    """A fitted GP of h for one output: theta, main effects b, the weights alpha of the
    observed coalitions, and the Cholesky factor of the prior covariance at theta."""

    theta: float
    effects: np.ndarray
    alpha: np.ndarray
    lower: np.ndarray


def _covariance(overlap: np.ndarray, theta: float) -> np.ndarray:
    """The prior covariance at integer overlaps m (any integer or float array): (1 + theta)^m
    - 1 - theta m, looked up in a table of the M + 1 values (a power per pair of coalitions
    cost ten times as much)."""
    counts = overlap if overlap.dtype == np.intp else overlap.astype(np.intp)
    sizes = np.arange(int(counts.max(initial=0)) + 1, dtype=np.float64)
    return ((1.0 + theta) ** sizes - 1.0 - theta * sizes)[counts]


def _cholesky(counts: np.ndarray, theta: float) -> np.ndarray | None:
    """The Cholesky factor of the prior covariance at ``theta`` of coalitions overlapping in
    ``counts`` (with the nugget), or None where it is not positive definite."""
    covariance = _covariance(counts, theta)
    n_obs = len(covariance)
    covariance[np.diag_indices(n_obs)] += NUGGET * np.trace(covariance) / n_obs + 1e-300
    try:
        return np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return None


def fit_gaussian(coalitions: np.ndarray, h: np.ndarray) -> GaussianFit | None:
    """The GP of h through ``coalitions`` (K, M) with values ``h`` (K,) (see
    :func:`fit_gaussians`)."""
    fits = fit_gaussians(coalitions, h[:, None])
    return None if fits is None else fits[0]


def fit_gaussians(coalitions: np.ndarray, targets: np.ndarray) -> list[GaussianFit] | None:
    """The GP of each column of ``targets`` (K, O) through ``coalitions`` (K, M), theta by
    restricted maximum likelihood over THETA_GRID: every other grid point first, then the two
    beside the best of those (the likelihood is smooth in log theta; a factorisation per
    point is the cost, shared by the outputs). None if for some output no theta gives a
    usable covariance, or the coalitions do not determine the main effects (two features
    always in or out together)."""
    design = coalitions.astype(np.float64)
    if np.linalg.cond(design) > SINGULAR_CONDITION:
        return None  # the sample does not tell some features' main effects apart
    counts = (design @ design.T).astype(np.intp)
    factors: dict[int, np.ndarray | None] = {}

    def score(index: int, h: np.ndarray) -> tuple[float, GaussianFit] | None:
        if index not in factors:
            factors[index] = _cholesky(counts, float(THETA_GRID[index]))
        lower = factors[index]
        return None if lower is None else _reml_fit(design, lower, h, float(THETA_GRID[index]))

    fits = []
    for h in targets.T:
        scored = {index: score(index, h) for index in range(0, len(THETA_GRID), 2)}
        best = _best(scored)
        if best is None:
            return None
        for index in (best - 1, best + 1):
            if 0 <= index < len(THETA_GRID) and index not in scored:
                scored[index] = score(index, h)
        fits.append(scored[_best(scored)][1])  # type: ignore[index]
    return fits


def _best(scored: dict[int, tuple[float, GaussianFit] | None]) -> int | None:
    """The grid index of the highest score (the lowest index among equals), or None."""
    usable = [(-found[0], index) for index, found in scored.items() if found is not None]
    return min(usable)[1] if usable else None


def _reml_fit(
    design: np.ndarray, lower: np.ndarray, h: np.ndarray, theta: float
) -> tuple[float, GaussianFit] | None:
    """The restricted log-likelihood (s^2 profiled out) of theta and the fit at it, given the
    Cholesky factor ``lower`` of the covariance at theta; None where the main effects'
    information is not positive definite."""
    from scipy.linalg import solve_triangular

    n_obs, n_effects = design.shape
    whitened = solve_triangular(lower, np.column_stack([design, h]), lower=True)
    gls_x, gls_y = whitened[:, :n_effects], whitened[:, n_effects]
    information = gls_x.T @ gls_x
    sign, log_det_information = np.linalg.slogdet(information)
    if sign <= 0:
        return None
    effects = np.linalg.solve(information, gls_x.T @ gls_y)
    left = gls_y - gls_x @ effects
    quadratic = float(left @ left)
    score = (
        -(n_obs - n_effects) / 2 * np.log(max(quadratic, 1e-300))
        - np.log(np.diag(lower)).sum()
        - log_det_information / 2
    )
    alpha = solve_triangular(lower, left, lower=True, trans="T")
    return float(score), GaussianFit(theta, effects, alpha, lower)


def gaussian_values(fit: GaussianFit, coalitions: np.ndarray) -> np.ndarray:
    """Shapley values (M,) of the posterior mean of h fitted through ``coalitions``."""
    sizes = coalitions.sum(axis=1)
    spread = ((1.0 + fit.theta) ** sizes - 1.0) / sizes - fit.theta
    return fit.effects + coalitions.T.astype(np.float64) @ (fit.alpha * spread)


def gaussian_predict(fit: GaussianFit, coalitions: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The posterior mean of h at ``query`` coalitions."""
    overlap = query.astype(np.float64) @ coalitions.T.astype(np.float64)
    return query @ fit.effects + _covariance(overlap, fit.theta) @ fit.alpha


def symmetrised_targets(
    targets: np.ndarray, total: np.ndarray, strata: CoalitionStrata
) -> np.ndarray:
    """h at every sampled coalition (K, O), from v(S) - v(empty) and v(full) - v(empty)."""
    partner = np.empty(len(targets), dtype=np.int64)
    partner[strata.first], partner[strata.second] = strata.second, strata.first
    return (targets - targets[partner] + total[None, :]) / 2


def gaussian_estimate(
    masks: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    total: np.ndarray,
    strata: CoalitionStrata | None = None,
    errors: bool = False,
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Values (M, O) from the GP of the symmetrised game, and with ``errors`` their standard
    errors; None where the sample does not allow the fit (a coalition without its complement,
    or no usable covariance)."""
    n = masks.shape[1]
    if strata is None:
        try:
            strata = coalition_strata(masks)
        except KeyError:  # some coalition came without its complement
            return None
    h = symmetrised_targets(targets, total, strata)
    observed = np.vstack([masks, np.ones((1, n), dtype=bool)])
    values = np.empty((n, targets.shape[1]))
    fits = fit_gaussians(observed, np.vstack([h, total[None, :]]))
    if fits is None:
        return None
    for output, fit in enumerate(fits):
        values[:, output] = gaussian_values(fit, observed)
    values += (total - values.sum(axis=0)) / n  # the rounding the interpolation leaves
    if not errors:
        return values, None
    return values, _leave_pair_out_errors(masks, weights, h, total, strata, fits)


def _leave_pair_out_errors(
    masks: np.ndarray,
    weights: np.ndarray,
    h: np.ndarray,
    total: np.ndarray,
    strata: CoalitionStrata,
    fits: list[GaussianFit],
) -> np.ndarray:
    """Sandwich standard errors of the linear kernel fit, on the residuals of h that the GP
    (theta kept) leaves at each pair when fitted without it.

    Those come in closed form (cross-validation of universal kriging): with Q = K^-1 -
    K^-1 X (X' K^-1 X)^-1 X' K^-1, the residuals at a left-out block B are (Q_BB)^-1 (Q h)_B,
    and Q h is the fit's alpha.
    """
    from scipy.linalg import solve_triangular

    n = masks.shape[1]
    observed = np.vstack([masks, np.ones((1, n), dtype=bool)]).astype(np.float64)
    a, b = strata.first, strata.second
    residuals = np.empty_like(h)
    projections: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # by factor, shared by outputs
    for output, fit in enumerate(fits):
        if id(fit.lower) not in projections:
            root = solve_triangular(fit.lower, np.eye(len(fit.lower)), lower=True)
            inverse = root.T @ root
            through = inverse @ observed
            projected = through @ np.linalg.pinv(observed.T @ through, hermitian=True) @ through.T
            projections[id(fit.lower)] = inverse, projected
        inverse, projected = projections[id(fit.lower)]
        q_aa = inverse[a, a] - projected[a, a]
        q_bb = inverse[b, b] - projected[b, b]
        q_ab = inverse[a, b] - projected[a, b]
        determinant = q_aa * q_bb - q_ab**2
        if not (determinant > np.sqrt(np.finfo(float).eps) * np.abs(inverse).max() ** 2).all():
            # some pair alone pins down a main effect: no residual without it; the errors of
            # the paired linear fit stand in (measured larger than the GP's on the benchmark)
            return _linear_errors(masks, weights, h, total, strata)
        alpha_a, alpha_b = fit.alpha[a], fit.alpha[b]
        residuals[a, output] = (q_bb * alpha_a - q_ab * alpha_b) / determinant
        residuals[b, output] = (q_aa * alpha_b - q_ab * alpha_a) / determinant
    return sandwich_errors(
        masks.astype(np.float64), weights, residuals, np.eye(n), strata, leave_pair_out=False
    )


def _linear_errors(
    masks: np.ndarray,
    weights: np.ndarray,
    h: np.ndarray,
    total: np.ndarray,
    strata: CoalitionStrata,
) -> np.ndarray:
    """Sandwich standard errors of the paired linear kernel fit of h."""
    design = masks.astype(np.float64)
    fitted = linear_kernel_values(masks, weights, h, total)
    return sandwich_errors(design, weights, h - design @ fitted, np.eye(masks.shape[1]), strata)
