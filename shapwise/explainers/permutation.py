"""Permutation sampling of Shapley values: antithetic, position-balanced, position-stratified.

A feature's Shapley value is the mean over positions of its expected contribution when it joins an
order at that position (the value gained over the coalition before it). Estimating it:
- the first and last few positions are computed exactly, from every coalition of their sizes, as
  far as a share of the budget allows (for 10 features and 300 evaluations: two at each end);
- the other positions are sampled from orders that walk from the empty to the full coalition;
  every order comes with its reverse (antithetic pairs), and pairs come in blocks of cyclic shifts
  of one random order, so each feature takes every position equally often;
- a coalition is evaluated once however many orders pass through it, and the budget counts
  distinct coalitions, so more orders fit in ``max_evals``;
- the estimates are projected onto sum = v(full) - v(empty) (additive, and never farther from the
  true values than before).
The plan (which coalitions, and how their values combine) is made once per number of features and
budget; each row uses it under its own random relabelling of the features, which keeps all of the
above and makes each of its orders uniformly random.

With ``control_variate=True`` (a per-call option, for 4 to 16 features and budgets of at least
two pairs of orders), the estimates are cross-fitted with a surrogate of the game as control
variate instead (``_control_variate``): every antithetic pair then has its own relabelling, so
pairs are independent draws, and the exact strata stay as deep as two pairs a fold allow. The
surrogate is a Gaussian-process fit of the game, or where each of two folds of orders holds
twice as many coalitions as a 2-additive fit has terms, that fit plus a small network and
boosted trees. It costs two fits per row and output (milliseconds to tens of milliseconds),
worth it where model evaluations are dear.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from math import comb
from typing import Any, NamedTuple

import numpy as np

from shapwise.explainers._base import Estimate, ExplainerBase
from shapwise.explainers._blas import fit_threads, in_threads
from shapwise.explainers._coalitions import coalition_keys, coalitions_of_size, exact_estimate
from shapwise.explainers._control_variate import (
    CONTROL_MAX_FEATURES,
    CONTROL_MIN_FEATURES,
    cross_fitted_estimate,
)
from shapwise.explainers._game import CoalitionGame, concatenate_rows
from shapwise.explainers._seeds import RowSeeds


def _balanced_orders(n_features: int, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks of permutations, each followed by its reverse; within a block of 2M orders, every
    feature takes every position (cyclic shifts of one random order)."""
    bases = rng.permuted(np.tile(np.arange(n_features), (n_blocks, 1)), axis=1)
    shifts = (np.arange(n_features)[None, :] - np.arange(n_features)[:, None]) % n_features
    forward = bases[:, shifts].reshape(-1, n_features)  # (blocks * shifts, features)
    return np.stack([forward, forward[:, ::-1]], axis=1).reshape(-1, n_features)


def _chain_masks(orders: np.ndarray) -> np.ndarray:
    """Masks of every prefix of every order: (n_orders, n_features + 1, n_features)."""
    n_orders, n_features = orders.shape
    position = np.empty_like(orders)
    position[np.arange(n_orders)[:, None], orders] = np.arange(n_features)
    steps = np.arange(n_features + 1)
    return position[:, None, :] < steps[None, :, None]


def exact_depth(n_features: int, max_evals: int) -> int:
    """How many positions at each end of the orders are computed exactly rather than sampled.

    The largest k whose coalitions (every size <= k and >= M - k) cost at most
    EXACT_STRATA_SHARE of the budget, leaving at least one position to sample.
    """
    depth = 0
    while 2 * (depth + 1) < n_features and (
        2 * sum(comb(n_features, size) for size in range(depth + 2))
        <= EXACT_STRATA_SHARE * max_evals
    ):
        depth += 1
    return depth


