"""KernelSHAP: Shapley values as a constrained, Shapley-kernel-weighted regression over coalitions.

The Shapley values of a game v are the coefficients phi of the linear model
v(S) - v(empty) ~ sum_{i in S} phi_i that best fits every coalition S under the Shapley kernel
weights, with the constraint sum(phi) = v(full) - v(empty). The constraint is solved exactly, so
the values always add up to the model output. Within a budget of ``max_evals`` coalitions:

- the sizes whose coalitions the budget covers in full (the smallest and largest first, where the
  kernel weight is highest) are enumerated, with their exact weights;
- the other sizes are sampled without replacement, stratified by size (each size gets its share of
  the samples and exactly its share of the kernel weight), and every sample comes with its
  complement (paired sampling cancels the even-order terms of the fit);
- by default the values are regression-adjusted (``_kernel_surrogate``: a pairwise fit and a
  surrogate of the game take over what they can explain; below the budget of pair terms, a
  Gaussian-process fit of the symmetrised game, ``_kernel_bayes``); ``regression_adjustment=False``
  gives plain KernelSHAP, the linear fit alone.

With a budget of 2^M coalitions every coalition is evaluated and the values are exact. Each value
comes with a standard error (``Explanation.error_std``; ``_kernel_errors``): zero when exact, a
sandwich estimate for the sampling design otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from typing import Any, NamedTuple

import numpy as np

from shapwise.explainers._base import Estimate
from shapwise.explainers._blas import fit_threads, in_threads
from shapwise.explainers._coalitions import all_coalitions, coalitions_of_size, shapley_from_table
from shapwise.explainers._game import CoalitionGame, RowGame, varying_features
from shapwise.explainers._kernel_api import KernelStyleExplainer
from shapwise.explainers._kernel_errors import coalition_strata, sandwich_errors
from shapwise.explainers._kernel_inputs import (
    NUM_FEATURES,
)
from shapwise.explainers._kernel_surrogate import adjusted_estimate
from shapwise.explainers._regression import SINGULAR_CONDITION, linear_kernel_values
from shapwise.explainers._seeds import RowSeeds

# l1_reg="auto" selects features (AIC) when less than this share of the coalitions is evaluated.
AUTO_L1_FRACTION = 0.2
# Draws of a small sample at most, while it cannot tell some features apart (_determined_plan).
PLAN_DRAWS = 20

# "rank(k)" is the older spelling of "num_features(k)" that shap's README examples still use.


# ------------------------------------------------------------------------------------ sampling plan
def size_weight(n_features: int, size: int) -> float:
    """Total Shapley-kernel weight of all coalitions of ``size`` (up to a common factor)."""
    return (n_features - 1) / (size * (n_features - size))


def _size_groups(n_features: int) -> list[tuple[int, ...]]:
    """Coalition sizes paired with their complements' sizes: (1, M-1), (2, M-2), ..., (M/2,)."""
    return [
        (size,) if 2 * size == n_features else (size, n_features - size)
        for size in range(1, n_features // 2 + 1)
    ]


def _group_count(n_features: int, group: tuple[int, ...]) -> int:
    return sum(comb(n_features, size) for size in group)


def _group_weight(n_features: int, group: tuple[int, ...]) -> float:
    return sum(size_weight(n_features, size) for size in group)


def _sample_pairs(n_features: int, size: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """``n_pairs`` distinct coalitions of ``size`` (distinct up to complement when 2*size == M)."""
    self_complementary = 2 * size == n_features
    seen: set[bytes] = set()
    chosen: list[np.ndarray] = []
    while len(chosen) < n_pairs:
        order = rng.random((2 * (n_pairs - len(chosen)) + 4, n_features)).argsort(axis=1)
        candidates = np.zeros(order.shape, dtype=bool)
        np.put_along_axis(candidates, order[:, :size], True, axis=1)
        for mask in candidates:
            key = mask if not self_complementary or mask[0] else ~mask
            code = np.packbits(key).tobytes()
            if code not in seen:
                seen.add(code)
                chosen.append(mask)
                if len(chosen) == n_pairs:
                    break
    return np.array(chosen, dtype=bool).reshape(-1, n_features)


def plan_coalitions(
    n_features: int, n_samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Coalitions (K, M) other than the empty and full ones, with their regression weights (K,).

    Size groups (s, M-s) are enumerated in full, smallest s first, while the budget's share of a
    group (in proportion to its kernel weight) covers all its coalitions. The rest of the budget
    is split over the remaining groups in proportion to their kernel weight; each is sampled
    without replacement in complement pairs, and its coalitions share the group's kernel weight.
    """
    groups = _size_groups(n_features)
    masks: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    left = n_samples
    while groups:
        group = groups[0]
        count = _group_count(n_features, group)
        total = sum(_group_weight(n_features, g) for g in groups)
        share = left * _group_weight(n_features, group) / total
        if count > left or share < count - 1e-9:
            break
        for size in group:
            enumerated = coalitions_of_size(n_features, size)
            masks.append(enumerated)
            weights.append(
                np.full(len(enumerated), size_weight(n_features, size) / len(enumerated))
            )
        left -= count
        groups.pop(0)
    if not groups or left < 2:
        if not masks:  # a budget of just the empty and full coalitions
            return np.zeros((0, n_features), dtype=bool), np.zeros(0)
        return np.concatenate(masks), np.concatenate(weights)
    # Whole complement pairs per group, in proportion to kernel weight, largest remainders first.
    total = sum(_group_weight(n_features, g) for g in groups)
    wanted = np.array([left / 2 * _group_weight(n_features, g) / total for g in groups])
    available = np.array([_group_count(n_features, g) // 2 for g in groups])
    pairs = np.minimum(np.floor(wanted).astype(np.int64), available)
    spare = left // 2 - int(pairs.sum())
    for index in np.argsort(-(wanted - pairs)):
        if spare <= 0:
            break
        if pairs[index] < available[index]:
            pairs[index] += 1
            spare -= 1
    for group, n_pairs in zip(groups, pairs, strict=True):
        if n_pairs == 0:
            continue
        sampled = _sample_pairs(n_features, group[0], int(n_pairs), rng)
        both = np.concatenate([sampled, ~sampled])
        sizes = both.sum(axis=1)
        masks.append(both)
        # each size of the group keeps exactly its kernel weight, shared by its sampled coalitions
        per_size = {
            size: size_weight(n_features, size) / np.count_nonzero(sizes == size)
            for size in np.unique(sizes)
        }
        weights.append(np.array([per_size[size] for size in sizes]))
    return np.concatenate(masks), np.concatenate(weights)


# ------------------------------------------------------------------------------------ feature selection
def select_features(
    l1_reg: Any,
    masks: np.ndarray,
    weights: np.ndarray,
    targets: np.ndarray,
    total: float,
) -> np.ndarray:
    """Indices of the features an l1-penalised fit keeps (at least one), for one output.

    The efficiency constraint enters softly, by fitting each coalition from both ends: v(S) -
    v(empty) from the features in S and v(S) - v(full) from the features outside S.
    """
    from sklearn.linear_model import Lasso, LassoLarsIC, lars_path

    n = masks.shape[1]
    sizes = masks.sum(axis=1)
    z = masks.astype(np.float64)
    root = np.sqrt(np.concatenate([weights * (n - sizes), weights * sizes]))
    design = root[:, None] * np.vstack([z, z - 1.0])
    target = root * np.concatenate([targets, targets - total])
    if isinstance(l1_reg, str) and NUM_FEATURES.match(l1_reg):
        keep = int(NUM_FEATURES.match(l1_reg).group(1))
        chosen = lars_path(design, target, max_iter=keep)[1]
    elif l1_reg in ("aic", "bic"):
        spread = design.std(axis=0)
        spread[spread == 0] = 1.0
        fit = LassoLarsIC(criterion=l1_reg, fit_intercept=False).fit(design / spread, target)
        chosen = np.flatnonzero(fit.coef_)
    else:
        fit = Lasso(alpha=float(l1_reg), fit_intercept=False).fit(design, target)
        chosen = np.flatnonzero(fit.coef_)
    chosen = np.unique(np.asarray(chosen, dtype=np.int64))
    if len(chosen) == 0:  # keep the first feature to enter, so the values still add up
        chosen = np.asarray(lars_path(design, target, max_iter=1)[1], dtype=np.int64)[:1]
    return chosen


# ------------------------------------------------------------------------------------ explainer


class _Plan(NamedTuple):
    """One row's coalitions over all features (the empty and full ones first, unless every
    coalition is evaluated: then ``masks`` and ``weights`` are None), the varying features,
    and the sampled masks over those with their regression weights."""

    varying: np.ndarray
    coalitions: np.ndarray
    masks: np.ndarray | None
    weights: np.ndarray | None


class KernelExplainer(KernelStyleExplainer):
    """KernelSHAP with exact small and large coalition sizes, paired stratified sampling for the
    rest, and by default a regression adjustment (a pairwise fit and a surrogate of the game, see
    ``_kernel_surrogate``); always additive. Takes shap 0.51's KernelExplainer arguments (see
    :class:`~shapwise.explainers._kernel_api.KernelStyleExplainer`)."""

    algorithm = "kernel"

    def default_max_evals(self, n_features: int) -> int:
        """shap's default: 2M + 2048 sampled coalitions, plus the empty and full ones (or the
        constructor's ``nsamples``)."""
        if self.nsamples != "auto":
            return int(self.nsamples) + 2
        return 2 * n_features + 2048 + 2

    def check_budget(self, max_evals: int, n_features: int) -> None:
        """Coalitions come in complement pairs, and for a linear fit a pair tells only one thing
        more than the constraint does: the regression needs M - 1 pairs at the very least, and
        is well determined from M pairs, 2M sampled coalitions (unless the budget covers every
        coalition)."""
        super().check_budget(max_evals, n_features)
        least = 2 * n_features
        if max_evals < 2**n_features and max_evals - 2 < least:
            raise ValueError(
                f"KernelExplainer needs at least {least} sampled coalitions for {n_features} "
                f"features (nsamples >= {least}, i.e. max_evals >= {least + 2}); got nsamples "
                f"= {max_evals - 2}. Fewer leave the regression undetermined"
            )

    # --------------------------------------------------------------- rows
    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        """Values (rows, M, O), base values and outputs (rows, O) and standard errors (rows, M,
        O): zeros where every coalition is evaluated, NaN after an l1 feature selection (the
        selection is not part of the error estimate).

        Rows go in groups: each group's coalitions are evaluated in one call of the game, then
        its rows are fitted on threads (one BLAS thread each; the fits release the GIL). Each
        row's values depend on that row alone, however the rows are grouped or threaded."""
        l1_reg = options.get("l1_reg", self.l1_reg)
        threads = fit_threads(game.n_rows, max_evals)
        found: list[tuple[np.ndarray, ...]] = []
        for rows in game.row_groups(max_evals, min_rows=threads):
            plans = [self._plan(game.row(i), max_evals, seeds.row(i), l1_reg) for i in rows]
            sizes = [len(plan.coalitions) for plan in plans]
            owners = np.repeat(np.arange(rows.start, rows.stop), sizes)
            table = game.values_of(np.concatenate([plan.coalitions for plan in plans]), owners)
            tables = np.split(table, np.cumsum(sizes)[:-1])
            pairs = list(zip(plans, tables, strict=True))
            found += in_threads(lambda pair: self._fit_row(*pair, l1_reg), pairs, threads)
            done(len(rows))
        return tuple(np.stack(part) for part in zip(*found, strict=True))  # type: ignore[return-value]

    def _plan(self, game: RowGame, max_evals: int, rng: np.random.Generator, l1_reg: Any) -> _Plan:
        """The coalitions of one row to evaluate, over all features."""
        n = game.n_features
        varying = varying_features(game)
        m = len(varying)
        exact = m <= 30 and 2**m <= max_evals
        if exact and (m <= 1 or not l1_reg or l1_reg == "auto"):
            return _Plan(varying, _expand(all_coalitions(m), varying, n), None, None)
        if exact:
            masks = all_coalitions(m)[1:-1]
            sizes = masks.sum(axis=1)
            weights = np.array([size_weight(m, s) / comb(m, s) for s in sizes])
        else:
            masks, weights = _determined_plan(m, max_evals - 2, rng)
        ends = np.zeros((2, n), dtype=bool)
        ends[1] = True
        return _Plan(varying, np.concatenate([ends, _expand(masks, varying, n)]), masks, weights)

    def _fit_row(
        self, plan: _Plan, table: np.ndarray, l1_reg: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One row's values, base value, output and standard errors from its plan's table."""
        varying, m = plan.varying, len(plan.varying)
        n = plan.coalitions.shape[1]
        values = np.zeros((n, table.shape[1]))
        if plan.masks is None:  # every coalition
            values[varying] = shapley_from_table(table, m)
            return values, table[0], table[-1], np.zeros_like(values)
        empty, full, sampled = table[0], table[1], table[2:]
        errors = np.zeros_like(values)
        if m > 0:
            fraction = (len(plan.masks) + 2) / 2.0**m
            values[varying], errors[varying] = self._solve(
                plan.masks, plan.weights, sampled - empty, full - empty, fraction, l1_reg
            )
        return values, empty, full, errors

    def _solve(
        self,
        masks: np.ndarray,
        weights: np.ndarray,
        targets: np.ndarray,
        total: np.ndarray,
        fraction: float,
        l1_reg: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        m = masks.shape[1]
        if l1_reg == "auto":
            l1_reg = "aic" if fraction < AUTO_L1_FRACTION else False
        if not l1_reg:
            strata = coalition_strata(masks)
            adjusted = None
            if self.regression_adjustment:
                adjusted = adjusted_estimate(masks, weights, targets, total, strata)
            if adjusted is not None:
                return adjusted  # type: ignore[return-value]
            design = masks.astype(np.float64)
            fitted = linear_kernel_values(masks, weights, targets, total)
            residuals = targets - design @ fitted
            return fitted, sandwich_errors(design, weights, residuals, np.eye(m), strata)
        values = np.zeros((m, targets.shape[1]))
        for output in range(targets.shape[1]):
            kept = select_features(l1_reg, masks, weights, targets[:, output], float(total[output]))
            values[kept, output] = linear_kernel_values(
                masks[:, kept], weights, targets[:, output : output + 1], total[output : output + 1]
            )[:, 0]
        return values, np.full_like(values, np.nan)


def _determined_plan(
    n_features: int, n_samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`plan_coalitions`, drawn again (up to PLAN_DRAWS times) while the sample cannot tell
    some features apart: at the smallest budgets two features are often in or out of every
    sampled coalition together, and no fit can then split their effect. Larger samples (more
    than 8 coalitions a feature) are not checked: they always tell the features apart."""
    for _ in range(PLAN_DRAWS):
        masks, weights = plan_coalitions(n_features, n_samples, rng)
        if len(masks) > 8 * n_features:
            break
        observed = np.vstack([masks, np.ones((1, n_features), dtype=bool)]).astype(np.float64)
        if np.linalg.cond(observed) <= SINGULAR_CONDITION:
            break
    return masks, weights


def _expand(masks: np.ndarray, varying: np.ndarray, n_features: int) -> np.ndarray:
    """Masks over the varying features as masks over all features (the others hidden)."""
    full = np.zeros((len(masks), n_features), dtype=bool)
    full[:, varying] = masks
    return full


Kernel = KernelExplainer
