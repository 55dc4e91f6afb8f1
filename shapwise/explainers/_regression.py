"""KernelSHAP's regression: the kernel-weighted least-squares fit of a game under the constraint
that the coefficients add up to v(full) - v(empty)."""

from __future__ import annotations

import numpy as np

# A system of a larger condition number is solved by least squares (least norm): it does not
# determine its solution (two features always in or out of the samples together, one that
# never varies), and an exact solve would give huge values that cancel.
SINGULAR_CONDITION = 1e10


def constrained_fit(
    design: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    totals: np.ndarray,
    constraint: np.ndarray,
    ridge: np.ndarray | None = None,
) -> np.ndarray:
    """argmin_b sum_k w_k |y_k - X_k b|^2 (+ sum ridge b^2) subject to constraint @ b = totals.

    Solved through the KKT system; ``targets`` (K, O) and ``totals`` (O,) fit all outputs at once.
    """
    n_params = design.shape[1]
    weighted = design * weights[:, None]
    system = np.zeros((n_params + 1, n_params + 1))
    system[:n_params, :n_params] = design.T @ weighted
    if ridge is not None:
        system[:n_params, :n_params] += np.diag(ridge)
    system[:n_params, n_params] = constraint
    system[n_params, :n_params] = constraint
    right = np.vstack([weighted.T @ targets, totals[None, :]])
    if np.linalg.cond(system) < SINGULAR_CONDITION:
        solution = np.linalg.solve(system, right)[:n_params]
    else:  # the samples do not tell some features apart: the least-norm split between them
        solution = np.linalg.lstsq(system, right, rcond=None)[0][:n_params]
    # the solve meets the constraint up to rounding; spread what is left over the parameters
    excess = totals - constraint @ solution
    return solution + np.outer(constraint, excess) / (constraint @ constraint)


def linear_kernel_values(
    masks: np.ndarray, weights: np.ndarray, targets: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """KernelSHAP: the constrained weighted linear fit of v(S) - v(empty) on the coalition masks."""
    n = masks.shape[1]
    return constrained_fit(masks.astype(np.float64), weights, targets, total, np.ones(n))