def plan_permutations(
    n_features: int, max_evals: int, rng: np.random.Generator, depth: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Antithetic, position-balanced permutations whose coalitions fit in ``max_evals`` evaluations.

    Returns the orders (n_orders, M) and the masks of their prefixes (n_orders, M + 1, M).

    Coalitions of ``depth`` or fewer features, or of ``M - depth`` or more, are evaluated anyway
    (exact strata) and count once however many orders pass through them; at least one antithetic
    pair is planned.
    """
    n = n_features
    budget = max_evals - 2 * sum(comb(n, size) for size in range(depth + 1))
    new_per_order = max(n - 2 * depth - 1, 1)
    pairs_wanted = max(1, budget // (2 * new_per_order))
    n_blocks = max(1, -(-4 * pairs_wanted // n))
    while True:
        orders = _balanced_orders(n, n_blocks, rng)
        n_pairs = len(orders) // 2
        chains = _chain_masks(orders)
        interior = coalition_keys(chains[:, depth + 1 : n - depth])
        pair_of_key = np.repeat(np.arange(n_pairs), 2 * interior.shape[1])
        _, first_seen = np.unique(interior.reshape(-1), return_index=True)
        distinct_so_far = np.cumsum(np.bincount(pair_of_key[first_seen], minlength=n_pairs))
        fitting = int(np.searchsorted(distinct_so_far, budget, side="right"))
        if fitting < n_pairs or len(orders) >= 100 * max_evals:
            kept = 2 * max(fitting, 1)
            return orders[:kept], chains[:kept]
        n_blocks *= 2


class PermutationPlan(NamedTuple):
    """How v of a few coalitions combines into estimates, shared by every row that uses it.

    distinct: the distinct coalitions to evaluate, (K, M) boolean.
    contributions: (M, K) matrix (sparse unless small); contributions @ v(distinct) are the
        stratified estimates before they are made to add up.
    empty, full: positions of the empty and the full coalition among ``distinct``.
    pair_contributions: (pairs * M, K) sparse matrix; row p * M + i gives the part of feature
        i's estimate that antithetic pair p of sampled orders contributes (for the standard
        errors).
    """

    distinct: np.ndarray
    contributions: Any
    empty: int
    full: int
    pair_contributions: Any


# The plan's own draws are fixed; each row's randomness comes from relabelling its features.
_PLAN_SEED = 20260
# The exact strata may take at most this share of the budget: measured on the benchmark games at
# 100 to 800 evaluations of 10 features, a larger share starves the sampled positions.
EXACT_STRATA_SHARE = 0.4
# A plan's contribution matrix with at most this many entries is kept dense.
DENSE_PLAN_ENTRIES = 1 << 18


def _exact_stratum(n: int, position: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mean contribution of each feature at ``position`` over every coalition of that size,
    divided by M, as entries of a sparse matrix: (masks, entry features, entry mask rows,
    entry coefficients)."""
    weight = 1.0 / (n * comb(n - 1, position))
    joined = coalitions_of_size(n, position + 1)  # v(S + i) for every i in the coalition
    before = coalitions_of_size(n, position)  # - v(S) for every i outside it
    rows_in, features_in = np.nonzero(joined)
    rows_out, features_out = np.nonzero(~before)
    masks = np.concatenate([joined, before])
    features = np.concatenate([features_in, features_out])
    rows = np.concatenate([rows_in, rows_out + len(joined)])
    signs = np.concatenate([np.full(len(rows_in), weight), np.full(len(rows_out), -weight)])
    return masks, features, rows, signs


