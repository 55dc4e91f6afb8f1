"""Permutation sampling of Shapley values with antithetic, position-balanced permutations.

Each permutation walks from the empty to the full coalition; the value gained when a feature joins is
one sample of its marginal contribution, and the samples of one permutation add up exactly to
v(full) - v(empty), so every estimate is additive. Three things cut the variance at a given budget:
- every permutation comes with its reverse (antithetic pairs);
- pairs come in blocks built from cyclic shifts of one random order, so across a block each feature
  appears at every position equally often (stratified by position);
- a coalition is evaluated once however many permutations pass through it, and the budget counts
  distinct coalitions, so the small and large coalitions that many permutations share cost once and
  more permutations fit in ``max_evals``.
The plan (orders and their distinct coalitions) is made once per explanation; each row uses it under
its own random relabelling of the features, which keeps all three properties.
"""

from __future__ import annotations

import numpy as np

from shapwise.explainers._base import ExplainerBase
from shapwise.explainers._game import CoalitionGame
from shapwise.explainers.exact import all_coalitions, shapley_from_table


def coalition_keys(masks: np.ndarray) -> np.ndarray:
    """One hashable key per boolean mask (last axis): uint64 up to 64 features, bytes beyond."""
    packed = np.packbits(masks, axis=-1)
    width = packed.shape[-1]
    if width <= 8:
        padded = np.zeros((*packed.shape[:-1], 8), dtype=np.uint8)
        padded[..., :width] = packed
        return padded.view(np.uint64)[..., 0]
    return np.ascontiguousarray(packed).view(np.dtype((np.void, width)))[..., 0]


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


def plan_permutations(
    n_features: int, max_evals: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Antithetic, position-balanced permutations whose coalitions fit in ``max_evals`` evaluations.

    Returns the orders (n_orders, M) and the masks of their prefixes (n_orders, M + 1, M).

    The empty and full coalitions count as two evaluations; at least one antithetic pair is planned.
    """
    budget = max_evals - 2
    pairs_wanted = max(1, budget // max(2 * (n_features - 1), 1))
    n_blocks = max(1, -(-4 * pairs_wanted // n_features))
    while True:
        orders = _balanced_orders(n_features, n_blocks, rng)
        n_pairs = len(orders) // 2
        chains = _chain_masks(orders)
        interior = coalition_keys(chains[:, 1:-1])
        pair_of_key = np.repeat(np.arange(n_pairs), 2 * (n_features - 1))
        _, first_seen = np.unique(interior.reshape(-1), return_index=True)
        distinct_so_far = np.cumsum(np.bincount(pair_of_key[first_seen], minlength=n_pairs))
        fitting = int(np.searchsorted(distinct_so_far, budget, side="right"))
        if fitting < n_pairs or len(orders) >= 100 * max_evals:
            kept = 2 * max(fitting, 1)
            return orders[:kept], chains[:kept]
        n_blocks *= 2


def _shared_plan(
    shared: dict, n_features: int, max_evals: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders, their distinct coalitions, and each prefix's index among them, planned once per
    explanation (``shared`` lives as long as one call) and relabelled by each row."""
    key = ("permutation plan", n_features, max_evals)
    if key not in shared:
        orders, chains = plan_permutations(n_features, max_evals, rng)
        masks = chains.reshape(-1, n_features)
        _, first, inverse = np.unique(coalition_keys(masks), return_index=True, return_inverse=True)
        shared[key] = (orders, masks[first], inverse.reshape(-1))
    return shared[key]


class PermutationExplainer(ExplainerBase):
    """Shapley values estimated from antithetic, position-balanced permutations.

    Exact when ``max_evals`` covers all 2^M coalitions; always additive.
    """

    algorithm = "permutation"

    def default_max_evals(self, n_features: int) -> int:
        return 500

    def explain_row(
        self, game: CoalitionGame, max_evals: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = game.n_features
        if n <= 30 and 2**n <= max_evals:
            table = game.values(all_coalitions(n))
            return shapley_from_table(table, n), table[0], table[-1]
        orders, distinct, inverse = _shared_plan(game.shared, n, max_evals, rng)
        # A random relabelling of the features gives this row its own permutations: a bijection
        # on coalitions, so distinctness, antithetic pairs and position balance are kept.
        relabel = rng.permutation(n)
        orders = relabel[orders]
        table = game.values(distinct[:, np.argsort(relabel)])
        chain = table[inverse].reshape(len(orders), n + 1, -1)
        gains = np.diff(chain, axis=1)
        values = np.zeros((n, table.shape[1]), dtype=np.float64)
        np.add.at(values, orders.reshape(-1), gains.reshape(-1, table.shape[1]))
        values /= len(orders)
        return values, chain[0, 0], chain[0, -1]


Permutation = PermutationExplainer