@lru_cache(maxsize=8)
def permutation_plan(n_features: int, max_evals: int) -> PermutationPlan:
    """The plan for ``n_features`` and ``max_evals``, built once and reused.

    The Shapley value is the mean over positions of a feature's expected contribution at that
    position. The first and last ``exact_depth`` positions are computed exactly from every
    coalition of their sizes; the others are the mean of the contributions the sampled orders
    give there (a position a feature never takes gets its mean over the positions it does).

    Reusing one plan loses nothing: every row relabels its features by a uniformly random
    permutation, so each of its orders is uniformly random and the pairs stay antithetic and
    position-balanced. Fewer positions are exact where the sampled orders would otherwise leave
    some feature no sampled position: every feature's sampled contributions then come in
    antithetic pairs, so a game of pairwise interactions is estimated exactly at any budget.
    """
    from scipy.sparse import csr_matrix

    n = n_features
    for depth in range(exact_depth(n, max_evals), -1, -1):
        rng = np.random.default_rng([_PLAN_SEED, n, max_evals])
        orders, chains = plan_permutations(n, max_evals, rng, depth)
        # every feature needs a sampled position: a feature whose few orders put it only in
        # the exact strata would get no estimate there (one less exact stratum then; without
        # strata every order samples every feature)
        if np.isin(np.arange(n), orders[:, depth : n - depth]).all():
            break
    parts = [chains.reshape(-1, n)]
    features, rows, coefficients = [], [], []
    offset = len(parts[0])
    for position in [*range(depth), *range(n - depth, n)]:
        masks, f, r, c = _exact_stratum(n, position)
        parts.append(masks)
        features.append(f)
        rows.append(r + offset)
        coefficients.append(c)
        offset += len(masks)
    # sampled positions: each order gives one contribution there, v(prefix + 1) - v(prefix)
    sampled = np.arange(depth, n - depth)
    who = orders[:, sampled]  # (orders, positions)
    counts = np.zeros((n, n))
    np.add.at(counts, (who, np.broadcast_to(sampled, who.shape)), 1.0)
    covered = (counts[:, sampled] > 0).sum(axis=1)
    share = np.where(covered > 0, len(sampled) / np.maximum(covered, 1), 0.0) / n
    weight = share[who] / counts[who, sampled]
    prefix = np.arange(len(orders))[:, None] * (n + 1) + sampled
    features += [who.reshape(-1)] * 2
    rows += [(prefix + 1).reshape(-1), prefix.reshape(-1)]
    coefficients += [weight.reshape(-1), -weight.reshape(-1)]

    every = np.concatenate(parts)
    _, first, inverse = np.unique(coalition_keys(every), return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    # orders come as (forward, reverse) pairs: order o belongs to pair o // 2
    pair_rows = np.broadcast_to((np.arange(len(orders)) // 2)[:, None] * n, who.shape) + who
    pair_contributions = csr_matrix(
        (
            np.concatenate([weight.reshape(-1), -weight.reshape(-1)]),
            (
                np.concatenate([pair_rows.reshape(-1)] * 2),
                inverse[np.concatenate([(prefix + 1).reshape(-1), prefix.reshape(-1)])],
            ),
        ),
        shape=(len(orders) // 2 * n, len(first)),
    )
    contributions = csr_matrix(
        (np.concatenate(coefficients), (np.concatenate(features), inverse[np.concatenate(rows)])),
        shape=(n, len(first)),
    )  # duplicates are summed
    if contributions.shape[0] * contributions.shape[1] <= DENSE_PLAN_ENTRIES:
        contributions = contributions.toarray()  # a dense product costs less at this size
        contributions.setflags(write=False)
    distinct = every[first]
    distinct.setflags(write=False)
    return PermutationPlan(
        distinct, contributions, int(inverse[0]), int(inverse[n]), pair_contributions
    )


class CrossFitPlan(NamedTuple):
    """The layout of a cross-fitted estimate (see ``_control_variate``), shared by every row.

    strata: the exact strata's coalitions (K_s, M), the empty one first and the full one last.
    strata_contributions: (M, K_s) their part of the estimates.
    folds: the fold (0 or 1) of each antithetic pair of orders; every pair is the identity order
        and its reverse under a relabelling of its own, drawn for each row.
    interior: a pair's prefixes at the interior sizes (K_p, M).
    chain_index: the index among them of each of the pair's prefixes at the sampled positions
        and the one after the last (2, P + 1); -1 at the strata's sizes.
    positions: the sampled positions (P,).
    """

    strata: np.ndarray
    strata_contributions: np.ndarray
    folds: np.ndarray
    interior: np.ndarray
    chain_index: np.ndarray
    positions: np.ndarray

    @property
    def n_coalitions(self) -> int:
        """Coalitions evaluated per row."""
        return len(self.strata) + len(self.folds) * len(self.interior)


@lru_cache(maxsize=8)
def cross_fit_plan(n_features: int, max_evals: int) -> CrossFitPlan | None:
    """The cross-fitted layout for ``n_features`` and ``max_evals``: the deepest exact strata
    that leave at least two pairs of orders to each fold, else one; None where not even two
    pairs fit.

    Every pair of orders has its own relabelling, so pairs are independent draws (the standard
    errors take them as such) and their coalitions are counted pair by pair (one that two pairs
    share is evaluated twice): the budget holds whatever the relabellings.
    """
    n = n_features
    if not CONTROL_MIN_FEATURES <= n <= CONTROL_MAX_FEATURES:
        return None
    found = [
        _cross_fit_layout(n, depth, max_evals) for depth in range(exact_depth(n, max_evals) + 1)
    ]
    found = [layout for layout in found if layout is not None]
    if not found:
        return None
    # two pairs a fold first, then the deepest strata
    strata, chains, interior, n_pairs, depth = max(
        found, key=lambda layout: (layout[3] >= 4, layout[4])
    )
    chain_index = np.full(chains.shape[:2], -1)
    chain_index[:, 1:-1] = np.arange(len(interior)).reshape(2, -1)
    keys = coalition_keys(strata)
    sorter = np.argsort(keys)
    contributions = np.zeros((n, len(strata)))
    for position in [*range(depth), *range(n - depth, n)]:
        masks, features, rows, coefficients = _exact_stratum(n, position)
        where = sorter[np.searchsorted(keys, coalition_keys(masks), sorter=sorter)]
        np.add.at(contributions, (features, where[rows]), coefficients)
    for array in (strata, contributions, interior, chain_index):
        array.setflags(write=False)
    folds = np.arange(n_pairs) % 2
    return CrossFitPlan(
        strata, contributions, folds, interior, chain_index, np.arange(depth, n - depth)
    )


def _cross_fit_layout(
    n: int, depth: int, max_evals: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None:
    """The strata (every coalition of ``depth`` or fewer features, or ``M - depth`` or more),
    one pair's prefixes past them (2, P + 1, M) and the distinct ones (K_p, M), and how many
    pairs fit beside the strata; None where fewer than two do or no prefix is left to sample."""
    sizes = [*range(depth + 1), *range(n - depth, n + 1)]
    strata = np.concatenate([coalitions_of_size(n, size) for size in sizes])
    orders = np.stack([np.arange(n), np.arange(n)[::-1]])
    chains = _chain_masks(orders)[:, depth : n - depth + 1]
    interior = chains[:, 1:-1].reshape(-1, n)  # distinct: one order's prefixes, complements
    if len(interior) == 0:
        return None
    n_pairs = (max_evals - len(strata)) // len(interior)
    return None if n_pairs < 2 else (strata, chains, interior, n_pairs, depth)


def _cross_fit_row(
    plan: CrossFitPlan, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """One row's coalitions (K, M) under its own relabelling of each pair, and each fold's
    prefix indices among them (orders, P + 1) and features at the sampled positions."""
    n = plan.strata.shape[1]
    keys = coalition_keys(plan.strata)
    sorter = np.argsort(keys)
    n_pairs, k = len(plan.folds), len(plan.interior)
    relabel = np.argsort(rng.random((n_pairs, n)), axis=1)  # identity feature j is relabel[j]
    inverse = np.argsort(relabel, axis=1)
    masks = plan.interior[:, inverse].transpose(1, 0, 2).reshape(-1, n)  # (pairs * K_p, M)
    orders = np.stack([relabel, relabel[:, ::-1]], axis=1)  # (pairs, 2, M)
    offsets = len(plan.strata) + k * np.arange(n_pairs)
    chains = np.broadcast_to(plan.chain_index, (n_pairs, *plan.chain_index.shape)).copy()
    chains += np.where(chains >= 0, offsets[:, None, None], 0)
    position = np.argsort(orders, axis=2)  # each feature's position in each order
    for column, size in ((0, plan.positions[0]), (-1, plan.positions[-1] + 1)):
        ends = coalition_keys(position < size)  # (pairs, 2)
        chains[:, :, column] = sorter[np.searchsorted(keys, ends, sorter=sorter)]
    who = orders[:, :, plan.positions]
    folds = [
        (
            chains[plan.folds == f].reshape(-1, chains.shape[2]),
            who[plan.folds == f].reshape(-1, len(plan.positions)),
        )
        for f in (0, 1)
    ]
    return np.concatenate([plan.strata, masks]), folds


class PermutationExplainer(ExplainerBase):
    """Shapley values estimated from permutations (antithetic, position-balanced), with the
    positions at both ends of the orders computed exactly where the budget allows; with
    ``control_variate=True`` (per call), a cross-fitted surrogate of the game as control variate
    where the budget supports its fit.

    Exact when ``max_evals`` covers all 2^M coalitions; always additive; unbiased.
    """

    algorithm = "permutation"

    def default_max_evals(self, n_features: int) -> int:
        return 500

    def check_budget(self, max_evals: int, n_features: int) -> None:
        """One antithetic pair of orders needs 2M coalitions (their prefixes, with the empty
        and full ones); every coalition counts against ``max_evals``."""
        least = min(2 * n_features, 2**n_features)
        if max_evals < max(least, 2):
            raise ValueError(
                f"the Permutation explainer needs max_evals of at least {max(least, 2)} for "
                f"{n_features} features (2 x features: one pair of orders); got {max_evals}"
            )

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        control_variate: bool = False,
        **options: Any,
    ) -> Estimate:
        """``control_variate=True`` cross-fits a surrogate where the budget supports it: fewer
        evaluations for the same error, at the cost of two surrogate fits per row and output."""
        n = game.n_features
        if n <= 30 and 2**n <= max_evals:
            values, base_values, outputs = exact_estimate(game, done)
            return values, base_values, outputs, np.zeros_like(values)  # exact: no error
        cross_fit = cross_fit_plan(n, max_evals) if control_variate else None
        if cross_fit is not None:
            return _cross_fitted(game, cross_fit, seeds, done)
        plan = permutation_plan(n, max_evals)
        parts = []
        for rows in game.row_groups(len(plan.distinct)):
            # A random relabelling of the features gives each row its own permutations: a
            # bijection on coalitions, so distinctness, antithetic pairs and position balance
            # are kept. Feature i of a row plays the part of feature relabel[i] of the plan.
            draws = np.stack([seeds.row(i).random(n) for i in rows])  # each row its own
            relabel = np.argsort(draws, axis=1)  # (rows, M)
            masks = plan.distinct.T[relabel].transpose(0, 2, 1)  # (rows, K, M)
            tables = game.tables(rows, masks, plan.empty)  # (K, rows, O)
            in_plan = plan.contributions @ tables.reshape(len(plan.distinct), -1)
            in_plan = in_plan.reshape(n, *tables.shape[1:]).transpose(1, 0, 2)  # (rows, M, O)
            # the orthogonal projection onto sum = v(full) - v(empty): additive, and never
            # farther from the true values than the estimates were
            gap = in_plan.sum(axis=1) - (tables[plan.full] - tables[plan.empty])
            estimates = in_plan - gap[:, None, :] / n
            errors = _standard_errors(plan, tables)
            picked = np.arange(len(rows))[:, None], relabel
            parts.append((estimates[picked], tables[plan.empty], tables[plan.full], errors[picked]))
            done(len(rows))
        return concatenate_rows(parts)


def _cross_fitted(
    game: CoalitionGame, plan: CrossFitPlan, seeds: RowSeeds, done: Callable[[int], Any]
) -> Estimate:
    """The cross-fitted estimates of every row: each row's pairs relabelled by its own
    generator, its coalitions evaluated with those of the other rows of its group, the rows'
    fits on threads (each row's values depend on that row alone)."""
    n_strata = len(plan.strata)
    threads = fit_threads(game.n_rows, plan.n_coalitions)
    parts = []

    def fit(row: tuple[np.ndarray, np.ndarray, list]) -> tuple[np.ndarray, np.ndarray]:
        row_masks, table, folds = row
        return cross_fitted_estimate(
            row_masks, table, n_strata, plan.strata_contributions, folds, plan.positions
        )

    for rows in game.row_groups(plan.n_coalitions, min_rows=threads):
        layouts = [_cross_fit_row(plan, seeds.row(i)) for i in rows]
        masks = np.stack([row_masks for row_masks, _ in layouts])  # (rows, K, M)
        tables = game.tables(rows, masks, empty_at=0)  # (K, rows, O)
        found = in_threads(
            fit, [(masks[r], tables[:, r], layouts[r][1]) for r in range(len(rows))], threads
        )
        estimates, errors = (np.stack(part) for part in zip(*found, strict=True))
        parts.append((estimates, tables[0], tables[n_strata - 1], errors))
        done(len(rows))
    return concatenate_rows(parts)


def _standard_errors(plan: PermutationPlan, tables: np.ndarray) -> np.ndarray:
    """Standard errors (rows, M, O) of the additive estimates from v of the plan's coalitions
    (K, rows, O).

    The sampled part of the estimates is a sum over antithetic pairs of orders, mapped by the
    projection onto sum = v(full) - v(empty) (P = I - 11'/M). Pairs are not independent draws:
    the M pairs of a block are cyclic shifts of one order, so for each feature they walk nested
    arcs of one cycle and are strongly correlated. The block is the unit of the design:
    - with at least ``MIN_BLOCKS_FOR_SPREAD`` blocks, the variance is the larger of the blocks'
      spread (their sums' deviations from their share of the total, B / (B - 1) times the sum
      of squares) and the pairs' (taken as independent);
    - with fewer, the blocks' spread is too noisy to use, and the variance is bounded instead:
      by Cauchy-Schwarz a block of m pairs of variance s^2 has variance at most m^2 s^2, so the
      total is at most s^2 times the sum of squared block sizes (s^2 from the pairs' spread);
      from so few pairs each value's s^2 is noisy, so it is averaged half and half with the
      mean over features (a value keeps at least half its own bound).
    The exact strata add none. NaN where a single pair was sampled (nothing to estimate a
    spread from).
    """
    k, n_rows, n_outputs = tables.shape
    n = plan.distinct.shape[1]
    n_pairs = plan.pair_contributions.shape[0] // n
    if n_pairs < 2:
        return np.full((n_rows, n, n_outputs), np.nan)
    by_pair = plan.pair_contributions @ tables.reshape(k, -1)  # (pairs * M, rows * O)
    by_pair = by_pair.reshape(n_pairs, n, n_rows, n_outputs)
    deviations = by_pair - by_pair.mean(axis=0)
    projected = deviations - deviations.mean(axis=1, keepdims=True)
    pair_spread = (projected**2).sum(axis=0) / (n_pairs - 1)  # s^2, (M, rows, O)
    block = np.arange(n_pairs) // n  # the pairs of block b are b * M ... b * M + M - 1
    sizes = np.bincount(block)
    if len(sizes) < MIN_BLOCKS_FOR_SPREAD:
        bound = pair_spread * float((sizes**2).sum())
        variance = (bound + bound.mean(axis=0)) / 2  # shrunk toward the features' mean
    else:
        by_block = np.zeros((len(sizes), *projected.shape[1:]))
        np.add.at(by_block, block, projected)
        block_spread = (by_block**2).sum(axis=0) * len(sizes) / (len(sizes) - 1)
        variance = np.maximum(block_spread, pair_spread * n_pairs)
    return np.sqrt(variance).transpose(1, 0, 2)


# Fewer blocks than this give too noisy a spread of block sums; the variance is bounded instead.
MIN_BLOCKS_FOR_SPREAD = 4


Permutation = PermutationExplainer
